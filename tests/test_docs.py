"""The documentation: the README stays short, the site in docs/ builds strictly, nothing of the old
single-page README was lost, and every documented command still composes.

A command is any `python -m maeum.<job> ...`, `maeum-<job> ...` or `make train [ARGS="..."]` line in a
fenced shell block of README.md or docs/*.md (and any such inline code span with arguments in
README.md). Hydra jobs compose their root config in-process with the command's overrides, read through
maeum's own command-line quoting (`maeum.cli.hydra_overrides`), and resolve; a `-m` sweep composes every
value of each swept config group, the other swept values cycled along. `maeum-leaderboard` and
`maeum-tokenizer` parse their arguments with their own parsers. A fence whose previous line is
`<!-- compose: skip (REASON) -->` is skipped with that reason. Nothing runs: composing reads configs only,
so placeholders such as `CKPT` or `path/to/...` are just strings.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

import maeum.runtime  # noqa: F401  (registers the ${maeum.*} resolvers)
from maeum.cli import hydra_overrides
from maeum.paths import config_dir

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
OLD_HEADINGS = Path(__file__).with_name("docs_old_headings.txt")
README_MAX_LINES = 300

# Keys whose values each entry point takes as one literal string (`@hydra_main(..., free_text=...)`).
FREE_TEXT = {
    "predict": ("text",),
    "chat": ("condition", "fallback"),
    "demo": ("condition", "fallback", "title"),
}
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console", "zsh"}
# Hydra flags that change nothing in the composed config (stripped), with the number of values they take.
IGNORED_FLAGS = {"--cfg": 1, "-c": 1, "--package": 1, "-p": 1, "--resolve": 0, "--info": 0}
HELP_FLAGS = {"--help", "-h", "--hydra-help", "--version"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
SKIP = re.compile(r"^\s*<!--\s*compose:\s*skip\s*\((.+)\)\s*-->\s*$")
COMMAND = re.compile(r"^(?:python3?\s+-m\s+maeum\.(?P<module>\w+)|maeum-(?P<script>[a-z][a-z-]*))(?:\s|$)")
MAKE_TRAIN = re.compile(r"^make\s+train(?:\s|$)")


@dataclass(frozen=True)
class Command:
    where: str  # file:line
    text: str  # as written (continuations joined)
    job: str  # module name: train, eval, ..., data_stats, leaderboard
    args: tuple[str, ...]
    skip: str | None = None


def scripts() -> dict[str, str]:
    """`maeum-<job>` → module name, from pyproject's [project.scripts]."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^(maeum-[\w-]+)\s*=\s*"maeum\.(\w+):main"', section, re.MULTILINE))


SCRIPTS = scripts()
JOBS = set(SCRIPTS.values())


