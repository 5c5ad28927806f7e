"""Benchmark: maeum's `ChatLM` against TRL's `SFTTrainer`, side by side in one process, on the same data.

An independent oracle for maeum's chat-template label masks: both sides train the tiny twin `tiny_qwen3`
(a random 2-layer Qwen3ForCausalLM around the real Qwen3 tokenizer, from the same directory: the same
initial weights) on the first `--dialogues` ChatbotData rows (Q → A, condition = the label's name, as
`data/dialogue=chatbotdata`), in file order (no shuffling on either side), `--batch-size` rows a step,
`--steps` steps of AdamW (the same lr, betas and eps, weight_decay 0, a constant LR with no warmup), fp32,
no gradient clipping, no gradient checkpointing, no packing, no padding-free, `--max-length` tokens (no
row is truncated: checked). Equal per-step losses mean equal targets. Two pairings:

* `last_sys`: maeum's `label_mask=last_sys` with the tokenizer's own template (Qwen3's) against TRL's
  `completion_only_loss=True` on prompt–completion conversational data: prompt = the system message
  `사용자의 감정: {condition}` and the user message, completion = the assistant message.
* `all_sys`: maeum's `label_mask=all_sys` against TRL's `assistant_only_loss=True` on `messages` data, both
  with TRL's marker template `qwen3_training.jinja` (`{% generation %}`; `--training-template`).

The TRL messages are maeum's own (`messages_of`), so both sides render the same text. maeum trains with
`DialogueDataModule` (its encoding and `DialogueCollator`; the train loader in file order) and a
`pytorch_lightning.Trainer` (CPU, logger=False, no checkpointing, no progress bar), whose `ChatLM` takes
the model's own loss over the full logits. TRL runs `SFTTrainer` at its defaults otherwise: its fused LM
head (log-probabilities in chunks, never the whole (batch, length, vocabulary) logits; off Triton devices
it scores every position and recomputes the logits in the backward pass), entropy and token accuracy every
step, and a log every 10 steps (its printed line left out of stdout).

Every step's `input_ids`, `attention_mask` and `labels` are compared (`<pairing>_batches_identical`; the
first row that differs is printed token by token). Printed per pairing: both loss curves,
`sft_loss_max_abs_diff_<pairing>` (the largest |difference| of the per-step training losses), tokens per
second (the batches' non-pad tokens, which are the same on both sides, over the loop's wall time from the
end of step 1 to the end of the last step: setup and the first step's warm-up excluded) and the peak RSS
above what the process held when training began (model and optimizer built: `VmHWM` after
`echo 5 > /proc/self/clear_refs`, with freed heap returned by `malloc_trim` first). Then
`sft_tokens_per_s_ratio` (maeum over TRL, both pairings' tokens over their time) and
`sft_peak_memory_ratio` (maeum's highest peak over TRL's). The sides run maeum first in the first pairing
and TRL first in the second. Exit status 1 when batches differ or a loss difference exceeds `--tolerance`.

    pip install 'maeum[bench]'   # TRL, which maeum itself does not need
    python scripts/bench_sft.py [--data ../shared/data/chatbotdata/ChatbotData.csv] [--dialogues 256]
        [--batch-size 8] [--steps 32] [--max-length 128] [--pairings last_sys,all_sys] [--threads 2]

`tiny_qwen3` needs `$MAEUM_CHAT_TOKENIZERS/qwen3-0.6b` (see `maeum.backbones.tiny_chat`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import logging
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import transformers
from pytorch_lightning.callbacks import Callback
from torch import Tensor
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PrinterCallback, TrainerCallback

from maeum.backbones import build_tiny
from maeum.data.dialogue.chat_template import messages_of
from maeum.data.dialogue.datamodule import DialogueDataModule
from maeum.data.dialogue.encoding import encode_dialogues
from maeum.data.dialogue.readers import read_chatbotdata
from maeum.data.dialogue.records import IGNORE_INDEX, ChatTemplate, Dialogue
from maeum.data.records import ReadResult
from maeum.models.chat_lm import ChatLM

try:  # TRL (and the `datasets` it brings) are the benchmark's, not maeum's: the `bench` extra
    import datasets
    import trl
    from trl import SFTConfig, SFTTrainer
except ImportError as err:
    raise SystemExit(
        f"bench_sft.py compares maeum with TRL, which is not installed ({err}): pip install 'maeum[bench]'"
        " (or pip install 'trl>=1.16')"
    ) from None

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_DATA = SHARED / "chatbotdata" / "ChatbotData.csv"
TOKENIZERS = Path(os.environ.get("MAEUM_CHAT_TOKENIZERS") or SHARED / "chat-tokenizers")
DEFAULT_TRAINING_TEMPLATE = TOKENIZERS / "trl-templates" / "qwen3_training.jinja"
BACKBONE = "tiny_qwen3"
PAIRINGS = {  # maeum's label mask -> TRL's option
    "last_sys": "completion_only_loss",
    "all_sys": "assistant_only_loss",
}
FIELDS = ("input_ids", "attention_mask", "labels")
# TrainingArguments' gradient_checkpointing became activation_checkpointing (the old name, an alias, warns)
_NAMES = ("activation_checkpointing", "gradient_checkpointing")
CHECKPOINTING = next(n for n in _NAMES if n in SFTConfig.__dataclass_fields__)


# ------------------------------------------------------------------------------------------ measuring
def _kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key}")


def _trim_heap() -> None:
    """Return freed heap to the OS (glibc keeps it), so that one run's leftovers do not hide the next's."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass
