"""Figures with Hangul: NanumGothic (SIL Open Font License), which the `koreanize-matplotlib` package ships
inside its wheel, so it works offline. Only the font file is used, inside a local rc context: maeum never
changes matplotlib's global settings."""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cache
from importlib.util import find_spec
from pathlib import Path

import matplotlib
from matplotlib import font_manager

from maeum.errors import MaeumError


@cache
def hangul_font() -> str:
    """Register NanumGothic with matplotlib and return its family name.

    The font file is found without importing `koreanize_matplotlib`, whose import changes matplotlib's
    global settings.
    """
    spec = find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise MaeumError("the koreanize-matplotlib package (it ships the Hangul font) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "fonts" / "NanumGothic.ttf"
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def korean() -> AbstractContextManager[None]:
    """matplotlib settings for a figure with Hangul, in a local context."""
    return matplotlib.rc_context({"font.family": [hangul_font(), "DejaVu Sans"], "axes.unicode_minus": False})
