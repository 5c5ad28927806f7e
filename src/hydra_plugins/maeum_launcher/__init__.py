"""maeum's SLURM launcher as a Hydra plugin (Hydra takes launchers only from the `hydra_plugins` package):
hydra-submitit-launcher's, with the sweep waiting for requeued jobs and naming failed ones. The work is
done in `maeum.launchers.slurm`, imported when a sweep launches, so that Hydra's plugin scan stays fast."""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.utils import JobReturn

try:  # the optional extra maeum[slurm]
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
except ImportError:  # pragma: no cover - without the extra, hydra/launcher=slurm says what to install
    SlurmLauncher = None

if SlurmLauncher is not None:

    class MaeumSlurmLauncher(SlurmLauncher):
        """`hydra/launcher=slurm` (conf/hydra/launcher/slurm.yaml)."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            from maeum.launchers.slurm import launch

            return launch(self, job_overrides, initial_job_idx)
