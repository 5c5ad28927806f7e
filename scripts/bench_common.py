"""What the benchmark scripts share: reading the process's memory, and the side-by-side harness of the
benchmarks that train maeum and TRL on the same batches (`bench_sft.py`, `bench_dpo.py`).

Not a benchmark itself. The scripts import it as `from bench_common import ...`: each is run as
`python scripts/bench_<name>.py`, which puts `scripts/` first on `sys.path`.

* Memory: `proc_status_kb` (VmRSS, VmHWM), `trim_heap` (freed heap back to the OS), `clear_peak_rss`
  (VmHWM := VmRSS) and `memory_events` (the CPU allocator's events under `torch.profiler`).
* The harness: a `Probe` per side records every step's batch, loss and end time and the peak RSS above
  what the process held when training began; `LightningProbe` (maeum's `Trainer`), `HFProbe` and
  `ProbedTraining` (TRL's trainers) feed it. `first_difference` and `show_row` compare the sides' batches,
  `print_comparison` prints a pairing's figures and `Totals` sums them over the pairings.
* Setup: the shared paths, the command-line options both take, the TRL `TrainingArguments` both set alike,
  quiet libraries and the version lines every such benchmark prints first.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import transformers
from pytorch_lightning.callbacks import Callback
from torch import Tensor
from torch.profiler import ProfilerActivity, profile
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import PreTrainedTokenizerBase, PrinterCallback, TrainerCallback

from maeum.backbones.tiny_chat import CHAT_TOKENIZERS_ENV
from maeum.data.dialogue.records import IGNORE_INDEX

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"  # the real corpora beside the repository
DEFAULT_DATA = SHARED / "chatbotdata" / "ChatbotData.csv"
TOKENIZERS = Path(os.environ.get(CHAT_TOKENIZERS_ENV) or SHARED / "chat-tokenizers")
FIELDS = ("input_ids", "attention_mask", "labels")  # what the sides' batches are compared on
SIDES = ("maeum", "trl")
Batch = Mapping[str, Tensor]
# TrainingArguments' gradient_checkpointing became activation_checkpointing (the old name, an alias, warns)
_CHECKPOINTING_NAMES = ("activation_checkpointing", "gradient_checkpointing")


# ------------------------------------------------------------------------------------------ memory
def proc_status_kb(key: str) -> int:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key}")


def trim_heap() -> None:
    """Collect garbage and return freed heap to the OS (glibc keeps it), so that one run's leftovers
    neither inflate a baseline nor hide the next run's growth."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: RSS may then keep freed memory
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def clear_peak_rss() -> None:
    """Reset the process's peak RSS to its current RSS (Linux: writing 5 to /proc/self/clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS


def memory_events(fn: Callable[[], object]) -> list[dict[str, Any]]:
    """The `[memory]` events of `torch.profiler` (`profile_memory=True`, CPU activities) while `fn` runs,
    as its Chrome trace records them (`args`: "Total Allocated", "Bytes", "Device Type", ...)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(trace))
        events = json.loads(trace.read_text())["traceEvents"]
    return [e for e in events if e.get("name") == "[memory]"]


