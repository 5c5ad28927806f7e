"""maeum's entry points and scripts run as a user runs them, each in a process of its own, started in a
fraction of the time a fresh interpreter takes.

`run("maeum.train", *args, cwd=...)` is `python -m maeum.train args` and `run("scripts/x.py", ...)` is
`python scripts/x.py args`: the same `argv`, `sys.path[0]`, working directory, environment, standard input
and output, exit status and shutdown (non-daemon threads joined, `atexit` handlers run), returned as a
`subprocess.CompletedProcess`. The process is forked from a server (multiprocessing's forkserver) that has
already imported what the entry points import: torch, Lightning, transformers, Hydra and maeum's library
modules, never the entry point modules themselves. A fresh interpreter spends 6 to 9 s of CPU on those
imports, and the default suite starts some sixty entry points.

What a preloaded process cannot show, a real subprocess tests: which modules an entry point imports
(tests/test_layout.py), what libraries print while being imported, and an environment read at import
time. `run` falls back to a real subprocess by itself when the environment differs from the server's in
anything but the variables read at run time (`RUN_TIME_ENV`), and everywhere when `MAEUM_TEST_SUBPROCESS=1`
is set (to check that the suite passes the same without the server).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# read by maeum and the libraries it drives when they run, never while being imported (`PL_GLOBAL_SEED`,
# `TOKENIZERS_PARALLELISM` and `PYTEST_CURRENT_TEST` change in this process as tests run)
RUN_TIME_ENV = (
    "MAEUM_",
    "WANDB_",
    "HYDRA_",
    "SLURM_",
    "SUBMITIT_",
    "PL_",
    "PYTEST_",
    "TOKENIZERS_PARALLELISM",
)
PRELOADED = "helpers.preloaded"
TESTS = Path(__file__).resolve().parents[1]

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload([PRELOADED])
_server_env: dict[str, str] | None = None
_server_lock = threading.Lock()
# the entry points that ran as fresh interpreters, and the variables that made them (the session's summary)
fresh: list[tuple[str, tuple[str, ...]]] = []


@dataclass(frozen=True)
class _Command:
    target: str  # a module (`maeum.train`) or a script's path (`scripts/bench_chat.py`)
    args: tuple[str, ...]
    cwd: str
    env: dict[str, str]
    files: Path  # its `stdin`, `stdout` and `stderr` files

    @property
    def is_script(self) -> bool:
        return self.target.endswith(".py")

    def argv(self) -> list[str]:
        if self.is_script:
            return [sys.executable, self.target, *self.args]
        return [sys.executable, "-m", self.target, *self.args]


class Started:
    """An entry point started by `start`: `wait()` gives its `subprocess.CompletedProcess`."""

    def __init__(self, command: _Command, files: tempfile.TemporaryDirectory, input_text: str | None) -> None:
        self.command = command
        self._files = files
        stdin, self._stdout, self._stderr = (command.files / name for name in ("stdin", "stdout", "stderr"))
        stdin.write_text(input_text or "", encoding="utf-8")
        self._stdout.touch()
        self._stderr.touch()
        changed = _import_time_changes(command.env)
        self._forked = not changed
        if changed:
            fresh.append((command.target, changed))
        if self._forked:
            self._process = _context.Process(target=_main, args=(command,), name=command.target)
            self._process.start()
        else:
            with stdin.open("rb") as fin, self._stdout.open("wb") as fout, self._stderr.open("wb") as ferr:
                self._popen = subprocess.Popen(
                    command.argv(), cwd=command.cwd, env=command.env, stdin=fin, stdout=fout, stderr=ferr
                )

    def wait(self, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Wait for it to end (killed after `timeout` seconds: `subprocess.TimeoutExpired`)."""
        try:
            if self._forked:
                self._process.join(timeout)
                if self._process.exitcode is None:
                    self._process.kill()
                    self._process.join()
                    raise subprocess.TimeoutExpired(self.command.argv(), timeout)
                returncode = self._process.exitcode
            else:
                try:
                    returncode = self._popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._popen.kill()
                    self._popen.wait()
                    raise
            stdout = self._stdout.read_text(encoding="utf-8", errors="replace")
            stderr = self._stderr.read_text(encoding="utf-8", errors="replace")
        finally:
            self._files.cleanup()
        return subprocess.CompletedProcess(self.command.argv(), returncode, stdout, stderr)