def fences(path: Path) -> Iterator[tuple[int, str, list[tuple[int, str]], str | None]]:
    """(line of the opening fence, language, [(line, text)] inside, skip reason) of every fenced block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, marker, language = opening.groups()
        previous = next((line for line in reversed(lines[:i]) if line.strip()), "")
        skip = SKIP.match(previous)
        start, body, i = i + 1, [], i + 1
        while i < len(lines):
            closing = re.match(rf"^\s*{marker[0]}{{{len(marker)},}}\s*$", lines[i])
            if closing:
                break
            body.append(
                (i + 1, lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i].lstrip())
            )
            i += 1
        yield start, language.lower(), body, skip.group(1) if skip else None
        i += 1


def headings(path: Path) -> list[str]:
    """The ATX headings of a Markdown file, outside fenced code."""
    fenced = {n for _, _, body, _ in fences(path) for n, _ in body}
    found = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
        if match and n not in fenced and not FENCE.match(line):
            found.append(re.sub(r"\s*\{[^}]*\}$", "", match.group(1)))  # drop an attr list {#id}
    return found


def strip_comment(line: str) -> str:
    """`line` without a shell comment: a `#` outside quotes at the start of a word."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def shell_words(line: str) -> list[str]:
    """A documented command line as the shell would pass it, with the documentation's shorthand undone:
    `$(...)` and `$VAR` become placeholders, `[optional parts]` are included, `<several words>` dropped."""
    line = re.sub(r"\$\([^()]*\)", "SUBSTITUTED", line)
    line = re.sub(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", r"\1", line)
    line = re.sub(r"(?<!\S)<[^<>]*\s[^<>]*>(?!\S)", "", line)
    line = re.sub(r"(?<!\S)\[([^\[\]]*)\](?!\S)", r"\1", line)
    return shlex.split(line)


def parse_command(line: str, where: str, skip: str | None) -> Command | None:
    """The command on one (joined) line, or None if the line runs something else."""
    text = strip_comment(line).strip()
    text = re.sub(r"^\$\s+", "", text)
    text = re.sub(r"^(?:[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|\"[^\"]*\"|\S*)\s+)+", "", text)  # FOO=bar cmd
    if MAKE_TRAIN.match(text):
        make_vars = dict(w.split("=", 1) for w in shell_words(text)[2:] if "=" in w)
        return Command(where, line.strip(), "train", tuple(shlex.split(make_vars.get("ARGS", ""))), skip)
    match = COMMAND.match(text)
    if not match:
        return None
    words = shell_words(text)
    if match["module"]:
        job, args = match["module"], words[3:]
    else:
        job, args = (
            SCRIPTS.get(f"maeum-{match['script']}", f"unknown script maeum-{match['script']}"),
            words[1:],
        )
    return Command(where, line.strip(), job, tuple(args), skip)


def block_commands(path: Path) -> Iterator[Command]:
    name = path.relative_to(REPO).as_posix()
    for _, language, body, skip in fences(path):
        if language not in SHELL_LANGUAGES:
            continue
        joined: list[tuple[int, str]] = []  # (first line, the command with its continuations)
        for n, text in body:
            if joined and joined[-1][1].endswith("\\"):
                joined[-1] = (joined[-1][0], joined[-1][1][:-1] + " " + text.strip())
            else:
                joined.append((n, text.rstrip()))
        for n, text in joined:
            if text.lstrip().startswith("#"):
                continue
            if command := parse_command(text, f"{name}:{n}", skip):
                yield command


def inline_commands(path: Path) -> Iterator[Command]:
    """Inline code spans that are whole commands (a job and at least one argument), outside fences."""
    name = path.relative_to(REPO).as_posix()
    fenced = {n for _, _, body, _ in fences(path) for n, _ in body}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if n in fenced or FENCE.match(line):
            continue
        for span in re.findall(r"`([^`]+)`", line):
            has_arguments = len(span.split()) > (3 if span.startswith("python") else 1)
            if (
                COMMAND.match(span)
                and has_arguments
                and (command := parse_command(span, f"{name}:{n}", None))
            ):
                yield command


def documented_commands() -> list[Command]:
    found = [*block_commands(README), *inline_commands(README)]
    for page in PAGES:
        found += block_commands(page)
    return found


COMMANDS = documented_commands()


def expand(overrides: list[str]) -> list[list[str]]:
    """The runs of a multirun to compose: every value of each swept config group once, the values of the
    other sweeps cycled along (composition depends on keys and group choices, not on plain values)."""
    parser = OverridesParser.create()
    sweeps: list[list[str]] = []
    for override in parser.parse_overrides(overrides):
        if override.is_sweep_override():
            key = override.get_key_element()
            sweeps.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            sweeps.append([override.input_line])
    groups = [s for s, o in zip(sweeps, overrides, strict=True) if len(s) > 1 and is_group(o)]
    runs = max((len(s) for s in groups), default=1)
    return [[sweep[i % len(sweep)] for sweep in sweeps] for i in range(runs)]


def is_group(override: str) -> bool:
    key = override.split("=", 1)[0].lstrip("+~")
    return "." not in key and (key.startswith("hydra/") or (config_dir() / key).is_dir())


def sweeper_params(cfg) -> list[str]:
    """`hydra.sweeper.params` of Hydra's basic sweeper (a grid written into an experiment) as overrides."""
    sweeper = cfg.hydra.get("sweeper") or {}
    if "BasicSweeper" not in str(sweeper.get("_target_", "")) or not sweeper.get("params"):
        return []
    return [f"{key}={value}" for key, value in sweeper.params.items()]


# What Hydra fills in when a job starts: given placeholder values, so that the rest resolves.
RUNTIME = {
    "hydra.job.num": 0,
    "hydra.job.id": "0",
    "hydra.runtime.output_dir": "out",
    "hydra.hydra_help.hydra_help": "",
}


def compose_run(config_name: str, overrides: list[str]) -> DictConfig:
    """Compose and resolve one run, the Hydra part included (launchers read the trainer config)."""
    cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    for key, value in RUNTIME.items():
        parent, leaf = key.rsplit(".", 1)
        if OmegaConf.is_missing(OmegaConf.select(cfg, parent), leaf):
            OmegaConf.update(cfg, key, value)
    hydra_config = HydraConfig.instance()
    saved = hydra_config.cfg
    hydra_config.set_config(cfg)  # for ${hydra:...}; put back at once, other tests run jobs in-process
    try:
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    finally:
        hydra_config.cfg = saved
    if config_name == "train":  # what the run would refuse at its start (no hub backbone is read here)
        from maeum.backbones import TINY_SPECS
        from maeum.runs.kinds import kind_of
        from maeum.training.checks import check_backbone

        if str(cfg.model.get("backbone")) in TINY_SPECS:
            check_backbone(kind_of(cfg), cfg.model)
    return cfg


@functools.cache  # the README and the pages share commands: each is composed once
def compose_command(job: str, command_args: tuple[str, ...]) -> int:
    """Compose every run of a Hydra job's command; the number of runs composed."""
    args, multirun, config_name = [], False, job
    words = iter(command_args)
    for word in words:
        if word in ("-m", "--multirun"):
            multirun = True
        elif word in ("-cn", "--config-name"):
            config_name = next(words)
        elif word in IGNORED_FLAGS:
            for _ in range(IGNORED_FLAGS[word]):
                next(words)
        elif word in HELP_FLAGS:
            continue
        elif word.startswith("-"):
            raise AssertionError(f"the test does not know the flag {word!r}")
        else:
            args.append(word)
    overrides = hydra_overrides(args, FREE_TEXT.get(job, ()))
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        if not multirun:
            compose_run(config_name, overrides)
            return 1
        composed = 0
        for run in expand(overrides):
            grid = sweeper_params(compose_run(config_name, run))
            for extra in expand(grid) if grid else []:
                compose_run(config_name, [*extra, *run])  # the command line wins over the grid
            composed += 1 + len(expand(grid) if grid else [])
        return composed


class ParseOnlyError(Exception):
    """Raised by the patched `parse_args` once the real parser accepted the arguments."""


def parse_leaderboard(command: Command, monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """`maeum-leaderboard`'s own parser on the command's arguments, without running it."""
    import maeum.leaderboard

    real = argparse.ArgumentParser.parse_args

    def parse_only(parser, args=None, namespace=None):
        raise ParseOnlyError(real(parser, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_only)
    monkeypatch.setattr(sys, "argv", ["maeum-leaderboard", *command.args])
    try:
        maeum.leaderboard.main()
    except ParseOnlyError as parsed:
        return parsed.args[0]
    except SystemExit as err:  # argparse's own error, printed on stderr
        pytest.fail(
            f"{command.where}: {command.text}\n  maeum-leaderboard refuses its arguments (exit {err})"
        )
    pytest.fail(f"{command.where}: maeum-leaderboard's main never parsed its arguments")


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """No broken link, anchor or nav entry: `strict` turns mkdocs' warnings into a failed build."""
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)]
    result = subprocess.run(build, cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for page in PAGES:
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"{page.name} was not built"


def test_the_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_every_heading_of_the_old_readme_is_in_the_docs() -> None:
    old = [h for h in OLD_HEADINGS.read_text(encoding="utf-8").splitlines() if h and not h.startswith("#")]
    assert len(old) >= 20
    here = {h for page in PAGES for h in headings(page)}
    assert [h for h in old if h not in here] == []


def test_the_readme_links_to_files_that_exist() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert links, "README.md links to no page"
    assert [link for link in links if "://" not in link and not (REPO / link).exists()] == []


def test_the_documented_commands_were_found() -> None:
    """Guards the extraction: every job is documented with at least one command, and each page's
    commands are found."""
    assert {c.job for c in COMMANDS} == JOBS
    assert all(c.job in JOBS for c in COMMANDS), [c.where for c in COMMANDS if c.job not in JOBS]
    where = {c.where.split(":")[0] for c in COMMANDS}
    assert {"README.md", "docs/train.md", "docs/configuration.md", "docs/scale-out.md"} <= where
    assert len(COMMANDS) >= 50


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(c, id=c.where, marks=[pytest.mark.skip(reason=c.skip)] if c.skip else [])
        for c in COMMANDS
    ],
)
def test_documented_command_composes(command: Command, monkeypatch: pytest.MonkeyPatch) -> None:
    assert command.job in JOBS, f"{command.where}: {command.text!r} names no maeum job ({command.job})"
    if command.job == "leaderboard":
        args = parse_leaderboard(command, monkeypatch)
        assert args.paths, command.text
        return
    if command.job == "tokenizer":  # argparse with subcommands, not Hydra: its own parser reads it
        from maeum.tokenizer import build_parser

        try:
            args = build_parser().parse_args(command.args)
        except SystemExit as err:
            pytest.fail(
                f"{command.where}: {command.text}\n  maeum-tokenizer refuses its arguments (exit {err})"
            )
        assert args.command in ("train", "extend"), command.text
        return
    try:
        composed = compose_command(command.job, command.args)
    except (Exception, SystemExit) as err:
        pytest.fail(f"{command.where}: {command.text}\n  does not compose: {type(err).__name__}: {err}")
    assert composed >= 1
