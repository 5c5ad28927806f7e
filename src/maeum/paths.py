"""Where maeum finds its configs and bundled resources, and where it caches what it builds."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"


def config_dir() -> Path:
    """The Hydra config directory: `maeum/conf` inside a wheel, `./conf` in a source checkout."""
    packaged = PACKAGE_DIR / "conf"
    return packaged if packaged.is_dir() else PACKAGE_DIR.parents[1] / "conf"


def resource(name: str) -> Path:
    """Absolute path of a file that ships inside the package (`maeum/resources/<name>`)."""
    path = RESOURCES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"maeum resource not found: {path}")
    return path


def cache_dir() -> Path:
    """Root of maeum's cache: `$MAEUM_CACHE_DIR`, else `$XDG_CACHE_HOME/maeum`, else `~/.cache/maeum`."""
    if env := os.environ.get("MAEUM_CACHE_DIR"):
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser().resolve() / "maeum"