# ----------------------------------------------------------------------------------------- probing
@dataclass
class Probe:
    """What one side's training loop did: its batches (as the model sees them), losses, step-end times
    and peak RSS."""

    batches: list[dict[str, Tensor]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    step_ends: list[float] = field(default_factory=list)
    base_kb: int = 0
    peak_kb: int = 0

    def start(self) -> None:
        """Training begins: the RSS now is the baseline, and the peak is counted from here."""
        trim_heap()
        self.base_kb = proc_status_kb("VmRSS")
        clear_peak_rss()
        self.step_ends.clear()

    def batch(self, batch: Mapping[str, Tensor]) -> None:
        self.batches.append({k: batch[k].detach().clone() for k in FIELDS})

    def loss(self, loss: Tensor) -> None:
        self.losses.append(float(loss))

    def step_end(self) -> None:
        self.step_ends.append(time.perf_counter())

    def stop(self) -> None:
        self.peak_kb = proc_status_kb("VmHWM")

    @property
    def tokens(self) -> list[int]:
        """Non-pad tokens of every step's batch (DPO: of its chosen and rejected rows)."""
        return [int(b["attention_mask"].sum()) for b in self.batches]

    @property
    def target_tokens(self) -> int:
        """Tokens with a label (not `IGNORE_INDEX`) over all steps."""
        return sum(int((b["labels"] != IGNORE_INDEX).sum()) for b in self.batches)

    def tokens_per_s(self) -> float:
        """Tokens of steps 2.. over the time from the end of step 1 to the end of the last step."""
        if len(self.step_ends) < 2:
            raise SystemExit("--steps must be at least 2 (the first step is the warm-up)")
        return sum(self.tokens[1:]) / (self.step_ends[-1] - self.step_ends[0])

    @property
    def peak_mb(self) -> float:
        """The peak RSS above the baseline, in MiB."""
        return (self.peak_kb - self.base_kb) / 1024


class LightningProbe(Callback):
    """Feeds a `Probe` from maeum's Lightning `Trainer`: each batch (through `view`, the batch as the model
    sees it), its loss and its end time, and the peak RSS over training."""

    def __init__(self, probe: Probe, view: Callable[[Batch], Batch] | None = None) -> None:
        self.probe = probe
        self.view = view

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.probe.start()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.probe.batch(batch if self.view is None else self.view(batch))

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.probe.loss(outputs["loss"])
        self.probe.step_end()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.probe.stop()


class HFProbe(TrainerCallback):
    """Feeds a `Probe` from a transformers `Trainer`: each step's end time and the peak RSS over training
    (`ProbedTraining` hands it the batches and losses)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.probe.start()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.probe.step_end()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.probe.stop()


class ProbedTraining:
    """Mixin for a transformers `Trainer` (listed before it) that records its training in `probe`: each
    micro-batch, as `probe_view` shows it, and its loss (as `LightningProbe` does on maeum's side), and
    through an `HFProbe` callback the step ends and the peak RSS. Its log printer is removed (its lines,
    every 10 steps, would mix with the benchmark's on stdout)."""

    probe: Probe

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probe = Probe()
        self.add_callback(HFProbe(self.probe))  # type: ignore[attr-defined]
        self.remove_callback(PrinterCallback)  # type: ignore[attr-defined]

    def probe_view(self, inputs: Batch) -> Batch:
        """The micro-batch as the model sees it (the inputs themselves unless a subclass says otherwise)."""
        return inputs

    def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Tensor:
        self.probe.batch(self.probe_view(inputs))
        loss = super().training_step(model, inputs, num_items_in_batch)  # type: ignore[misc]
        self.probe.loss(loss)
        return loss


class InOrderTrainLoader:
    """Mixin for a maeum DataModule (listed before it): the train loader in file order (maeum's shuffles),
    as TRL's `sequential` sampler reads it."""

    datasets: Mapping[str, Any]
    batch_size: int
    collator: Callable[[], Any]

    def train_dataloader(self) -> StatefulDataLoader:
        return StatefulDataLoader(
            self.datasets["train"], batch_size=self.batch_size, shuffle=False, collate_fn=self.collator()
        )


# ------------------------------------------------------------------------------------------- sides
@dataclass
class Run:
    """One side's training under one pairing: its probe and what must match between the sides."""

    probe: Probe
    optimizer: dict[str, Any]  # the hyperparameters of the optimizer that actually stepped
    setup_s: float
    checkpointing: bool  # whether the model recomputed activations (it must not, on either side)


def optimizer_settings(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The class and hyperparameters of the optimizer under accelerate's and Lightning's wrappers."""
    optimizer = getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer
    keys = ("lr", "betas", "eps", "weight_decay", "amsgrad", "foreach", "fused", "maximize")
    groups = [{k: tuple(g[k]) if k == "betas" else g[k] for k in keys} for g in optimizer.param_groups]
    return {"class": type(optimizer).__name__, "groups": sorted({repr(g) for g in groups})}


def adamw(args: argparse.Namespace) -> dict[str, Any]:
    """maeum's optimizer config (partial AdamW) from `--lr`, `--betas` and `--eps`, weight_decay 0."""
    return {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": args.lr,
            "betas": list(args.betas), "eps": args.eps, "weight_decay": 0.0}  # fmt: skip


def lightning_trainer(steps: int, probe: Probe, view: Callable[[Batch], Batch] | None = None) -> pl.Trainer:
    """maeum's side: a CPU fp32 `Trainer` for `steps` steps, no logger, checkpoints, progress bar or
    validation, that feeds `probe` (a `LightningProbe` with `view`, its only callback)."""
    return pl.Trainer(
        accelerator="cpu", devices=1, precision="32-true", max_steps=steps, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, num_sanity_val_steps=0, callbacks=[LightningProbe(probe, view)],
    )  # fmt: skip


def trl_training_args(args: argparse.Namespace, out: Path, config: type) -> dict[str, Any]:
    """The `TrainingArguments` both TRL sides set alike: CPU, fp32, the run's seed, `--steps` steps of
    `--batch-size` in file order, maeum's AdamW at a constant LR, no clipping, no padding-free, no
    activation checkpointing (TRL turns it on by default; `config` names it), nothing saved or reported."""
    checkpointing = next(n for n in _CHECKPOINTING_NAMES if n in config.__dataclass_fields__)
    return dict(
        output_dir=str(out), use_cpu=True, bf16=False, fp16=False, seed=args.seed, data_seed=args.seed,
        max_steps=args.steps, per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=1,
        train_sampling_strategy="sequential", dataloader_num_workers=0, dataloader_pin_memory=False,
        optim="adamw_torch", learning_rate=args.lr, adam_beta1=args.betas[0], adam_beta2=args.betas[1],
        adam_epsilon=args.eps, weight_decay=0.0, lr_scheduler_type="constant", warmup_steps=0,
        max_grad_norm=0.0, padding_free=False, save_strategy="no", report_to="none", disable_tqdm=True,
        **{checkpointing: False},
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ compare
def first_difference(maeum: Sequence[Batch], other: Sequence[Batch]) -> tuple[int, int] | None:
    """(step, row) of the first row whose ids, attention mask or labels differ, or None."""
    for step, (a, b) in enumerate(zip(maeum, other, strict=True)):
        if any(a[k].shape != b[k].shape for k in FIELDS):
            return step, 0
        for row in range(len(a["input_ids"])):
            if any(not torch.equal(a[k][row], b[k][row]) for k in FIELDS):
                return step, row
    return None


def _cell(side: Mapping[str, list[int]], pos: int) -> tuple[int, str]:
    if pos >= len(side["input_ids"]):
        return -1, "-"
    if not side["attention_mask"][pos]:
        return side["input_ids"][pos], "pad"
    return side["input_ids"][pos], "target" if side["labels"][pos] != IGNORE_INDEX else "input"


def show_row(tokenizer: PreTrainedTokenizerBase, maeum: Batch, other: Batch, row: int) -> None:
    """The row on both sides, a token a line: its id and its role (target, input or pad) on each side."""
    sides = [{k: batch[k][row].tolist() for k in FIELDS} for batch in (maeum, other)]
    print(f"{'pos':>4} {'maeum':>16} {'trl':>16}  token")
    for pos in range(max(len(side["input_ids"]) for side in sides)):
        (a, role_a), (b, role_b) = (_cell(side, pos) for side in sides)
        flag = "" if (a, role_a) == (b, role_b) else "  <-- differs"
        shown = a if a >= 0 else b
        token = tokenizer.decode([shown]) if shown >= 0 else ""
        print(f"{pos:>4} {a:>9} {role_a:>6} {b:>9} {role_b:>6}  {token!r}{flag}")


def print_comparison(key: str, metric: str, runs: Mapping[str, Run]) -> float:
    """Print one pairing's (`key`'s) figures: the optimizers, both loss curves,
    `<metric>_loss_max_abs_diff_<key>`, each side's setup time, tokens per second and peak RSS (in the
    order the sides ran), and the tokens-per-second ratio. Returns the largest loss difference."""
    ours, theirs = runs["maeum"], runs["trl"]
    print(f"{key}_optimizers_equal={ours.optimizer == theirs.optimizer} optimizer={ours.optimizer}")
    if ours.optimizer != theirs.optimizer:
        print(f"{key}_trl_optimizer={theirs.optimizer}")
    for side, run in runs.items():
        print(f"{key}_{side}_losses=" + ",".join(f"{x:.6f}" for x in run.probe.losses))
    gaps = [abs(a - b) for a, b in zip(ours.probe.losses, theirs.probe.losses, strict=True)]
    print(f"{metric}_loss_max_abs_diff_{key}={max(gaps):.2e}")
    for side, run in runs.items():
        print(f"{key}_{side}_setup_s={run.setup_s:.1f}")
        print(f"{key}_{side}_tokens_per_s={run.probe.tokens_per_s():.0f}")
        print(f"{key}_{side}_peak_rss_mb={run.probe.peak_mb:.0f}")
    print(f"{key}_tokens_per_s_ratio={ours.probe.tokens_per_s() / theirs.probe.tokens_per_s():.3f}")
    return max(gaps)


@dataclass
class Totals:
    """Each side's tokens of steps 2.. and their seconds, summed over the pairings, and its highest peak."""

    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SIDES, 0.0))
    peak_mb: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SIDES, 0.0))

    def add(self, ours: Run, theirs: Run) -> None:
        for side, run in zip(SIDES, (ours, theirs), strict=True):
            p = run.probe
            self.tokens[side] += sum(p.tokens[1:])
            self.seconds[side] += p.step_ends[-1] - p.step_ends[0]
            self.peak_mb[side] = max(self.peak_mb[side], p.peak_mb)

    def print_rates(self, metric: str, counted: str) -> None:
        """`tokens_counted=<counted>` (what a token is), `<metric>_tokens_per_s_{maeum,trl,ratio}` and
        `<metric>_peak_rss_mb_{maeum,trl}`."""
        print(f"tokens_counted={counted}")
        rates = {side: self.tokens[side] / self.seconds[side] for side in SIDES}
        print(f"{metric}_tokens_per_s_maeum={rates['maeum']:.0f}")
        print(f"{metric}_tokens_per_s_trl={rates['trl']:.0f}")
        print(f"{metric}_tokens_per_s_ratio={rates['maeum'] / rates['trl']:.3f}")
        print(f"{metric}_peak_rss_mb_maeum={self.peak_mb['maeum']:.0f}")
        print(f"{metric}_peak_rss_mb_trl={self.peak_mb['trl']:.0f}")


# -------------------------------------------------------------------------------------------- setup
def add_optimizer_args(parser: argparse.ArgumentParser, lr: float, lr_help: str) -> None:
    """`--lr` (default `lr`), `--betas` and `--eps`: AdamW's on both sides."""
    parser.add_argument("--lr", type=float, default=lr, help=lr_help)
    parser.add_argument("--betas", type=float, nargs=2, default=(0.9, 0.999))
    parser.add_argument("--eps", type=float, default=1e-8)


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """`--tolerance` (the largest loss difference allowed), `--seed` and `--threads`."""
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest loss difference allowed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")


def chosen(value: str, known: Collection[str], option: str) -> list[str]:
    """The comma-separated names in `value` (`option`: `--pairings`, `--layouts`), each one of `known`."""
    names = [x for x in value.split(",") if x]
    if unknown := set(names) - set(known):
        raise SystemExit(f"{option}: unknown {sorted(unknown)}; use {', '.join(known)}")
    return names


def quiet_training(threads: int | None) -> None:
    """Set torch's threads (where given) and silence Lightning's, transformers' and TRL's logs, warnings
    and progress bars, which would mix with the benchmark's lines."""
    import datasets  # TRL's dependency (the `bench` extra), as `trl` below

    if threads:
        torch.set_num_threads(threads)
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "transformers", "trl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def print_versions() -> None:
    """The device, thread count and versions that a maeum-against-TRL benchmark prints first."""
    import datasets
    import trl

    print(f"device=cpu torch_threads={torch.get_num_threads()} cpu_count={os.cpu_count()}")
    print(f"torch={torch.__version__} transformers={transformers.__version__} trl={trl.__version__}")
    print(f"pytorch_lightning={pl.__version__} datasets={datasets.__version__}")


def finish(name: str, ok: bool, wall: float) -> None:
    """The closing lines, `<name>=<ok>` and the seconds since `wall`; exit status 1 unless `ok`."""
    print(f"{name}={ok}")
    print(f"wall_s={time.perf_counter() - wall:.0f}")
    if not ok:
        sys.exit(1)
