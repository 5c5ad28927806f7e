"""A real single-node SLURM cluster on this machine, from Debian's packages, for trying maeum's SLURM
launcher without a cluster (and for its tests): munge, the controller (`slurmctld`) and one node daemon
(`slurmd`) describing this machine, all in one folder, with one partition, `cpu`, and no accounting.

    apt-get install -y slurm-wlm munge             # once, as root
    python scripts/local_slurm.py up /tmp/slurm    # prints the `export SLURM_CONF=...` line to run
    export SLURM_CONF=/tmp/slurm/slurm.conf
    sinfo                                          # the partition `cpu` and this machine's node, idle
    python scripts/local_slurm.py down /tmp/slurm  # cancels the jobs, stops the daemons

Everything the cluster writes (its `slurm.conf`, munge key and socket, state, spool, logs and pid files)
stays in the folder; `down` stops what `up` started and nothing else. The daemons run as root (slurmd
starts jobs as their users), so `up` needs root.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PARTITION = "cpu"
DAEMONS = ("slurmd", "slurmctld", "munged")  # stopped in this order
NEEDED = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "srun")


class ClusterUnavailableError(RuntimeError):
    """SLURM cannot start on this machine; the message says why and what to install."""


def missing() -> str | None:
    """Why a cluster cannot start here (missing programs or not root), or None when it can."""
    absent = [name for name in NEEDED if shutil.which(name) is None]
    if absent:
        return f"{', '.join(absent)} not found: install them as root: apt-get install -y slurm-wlm munge"
    if os.geteuid() != 0:
        return "the SLURM daemons start jobs as their users, so they run as root: run as root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_line() -> str:
    """This machine as slurmd sees it (`slurmd -C`: host name, CPUs, sockets, cores, memory), so that the
    node registers without being drained for a hardware mismatch."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("NodeName="))
    return f"{line} NodeAddr=127.0.0.1 State=UNKNOWN"


def write_config(folder: Path, jobs_per_core: int = 1) -> Path:
    """`folder/slurm.conf` for this host: one node, one partition, munge on a socket in `folder`; up to
    `jobs_per_core` jobs share a core (the partition's `OverSubscribe=FORCE:<n>`). Paths are quoted: the
    folder may have spaces (and Hangul, parentheses) in its name."""
    shared = f" OverSubscribe=FORCE:{jobs_per_core}" if jobs_per_core > 1 else ""
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    conf = folder / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=maeum-local",
                "SlurmctldHost=localhost(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f'AuthInfo="socket={folder / "munge.socket"}"',
                "SlurmUser=root",
                "SlurmdUser=root",
                f'StateSaveLocation="{folder / "state"}"',
                f'SlurmdSpoolDir="{folder / "spool"}"',
                f'SlurmctldPidFile="{folder / "slurmctld.pid"}"',
                f'SlurmdPidFile="{folder / "slurmd.pid"}"',
                f'SlurmctldLogFile="{folder / "slurmctld.log"}"',
                f'SlurmdLogFile="{folder / "slurmd.log"}"',
                # no cgroups in containers: processes tracked by parentage, no task binding
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",  # one job per core, so jobs share the node
                "SchedulerType=sched/builtin",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "MpiDefault=none",
                "ReturnToService=2",
                "KillWait=5",  # seconds between SIGTERM and SIGKILL when a job is cancelled or requeued
                _node_line(),
                f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP{shared}",
                "",
            ]
        )
    )
    return conf


def _start_munge(folder: Path) -> None:
    key = folder / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o600)
    subprocess.run(
        [
            "munged",
            "--force",  # as root, in a folder munge finds "insecure": it is this cluster's alone
            f"--socket={folder / 'munge.socket'}",
            f"--key-file={key}",
            f"--pid-file={folder / 'munged.pid'}",
            f"--log-file={folder / 'munged.log'}",
            f"--seed-file={folder / 'munged.seed'}",
        ],
        check=True,
        capture_output=True,
    )


def up(folder: Path, timeout_s: float = 30.0, jobs_per_core: int = 1) -> Path:
    """Start munge, the controller and the node daemon in `folder`; wait until the node takes jobs
    (`jobs_per_core` of them per core). Returns the `slurm.conf` that `SLURM_CONF` must point at. Raises
    `ClusterUnavailableError` with the reason when the cluster cannot start (it then stops whatever it
    started)."""
    if reason := missing():
        raise ClusterUnavailableError(reason)
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    conf = write_config(folder, jobs_per_core)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    try:
        _start_munge(folder)
        subprocess.run(["slurmctld", "-i"], env=env, check=True, capture_output=True)  # -i: no old state
        subprocess.run(["slurmd"], env=env, check=True, capture_output=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = subprocess.run(
                ["sinfo", "-h", "-p", PARTITION, "-o", "%t"], env=env, capture_output=True, text=True
            ).stdout.strip()
            if state == "idle":
                return conf
            time.sleep(0.2)
        idle = f"the node is not idle after {timeout_s:.0f} s (see {folder}/slurmd.log)"
        raise ClusterUnavailableError(idle)
    except (subprocess.CalledProcessError, ClusterUnavailableError) as error:
        down(folder)
        detail = getattr(error, "stderr", None) or b""
        raise ClusterUnavailableError(f"{error} {detail.decode(errors='replace').strip()}".strip()) from error


def _pid(folder: Path, daemon: str) -> int | None:
    path = folder / f"{daemon}.pid"
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def down(folder: Path, timeout_s: float = 15.0) -> None:
    """Cancel every job of the cluster in `folder` and stop its daemons (SIGTERM, then SIGKILL)."""
    folder = folder.resolve()
    conf = folder / "slurm.conf"
    if conf.is_file() and shutil.which("scancel") and _pid(folder, "slurmctld"):
        env = {**os.environ, "SLURM_CONF": str(conf)}
        subprocess.run(["scancel", "--full", "--user", "root"], env=env, capture_output=True, timeout=30)
        # the job steps' processes end with their jobs; give slurmd KillWait to reap them
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            listed = subprocess.run(["squeue", "-h", "-t", "R,CG"], env=env, capture_output=True, text=True)
            if listed.returncode != 0 or not listed.stdout.strip():
                break
            time.sleep(0.5)
    for daemon in DAEMONS:
        pid = _pid(folder, daemon)
        if pid is None or not _alive(pid):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("folder", type=Path, help="where the cluster keeps its files")
    parser.add_argument("--jobs-per-core", type=int, default=1, help="jobs that may share a core (default 1)")
    args = parser.parse_args()
    if args.jobs_per_core < 1:
        parser.error(f"--jobs-per-core {args.jobs_per_core}: give 1 (a core per job) or more")
    if args.action == "down":
        down(args.folder)
        return
    try:
        conf = up(args.folder, jobs_per_core=args.jobs_per_core)
    except ClusterUnavailableError as error:
        sys.exit(f"local SLURM: {error}")
    print(f"export SLURM_CONF={shlex.quote(str(conf))}")


if __name__ == "__main__":
    main()
