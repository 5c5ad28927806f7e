"""`hydra/launcher=slurm` (the plugin `hydra_plugins.maeum_launcher`): every run of a multirun as one SLURM
job, through hydra-submitit-launcher, with what a sweep on a real cluster needs on top:

- The sweep command waits for every job, requeued ones included (a job requeued before its time limit or
  on preemption resumes in its next allocation, `maeum.training.requeue`), so that what runs after it
  (`maeum-leaderboard`) reads finished runs.
- A job that fails does not stop the others: once all have ended, each failed one is named with its
  overrides, the reason and its log, and returns None to the sweeper, as a failed run does locally.
- On a cluster without accounting (no `sacct`), job states are read from `squeue`, without submitit's
  "Bypassing sacct error" at every poll.
"""

from __future__ import annotations

import getpass
import logging
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import submitit
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf
from submitit.slurm.slurm import SlurmInfoWatcher

from maeum.runs.files import FAILED

log = logging.getLogger(__name__)

POLL_S = 2.0  # how often the sweep looks for finished jobs (result files; squeue at most every minute)
# states of a job that is not over: submitit's list, and those a requeue or a busy cluster passes through
RUNNING_STATES = {
    "READY", "PENDING", "RUNNING", "UNKNOWN", "REQUEUED", "COMPLETING", "PREEMPTED", "CONFIGURING",
    "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "SUSPENDED", "STOPPED",
}  # fmt: skip


def has_accounting(tries: int = 5) -> bool:
    """Whether the cluster keeps job accounting (`sacct` answers) or not (`AccountingStorageType=none`).
    A busy controller can fail to answer `scontrol` now and then: asked again, 2 s apart."""
    for attempt in range(tries):
        try:
            config = subprocess.run(
                ["scontrol", "show", "config"], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            break
        if config.returncode == 0:
            return "accounting_storage/none" not in config.stdout
        if attempt < tries - 1:
            time.sleep(2)
    return True  # no answer: let submitit try sacct, as it does by default


class SqueueWatcher(SlurmInfoWatcher):
    """Job states from `squeue`, for a cluster without accounting: every job of this user that the
    controller still holds (finished ones for `MinJobAge`, 5 minutes by default), one line per array task.
    A job the controller no longer lists has ended."""

    def _make_command(self) -> list[str] | None:
        if not self._registered - self._finished:
            return None
        return ["squeue", "--noheader", "--array", "--states=all", f"--user={getpass.getuser()}",
                "--format=%i|%T|%N"]  # fmt: skip

    def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
        text = string.decode() if isinstance(string, bytes) else string
        listed = {}
        for line in text.splitlines():
            job_id, state, nodes = [*line.split("|"), "", ""][:3]
            listed[job_id.strip()] = {"JobID": job_id.strip(), "State": state.strip(), "NodeList": nodes}
        gone = {"JobID": "", "State": "ENDED", "NodeList": ""}
        return {job_id: listed.get(job_id, {**gone, "JobID": job_id}) for job_id in self._registered} | listed

    def is_done(self, job_id: str, mode: str = "standard") -> bool:
        return self.get_state(job_id, mode=mode).upper().split()[0] not in RUNNING_STATES


def launch(
    launcher: submitit_launcher.SlurmLauncher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> list[JobReturn]:
    """Submit one job per run (a job array, as hydra-submitit-launcher does), wait for every job, requeued
    ones included, and return their `JobReturn`s; failed jobs are named (see the module's docstring)."""
    assert launcher.config is not None
    params = dict(launcher.params)
    executor = submitit.AutoExecutor(
        cluster="slurm",
        folder=params.pop("submitit_folder"),
        slurm_max_num_timeout=params.pop("max_num_timeout", 0),
    )
    queue_keys = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in queue_keys else f"slurm_{k}": v for k, v in params.items()})
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    log.info("SLURM sweep output dir: %s", sweep_dir)
    numbered = list(enumerate(job_overrides, start=initial_job_idx))
    for idx, overrides in numbered:
        log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
    state = Singleton.get_state()
    args = [(list(o), "hydra.sweep.dir", idx, f"job_id_for_{idx}", state) for idx, o in numbered]
    jobs = executor.map_array(launcher, *zip(*args, strict=True))
    if not has_accounting():
        watcher = SqueueWatcher(delay_s=60)
        for job in jobs:
            job.watcher = watcher
            for task in range(job.num_tasks):  # a multi-task job (DDP) asks its tasks whether they are done
                job.task(task).watcher = watcher
    log.info("Submitted %d SLURM jobs (%s); waiting for all of them", len(jobs), _ids(jobs))
    while not all(job.done() for job in jobs):
        time.sleep(POLL_S)
    return _collect(jobs, numbered, sweep_dir)


def _ids(jobs: Sequence[submitit.Job]) -> str:
    first, last = jobs[0].job_id, jobs[-1].job_id
    return first if first == last else f"{first} to {last}"


def _collect(
    jobs: Sequence[submitit.Job], numbered: list[tuple[int, Sequence[str]]], sweep_dir: Path
) -> list[JobReturn]:
    """Each job's `JobReturn`; a failed job's is an empty one (its value None), and each failure is
    logged with the job's overrides, the reason and its log."""
    returns, failed = [], []
    for job, (idx, overrides) in zip(jobs, numbered, strict=True):
        ret, reason = _result(job)
        run_dir = Path(ret.hydra_cfg.hydra.runtime.output_dir) if ret and ret.hydra_cfg else None
        if ret is not None and ret.status == JobStatus.FAILED:
            reason = f"{type(ret._return_value).__name__}: {ret._return_value}"
        elif run_dir is not None and (run_dir / FAILED).is_file():
            reason = (run_dir / FAILED).read_text(encoding="utf-8").strip()
        if reason is not None:
            failed.append(idx)
            task = ret.cfg.get("task_name", "train") if ret and ret.cfg else "train"
            logs = f"{run_dir / f'{task}.log'} and " if run_dir is not None else ""
            log.error(
                "Run #%d failed (SLURM job %s, %s): %s\n  logs: %s%s",
                idx, job.job_id, " ".join(filter_overrides(overrides)) or "no overrides",
                reason, logs, job.paths.stderr,
            )  # fmt: skip
            ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=None)
        returns.append(ret)
    finished = len(jobs) - len(failed)
    summary = f"SLURM sweep {sweep_dir}: {finished} of {len(jobs)} runs finished"
    if failed:
        log.error("%s; failed: %s", summary, ", ".join(f"#{i}" for i in failed))
    else:
        log.info(summary)
    return returns


def _result(job: submitit.Job) -> tuple[JobReturn | None, str | None]:
    """The job's `JobReturn`, or None and why there is none (an error before the run, a job that SLURM
    ended: cancelled, out of time or memory)."""
    try:
        return job.results()[0], None
    except (submitit.core.utils.UncompletedJobError, submitit.core.utils.FailedJobError) as error:
        lines = [line for line in str(error).splitlines() if line.strip() and not line.startswith("-")]
        tail = next((line for line in reversed(lines) if "Error" in line or "error" in line), lines[0])
        return None, f"{tail.strip()} (state {job.state})"