class Probe:
    """What one side's training loop did: its batches, losses, step-end times and peak RSS."""

    batches: list[dict[str, Tensor]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    step_ends: list[float] = field(default_factory=list)
    base_kb: int = 0
    peak_kb: int = 0

    def start(self) -> None:
        _trim_heap()
        self.base_kb = _kb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        self.step_ends.clear()

    def batch(self, batch: Mapping[str, Tensor]) -> None:
        self.batches.append({k: batch[k].detach().clone() for k in FIELDS})

    def loss(self, loss: Tensor) -> None:
        self.losses.append(float(loss))

    def step_end(self) -> None:
        self.step_ends.append(time.perf_counter())

    def stop(self) -> None:
        self.peak_kb = _kb("VmHWM")

    @property
    def tokens(self) -> list[int]:
        """Non-pad tokens of every step's batch."""
        return [int(b["attention_mask"].sum()) for b in self.batches]

    def tokens_per_s(self) -> float:
        """Tokens of steps 2.. over the time from the end of step 1 to the end of the last step."""
        if len(self.step_ends) < 2:
            raise SystemExit("--steps must be at least 2 (the first step is the warm-up)")
        return sum(self.tokens[1:]) / (self.step_ends[-1] - self.step_ends[0])

    @property
    def peak_mb(self) -> float:
        return (self.peak_kb - self.base_kb) / 1024


# --------------------------------------------------------------------------------------------- data
def first_rows(n: int) -> Callable[[str], ReadResult[Dialogue]]:
    """ChatbotData's reader (condition = the label's name), keeping the first `n` dialogues."""

    def read(path: str) -> ReadResult[Dialogue]:
        result = read_chatbotdata(path, condition="name")
        if len(result.records) < n:
            raise SystemExit(f"{path} has {len(result.records)} dialogues, fewer than --dialogues {n}")
        return replace(result, records=result.records[:n])

    return read


class InOrderDialogues(DialogueDataModule):
    """maeum's DataModule with the train loader in file order (its own shuffles), as TRL's `sequential`."""

    def train_dataloader(self) -> StatefulDataLoader:
        return StatefulDataLoader(
            self.datasets["train"], batch_size=self.batch_size, shuffle=False, collate_fn=self.collator()
        )


def trl_rows(
    dialogues: Sequence[Dialogue], mask: str, tokenizer: PreTrainedTokenizerBase, template: ChatTemplate
) -> list[dict[str, list[dict[str, str]]]]:
    """The TRL dataset: prompt–completion (`last_sys`) or `messages` (`all_sys`), from maeum's messages."""
    rows = []
    for d in dialogues:
        messages = messages_of(d.turns, d.condition, tokenizer, template)
        if mask == "last_sys":
            rows.append({"prompt": messages[:-1], "completion": messages[-1:]})
        else:
            rows.append({"messages": messages})
    return rows


# ------------------------------------------------------------------------------------------- sides
class LightningProbe(Callback):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.probe.start()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.probe.batch(batch)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.probe.loss(outputs["loss"])
        self.probe.step_end()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.probe.stop()


class HFProbe(TrainerCallback):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.probe.start()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.probe.step_end()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.probe.stop()


class ProbedSFTTrainer(SFTTrainer):
    """`SFTTrainer` that hands each micro-batch and its loss to a `Probe` (as the Lightning callback does)."""

    probe: Probe

    def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Tensor:
        self.probe.batch(inputs)
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.probe.loss(loss)
        return loss


@dataclass
class Run:
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


def maeum_data(
    args: argparse.Namespace, backbone: Path, mask: str, template: ChatTemplate
) -> InOrderDialogues:
    """maeum's DataModule over the first `--dialogues` rows, all in the train split, encoded under `mask`."""
    datamodule = InOrderDialogues(
        reader=first_rows(args.dialogues), path=str(args.data), tokenizer=str(backbone), template=template,
        label_mask=mask, max_length=args.max_length, batch_size=args.batch_size, val_fraction=0.0,
        test_fraction=0.0, seed=args.seed, cache_dir=None,
    )  # fmt: skip
    datamodule.setup("fit")
    return datamodule


def train_maeum(args: argparse.Namespace, backbone: Path, datamodule: InOrderDialogues) -> Run:
    start = time.perf_counter()
    pl.seed_everything(args.seed, verbose=False)
    optimizer = {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": args.lr,
                 "betas": list(args.betas), "eps": args.eps, "weight_decay": 0.0}  # fmt: skip
    module = ChatLM(backbone=str(backbone), optimizer=optimizer, scheduler=None, warmup_ratio=0.0)
    probe = Probe()
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, precision="32-true", max_steps=args.steps, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, num_sanity_val_steps=0, callbacks=[LightningProbe(probe)],
    )  # fmt: skip
    setup_s = time.perf_counter() - start
    trainer.fit(module, train_dataloaders=datamodule.train_dataloader())
    checkpointing = module.model.is_gradient_checkpointing
    return Run(probe, optimizer_settings(trainer.optimizers[0]), setup_s, checkpointing)


