"""Command lines for every Hydra entry point: Hydra's own main, with override values that a user's shell
has already unquoted made readable for Hydra's grammar.

Hydra's override lexer stops at Hangul, parentheses, `&` and other characters outside its grammar, so
`data.path=/data/감성대화말뭉치(최종데이터)_Training.xlsx` fails unless it is quoted twice (once for the
shell, once for Hydra). `hydra_overrides` quotes exactly the values that do not parse as they are:

- an override that Hydra parses is left alone, so ASCII values keep the whole grammar: `${...}`
  interpolation, `[a,b]` lists, `a,b` sweeps, `range()`/`choice()`, and the `+`, `~` and `++` prefixes;
- a value that does not parse is single-quoted as a whole, so that interpolations inside it still resolve
  (`'${paths.data_dir}/감성.xlsx'`); under `-m` it is first split at its top-level commas (Hydra's sweep
  separator) and each element quoted alone, so a sweep over Korean paths stays a sweep;
- inside a `[...]` list or a sweep function (`choice(...)`, `range(...)`, ...), the elements are quoted
  one by one, so the list stays a list and the sweep a sweep;
- free-text keys (`text=`, `condition=`, ...) are one literal string, commas, quotes and `${` included,
  unless the value is already one complete Hydra-quoted string, or `null`;
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
MULTIRUN_FLAGS = frozenset({"-m", "--multirun"})
SWEEP_FUNCTIONS = frozenset({"choice", "range", "interval", "glob", "sort", "shuffle", "tag"})
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

    In Hydra's quoted strings backslashes are escapes only before a quote, before the closing quote and
    (as OmegaConf's) before `${`.
    """
    value = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    value = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, value)
    if literal:
        value = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", value)
    return "'" + value + "'"


def hydra_override(arg: str, free_text: Sequence[str] = (), multirun: bool = False) -> str:
    """One `key=value` override as Hydra can parse it (see the module docstring); `multirun` under `-m`."""
    key, sep, value = arg.partition("=")
    if not sep:
        return arg
    if key.lstrip("+~") in free_text:
        already_quoted = len(value) > 1 and value[0] == value[-1] and value[0] in "'\"" and _parses(arg)
        return arg if already_quoted or value == "null" else f"{key}={quote(value, literal=True)}"
    if _parses(arg) or value[:1] in ("'", '"'):  # parses, or the user's own quoting (reported if wrong)
        return arg
    if multirun:
        return f"{key}={','.join(_element(key, e) for e in _split_top_level(value))}"
    return f"{key}={_element(key, value)}"


def _element(key: str, value: str) -> str:
    """One value or sweep element: lists and sweep functions keep their shape, their elements quoted."""
    if _parses(f"{key}={value}"):
        return value
    if value.startswith("[") and value.endswith("]"):
        return "[" + ",".join(_element(key, e) for e in _split_top_level(value[1:-1])) + "]"
    name, paren, rest = value.partition("(")
    if paren and name in SWEEP_FUNCTIONS and rest.endswith(")"):
        return f"{name}(" + ",".join(_element(key, e) for e in _split_top_level(rest[:-1])) + ")"
    return quote(value)


def _split_top_level(value: str) -> list[str]:
    """`value` split at the commas outside brackets and quotes."""
    parts = []
    depth = 0
    quote_char = ""
    start = 0
    for i, char in enumerate(value):
        if quote_char:
            quote_char = "" if char == quote_char else quote_char
        elif char in "'\"":
            quote_char = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    return [*parts, value[start:]]


def hydra_overrides(args: Sequence[str], free_text: Sequence[str] = ()) -> list[str]:
    """The command line `args` with every override passed through `hydra_override`.

    Flags (`-m`, `--cfg job`, `-cn NAME`, ...) and their values pass unchanged. Raises `SystemExit` with one
    line naming an override that Hydra still cannot parse.
    """
    out = []
    takes_value = False
    multirun = any(arg in MULTIRUN_FLAGS for arg in args)
    for arg in args:
        if takes_value or arg.startswith("-") or "=" not in arg:
            out.append(arg)
            takes_value = arg in FLAGS_WITH_VALUE
            continue
        fixed = hydra_override(arg, free_text, multirun)
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