def start(
    target: str | Path,
    *args: str,
    cwd: str | Path,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> Started:
    """Start `python -m <target> args` (a module) or `python <target> args` (a `.py` script) in `cwd`,
    with `env` (default: this process's environment) and `input` on its standard input."""
    env = dict(os.environ if env is None else env)
    files = tempfile.TemporaryDirectory(prefix="maeum-entry-")
    return Started(_Command(str(target), tuple(args), str(cwd), env, Path(files.name)), files, input)


def run(
    target: str | Path,
    *args: str,
    cwd: str | Path,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """`start(...).wait(timeout)`: the finished process, its output as text."""
    return start(target, *args, cwd=cwd, env=env, input=input).wait(timeout)


def run_together(
    commands: Sequence[Sequence[str]], cwd: str | Path, timeout: float = 600
) -> list[subprocess.CompletedProcess[str]]:
    """Independent entry points (`[target, *args]` each) started at once and waited for in order."""
    started = [start(target, *args, cwd=cwd) for target, *args in commands]
    return [process.wait(timeout) for process in started]


def start_server() -> None:
    """Start the server now (it imports in the background until the first entry point needs it), with this
    process's environment, which `start` compares each entry point's environment with."""
    global _server_env
    with _server_lock:
        if _server_env is None and os.environ.get("MAEUM_TEST_SUBPROCESS") != "1":
            _server_env = dict(os.environ)
            _start_server()


def _import_time_changes(env: Mapping[str, str]) -> tuple[str, ...]:
    """The variables in which `env` differs from the server's environment that a process forked from the
    server would not see as a fresh interpreter does (empty: it may be forked)."""
    if os.environ.get("MAEUM_TEST_SUBPROCESS") == "1":
        return ("MAEUM_TEST_SUBPROCESS",)
    start_server()
    assert _server_env is not None
    changed = {k for k in env.keys() | _server_env.keys() if env.get(k) != _server_env.get(k)}
    changed -= {k for k in changed if k.startswith(RUN_TIME_ENV)}
    if "PYTHONPATH" in changed and not any(
        (Path(entry) / package).exists()
        for entry in env.get("PYTHONPATH", "").split(os.pathsep)
        if entry
        for package in ("maeum", "hydra_plugins")
    ):
        changed.discard("PYTHONPATH")  # a path for helpers (tests/), not another maeum ahead of this one
    return tuple(sorted(changed))


def _start_server() -> None:
    """Start the forkserver with `tests/` on its path, for `helpers.preloaded` (Python 3.11's forkserver
    is handed the parent's `sys.path` but does not apply it before it imports the preloaded modules)."""
    from multiprocessing import forkserver

    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), path]))
    try:
        forkserver.ensure_running()
    finally:
        if path is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = path


def _main(command: _Command) -> None:
    """In the forked process: become `python [-m] <target> args` and end as that interpreter would."""
    os.chdir(command.cwd)
    os.environ.clear()
    os.environ.update(command.env)
    for fd, name, flags in ((0, "stdin", os.O_RDONLY), (1, "stdout", os.O_WRONLY),
                            (2, "stderr", os.O_WRONLY)):  # fmt: skip
        opened = os.open(command.files / name, flags)
        os.dup2(opened, fd)
        os.close(opened)
    unbuffered = 1 if command.env.get("PYTHONUNBUFFERED") else -1  # as `python -u` (else block-buffered)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=unbuffered)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)  # noqa: SIM115
    extra = [entry for entry in command.env.get("PYTHONPATH", "").split(os.pathsep) if entry]
    first = str(Path(command.target).resolve().parent) if command.is_script else command.cwd
    sys.path[:] = [first, *extra, *(entry for entry in sys.path if entry not in ("", first, *extra))]
    sys.argv = [command.target if command.is_script else "-m", *command.args]
    code = 0
    try:
        if command.is_script:
            runpy.run_path(command.target, run_name="__main__")
        else:
            runpy.run_module(command.target, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = _exit_status(exit_.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    threading._shutdown()  # the interpreter's own shutdown: wait for non-daemon threads, then atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def _exit_status(code: object) -> int:
    """`SystemExit.code` as the interpreter turns it into an exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