def train_trl(
    args: argparse.Namespace, backbone: Path, mask: str, rows: list[dict[str, Any]], out: Path
) -> Run:
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model = transformers.AutoModelForCausalLM.from_pretrained(backbone, dtype=torch.float32)
    config = SFTConfig(
        output_dir=str(out), use_cpu=True, bf16=False, fp16=False, seed=args.seed, data_seed=args.seed,
        max_steps=args.steps, per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=1,
        train_sampling_strategy="sequential", shuffle_dataset=False, dataloader_num_workers=0,
        optim="adamw_torch", learning_rate=args.lr, adam_beta1=args.betas[0], adam_beta2=args.betas[1],
        adam_epsilon=args.eps, weight_decay=0.0, lr_scheduler_type="constant", warmup_steps=0,
        max_grad_norm=0.0, packing=False, padding_free=False,
        max_length=args.max_length, completion_only_loss=True if mask == "last_sys" else None,
        assistant_only_loss=mask == "all_sys",
        chat_template_path=str(args.training_template) if mask == "all_sys" else None,
        save_strategy="no", report_to="none", disable_tqdm=True, dataloader_pin_memory=False,
        **{CHECKPOINTING: False},  # TRL turns it on by default
    )  # fmt: skip
    trainer = ProbedSFTTrainer(
        model=model, args=config, train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer
    )
    trainer.probe = Probe()
    trainer.add_callback(HFProbe(trainer.probe))
    trainer.remove_callback(PrinterCallback)  # its log lines (every 10 steps) would mix with ours on stdout
    if len(trainer.train_dataset) != len(rows):
        raise SystemExit(f"TRL dropped {len(rows) - len(trainer.train_dataset)} rows while preparing them")
    setup_s = time.perf_counter() - start
    trainer.train()
    return Run(trainer.probe, optimizer_settings(trainer.optimizer), setup_s, model.is_gradient_checkpointing)


