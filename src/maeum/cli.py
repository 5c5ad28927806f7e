"""Command lines for every Hydra entry point: Hydra's own main, with override values that a user's shell
has already unquoted made readable for Hydra's grammar.

Hydra's override lexer stops at Hangul, parentheses, `&` and other characters outside its grammar, so
`data.path=/data/감성대화말뭉치(최종데이터)_Training.xlsx` fails unless it is quoted twice (once for the
shell, once for Hydra). `hydra_overrides` quotes exactly the values that do not parse as they are:

- an override that Hydra parses is left alone, so ASCII values keep the whole grammar: `${...}`
  interpolation, `[a,b]` lists, `a,b` sweeps, `range()`/`choice()`, and the `+`, `~` and `++` prefixes;
- a value that does not parse is split at its commas (Hydra's sweep separator), and each element that does
  not parse alone is single-quoted, so a sweep over Korean paths stays a sweep. Interpolations inside it
  still resolve (`'${paths.data_dir}/감성.xlsx'`);
- free-text keys (`text=`, `condition=`, ...) are always one literal string: commas and `${` included;
- an override that still does not parse ends the command with one line that names it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

import hydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig

from maeum.paths import config_dir

# Hydra's command-line flags that take the next argument as their value (not an override).
FLAGS_WITH_VALUE = frozenset(
    {"-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir", "-c", "--cfg", "-p", "--package"}
    | {"--experimental-rerun"}
)
Task = Callable[[DictConfig], Any]
_parser: OverridesParser | None = None


def _parses(override: str) -> bool:
    global _parser
    _parser = _parser or OverridesParser.create()
    try:
        _parser.parse_override(override)
    except HydraException:
        return False
    return True


def quote(value: str, *, literal: bool = False) -> str:
    """`value` as one Hydra single-quoted string; `literal` also keeps `${...}` from being interpolated.

    In Hydra's quoted strings only backslashes before a quote (or before the closing quote) are escapes.
    """
    value = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    value = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, value)
    return "'" + (value.replace("${", "\\${") if literal else value) + "'"


def hydra_override(arg: str, free_text: Sequence[str] = ()) -> str:
    """One `key=value` override as Hydra can parse it (see the module docstring)."""
    key, sep, value = arg.partition("=")
    if not sep or value[:1] in ("'", '"'):
        return arg
    if key.lstrip("+~") in free_text:
        return f"{key}={quote(value, literal=True)}"
    if _parses(arg):
        return arg
    if value.startswith("[") and value.endswith("]"):  # a list: quote its elements
        return f"{key}=[{_elements(key, value[1:-1])}]"
    return f"{key}={_elements(key, value)}"


def _elements(key: str, value: str) -> str:
    """The comma-separated `value` with each element that Hydra cannot parse alone quoted."""
    return ",".join(e if _parses(f"{key}={e}") else quote(e) for e in value.split(","))


def hydra_overrides(args: Sequence[str], free_text: Sequence[str] = ()) -> list[str]:
    """The command line `args` with every override passed through `hydra_override`.

    Flags (`-m`, `--cfg job`, `-cn NAME`, ...) and their values pass unchanged. Raises `SystemExit` with one
    line naming an override that Hydra still cannot parse.
    """
    out, takes_value = [], False
    for arg in args:
        if takes_value or arg.startswith("-") or "=" not in arg:
            out.append(arg)
            takes_value = arg in FLAGS_WITH_VALUE
            continue
        fixed = hydra_override(arg, free_text)
        if not _parses(fixed):
            key = arg.partition("=")[0]
            raise SystemExit(
                f"{sys.argv[0].rsplit('/', 1)[-1]}: cannot read the override {arg!r}: Hydra's grammar does "
                f"not accept the key or value. Check the key {key!r} (ASCII config keys only) and quote the "
                f"value for Hydra: {key}='...'"
            )
        out.append(fixed)
    return out


def hydra_main(
    config_name: str, free_text: Sequence[str] = ()
) -> Callable[[Callable[[DictConfig], Any]], Any]:
    """`@hydra.main` for `conf/<config_name>.yaml`, reading `sys.argv` through `hydra_overrides` first.

    The decorated function is the console script: called with no argument, it reads the command line.
    """

    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        hydra_task = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=config_name)(
            task
        )

        @wraps(task)
        def main() -> Any:
            sys.argv = [sys.argv[0], *hydra_overrides(sys.argv[1:], free_text)]
            return hydra_task()

        return main

    return decorate
