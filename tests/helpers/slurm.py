"""A real single-node SLURM cluster for the tests (`scripts/local_slurm.py`), and what the tests do to its
jobs: find them, signal them, and release requeued ones at once instead of after SLURM's two minutes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from helpers.configs import DDP_SIM, REPO, RESUMABLE_CHATBOT

_spec = importlib.util.spec_from_file_location("local_slurm", REPO / "scripts" / "local_slurm.py")
assert _spec is not None and _spec.loader is not None
local_slurm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(local_slurm)

REQUIRED = "MAEUM_REQUIRE_SLURM"  # set (CI sets it): a cluster that cannot start fails the tests, never skips


def scontrol(*args: str) -> str:
    return subprocess.run(["scontrol", *args], capture_output=True, text=True, check=True).stdout


def jobs() -> dict[str, tuple[str, str, int]]:
    """Every job the controller holds: id -> (state, reason, restart count)."""
    out = subprocess.run(["squeue", "-h", "--array", "--states=all", "-o", "%i|%T|%r"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    found = {}
    for line in out.splitlines():
        job_id, state, reason = line.split("|")
        restarts = scontrol("show", "job", job_id).split("Restarts=")[1].split()[0]
        found[job_id] = (state, reason, int(restarts))
    return found


def _release_forever(stop: threading.Event) -> None:
    """Start each job that a requeue left waiting for its BeginTime (two minutes) now."""
    while not stop.wait(0.5):
        out = subprocess.run(["squeue", "-h", "--states=PD", "-o", "%i|%r"], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            job_id, reason = line.split("|")
            if reason == "BeginTime":
                subprocess.run(
                    ["scontrol", "update", f"JobId={job_id}", "StartTime=now"], capture_output=True
                )


@contextmanager
def cluster(folder: Path) -> Iterator[Path]:
    """The cluster up in `folder`, `SLURM_CONF` set in this process (and so in every process it starts),
    requeued jobs released at once, two jobs to a core (the time-limit chain mostly sleeps: it must not hold
    a core that the DDP job's second task waits for); everything stopped at the end. Raises
    `local_slurm.ClusterUnavailableError`."""
    conf = local_slurm.up(folder, jobs_per_core=2)
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    stop = threading.Event()
    releaser = threading.Thread(target=_release_forever, args=(stop,), daemon=True)
    releaser.start()
    try:
        yield conf
    finally:
        stop.set()
        releaser.join()
        local_slurm.down(folder)
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved


TESTS = Path(__file__).resolve().parents[1]
CHATBOT = (*RESUMABLE_CHATBOT, "logger=csv", "extras.print_config=false")
DDP = (*DDP_SIM, "logger=csv", "extras.print_config=false")


def slow_steps(seconds: float) -> list[str]:
    return ["+callbacks.slow._target_=helpers.resume.SlowSteps", f"+callbacks.slow.seconds={seconds}"]


def start_sweep(sweep_dir: Path, *overrides: str, launcher: str = "slurm_cpu") -> subprocess.Popen:
    """`maeum-train -m hydra/launcher=<launcher>` into `sweep_dir`, its output in `<sweep_dir>.log`; the jobs
    find `tests/` (for `helpers.resume`) on their PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    cmd = ["maeum-train", "-m", f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep_dir}", *overrides]
    log = open(f"{sweep_dir}.log", "w", encoding="utf-8")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    proc.log_path = Path(log.name)  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    """Wait for a sweep; assert that it exited 0 and return its output."""
    proc.wait(timeout=timeout)
    output = proc.log_path.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert proc.returncode == 0, output[-4000:]
    return output


@dataclass
class Preempted:
    """A sweep whose job was signalled USR2 after its first checkpoint: its output, the job, whether the
    sweep was still waiting once SLURM had requeued the job, and the job's state at the end."""

    sweep: Path
    output: str
    job_id: str
    waited: bool
    state: str


def preempted(sweep: Path) -> Preempted:
    """The chatbot through SLURM, sent `scancel --signal=USR2` (what SLURM sends on preemption and before a
    time limit) once its first `last.ckpt` exists; its requeued job is released at once (`cluster`)."""
    proc = start_sweep(sweep, *CHATBOT, *slow_steps(0.5))
    last = sweep / "0" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert last.is_file(), finish(proc)
    (job_id,) = [p.name for p in (sweep / ".submitit").iterdir() if p.is_dir()]  # submitit: one per job
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    while jobs()[job_id][2] == 0:  # until SLURM has requeued it
        time.sleep(0.2)
    waited = proc.poll() is None
    output = finish(proc)
    # the sweep ends on the job's result file; SLURM ends the job when its batch script exits, just after
    deadline = time.monotonic() + 60
    while jobs()[job_id][0] in ("RUNNING", "COMPLETING") and time.monotonic() < deadline:
        time.sleep(0.2)
    return Preempted(sweep, output, job_id, waited, jobs()[job_id][0])  # before SLURM forgets the job


class Runs:
    """The runs of `tests/test_slurm.py` under `folder`, each attribute a `Future`: the time-limit chain,
    which mostly waits, at once; the others once `after` is done (the session's other background work)."""

    def __init__(self, folder: Path, after: Future | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=8)
        self._procs: list[subprocess.Popen] = []
        self._after = after
        # first: it waits longest. SLURM checks time limits every 30 s and signals a job when its remaining
        # time is under signal_delay_s + 30 s: here 20 to 50 s into each allocation, after Python has started
        # (a USR2 before submitit's handler would end the job). 12 steps of 8 s outlast two allocations
        # (at most 2 x (50 - 8) s of training, 8 s to start), so the run is requeued twice or more.
        timeout = ["hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=10",
                   "hydra.launcher.max_num_timeout=10"]  # fmt: skip
        self.timed_out = self._sweep(folder / "시간 초과 (timeout)", *CHATBOT, *slow_steps(8), *timeout,
                                     wait=False)  # fmt: skip
        self.preempted = self._pool.submit(lambda: preempted(self._waited(folder / "선점 (preempted)")))
        self.ddp = self._sweep(folder / "ddp", *DDP)
        seeds = ["seed=1,2,oops", "trainer.max_epochs=2", "logger=csv", "extras.print_config=false"]
        self.seeds = self._sweep(folder / "시드 sweep (3)", *seeds)

    def _waited(self, sweep: Path) -> Path:
        if self._after is not None:
            self._after.result()
        return sweep

    def _sweep(self, sweep: Path, *overrides: str, wait: bool = True) -> Future[tuple[Path, str]]:
        def run() -> tuple[Path, str]:
            proc = start_sweep(self._waited(sweep) if wait else sweep, *overrides)
            self._procs.append(proc)
            return sweep, finish(proc)

        return self._pool.submit(run)

    def stop(self) -> None:
        """Kill what still runs (a failed test's sweep), then wait for the threads."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)