# ------------------------------------------------------------------------------------------ compare
def first_difference(
    maeum: Sequence[Mapping[str, Tensor]], other: Sequence[Mapping[str, Tensor]]
) -> tuple[int, int] | None:
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


def show_row(
    tokenizer: PreTrainedTokenizerBase, maeum: Mapping[str, Tensor], other: Mapping[str, Tensor], row: int
) -> None:
    """The row on both sides, a token a line: its id and its role (target, input or pad) on each side."""
    sides = [{k: batch[k][row].tolist() for k in FIELDS} for batch in (maeum, other)]
    print(f"{'pos':>4} {'maeum':>16} {'trl':>16}  token")
    for pos in range(max(len(side["input_ids"]) for side in sides)):
        (a, role_a), (b, role_b) = (_cell(side, pos) for side in sides)
        flag = "" if (a, role_a) == (b, role_b) else "  <-- differs"
        token = tokenizer.decode([a if a >= 0 else b])
        print(f"{pos:>4} {a:>9} {role_a:>6} {b:>9} {role_b:>6}  {token!r}{flag}")


def compare(
    args: argparse.Namespace, backbone: Path, mask: str, maeum_first: bool, out: Path
) -> tuple[Run, Run, bool, float]:
    """Train both sides under one pairing; print its figures. Returns the runs, batch equality, loss gap."""
    template = ChatTemplate(jinja=str(args.training_template)) if mask == "all_sys" else ChatTemplate()
    datamodule = maeum_data(args, backbone, mask, template)
    dialogues = datamodule.corpus.split("train")  # file order; TRL gets the same dialogues and messages
    rows = trl_rows(dialogues, mask, datamodule.tokenizer, template)
    cut: Counter[str] = Counter()
    options = {"label_mask": mask, "max_length": args.max_length, "template": template}
    encoded = encode_dialogues(dialogues, datamodule.tokenizer, stats=cut, **options)
    if cut:
        raise SystemExit(f"{mask}: --max-length {args.max_length} truncates rows ({dict(cut)}): raise it")
    runs: dict[str, Run] = {}
    for side in ("maeum", "trl") if maeum_first else ("trl", "maeum"):
        if side == "maeum":
            runs["maeum"] = train_maeum(args, backbone, datamodule)
        else:
            runs["trl"] = train_trl(args, backbone, mask, rows, out / mask)
    ours, theirs = runs["maeum"], runs["trl"]
    print(f"{mask}_vs_trl={PAIRINGS[mask]}")
    print(f"{mask}_template={'qwen3_training.jinja' if mask == 'all_sys' else 'tokenizer (Qwen3)'}")
    print(f"{mask}_longest_row_tokens={max(len(r['input_ids']) for r in encoded)} truncated_rows=0")
    first = first_difference(ours.probe.batches, theirs.probe.batches)
    identical = first is None and len(ours.probe.batches) == len(theirs.probe.batches) == args.steps
    identical = identical and not (ours.checkpointing or theirs.checkpointing)
    print(f"{mask}_batches_identical={identical}")
    if first is not None:
        step, row = first
        n = (step * args.batch_size + row) % len(dialogues)
        print(f"{mask}_first_difference: step {step + 1}, row {row} = dialogue {n}: {dialogues[n]}")
        show_row(datamodule.tokenizer, ours.probe.batches[step], theirs.probe.batches[step], row)
    print(f"{mask}_target_tokens={sum(int((b['labels'] != IGNORE_INDEX).sum()) for b in ours.probe.batches)}")
    print(f"{mask}_checkpointing maeum={ours.checkpointing} trl={theirs.checkpointing}")
    print(f"{mask}_optimizers_equal={ours.optimizer == theirs.optimizer} optimizer={ours.optimizer}")
    if ours.optimizer != theirs.optimizer:
        print(f"{mask}_trl_optimizer={theirs.optimizer}")
    for side, run in runs.items():
        print(f"{mask}_{side}_losses=" + ",".join(f"{x:.6f}" for x in run.probe.losses))
    gaps = [abs(a - b) for a, b in zip(ours.probe.losses, theirs.probe.losses, strict=True)]
    print(f"sft_loss_max_abs_diff_{mask}={max(gaps):.2e}")
    for side, run in runs.items():
        print(f"{mask}_{side}_setup_s={run.setup_s:.1f}")
        print(f"{mask}_{side}_tokens_per_s={run.probe.tokens_per_s():.0f}")
        print(f"{mask}_{side}_peak_rss_mb={run.probe.peak_mb:.0f}")
    print(f"{mask}_tokens_per_s_ratio={ours.probe.tokens_per_s() / theirs.probe.tokens_per_s():.3f}")
    print(f"{mask}_peak_memory_ratio={ours.probe.peak_mb / theirs.probe.peak_mb:.3f}")
    return ours, theirs, identical, max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--dialogues", type=int, default=256, help="the first N dialogues of the file")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="conf/backbone/tiny_qwen3.yaml's")
    parser.add_argument("--betas", type=float, nargs=2, default=(0.9, 0.999))
    parser.add_argument("--eps", type=float, default=1e-8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--training-template", type=Path, default=DEFAULT_TRAINING_TEMPLATE)
    parser.add_argument("--pairings", default=",".join(PAIRINGS), help="last_sys, all_sys or both")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest loss difference allowed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data}: not found; point --data at ChatbotData.csv")
    if not args.training_template.is_file():
        raise SystemExit(f"{args.training_template}: not found; point --training-template at TRL's template")
    pairings = [p for p in args.pairings.split(",") if p]
    if unknown := set(pairings) - set(PAIRINGS):
        raise SystemExit(f"--pairings: unknown {sorted(unknown)}; use {', '.join(PAIRINGS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "transformers", "trl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    wall = time.perf_counter()

    backbone = build_tiny(BACKBONE)
    print(f"device=cpu torch_threads={torch.get_num_threads()} cpu_count={os.cpu_count()}")
    print(f"torch={torch.__version__} transformers={transformers.__version__} trl={trl.__version__}")
    print(f"pytorch_lightning={pl.__version__} datasets={datasets.__version__}")
    print(f"backbone={BACKBONE} dir={backbone}")
    print(f"dialogues={args.dialogues} batch_size={args.batch_size} steps={args.steps} seed={args.seed}")
    print(f"lr={args.lr} betas={tuple(args.betas)} eps={args.eps} max_length={args.max_length}")
    totals = {"maeum": [0, 0.0, 0.0], "trl": [0, 0.0, 0.0]}  # tokens, seconds, highest peak MB
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-sft-") as tmp:
        for n, mask in enumerate(pairings):
            ours, theirs, identical, gap = compare(args, backbone, mask, n % 2 == 0, Path(tmp))
            ok = ok and identical and gap <= args.tolerance
            for side, run in (("maeum", ours), ("trl", theirs)):
                p = run.probe
                totals[side][0] += sum(p.tokens[1:])
                totals[side][1] += p.step_ends[-1] - p.step_ends[0]
                totals[side][2] = max(totals[side][2], p.peak_mb)
    rates = {side: tokens / seconds for side, (tokens, seconds, _) in totals.items()}
    print("tokens_counted=non-pad tokens (attention_mask) of steps 2.., the same batches on both sides")
    print(f"sft_tokens_per_s_maeum={rates['maeum']:.0f}")
    print(f"sft_tokens_per_s_trl={rates['trl']:.0f}")
    print(f"sft_tokens_per_s_ratio={rates['maeum'] / rates['trl']:.3f}")
    print(f"sft_peak_rss_mb_maeum={totals['maeum'][2]:.0f}")
    print(f"sft_peak_rss_mb_trl={totals['trl'][2]:.0f}")
    print(f"sft_peak_memory_ratio={totals['maeum'][2] / totals['trl'][2]:.3f}")
    print(f"masks_match={ok}")
    print(f"wall_s={time.perf_counter() - wall:.0f}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
