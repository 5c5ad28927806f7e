"""Benchmark: maeum's `PreferenceLM` (DPO) against TRL's `DPOTrainer`, side by side in one process, on the
same preference pairs.

An independent oracle for maeum's DPO (the sigmoid loss over the summed log-probabilities of each reply's
target tokens, against a frozen reference) and for the pairs its `PreferenceDataModule` lays out. Two layouts:

* `plain`: the KoGPT2 marker layout (`data/template=chat`) on `tiny_gpt2`; TRL gets the standard
  (string) prompt `<usr>{question}<unused1>{condition}<sys>` and the replies as text, and appends the
  tokenizer's eos `</s>` to them itself (the layout's closing token);
* `chat_template`: the tokenizer's own chat template (`data/template=chat_template`) on `tiny_qwen3` (or
  `tiny_llama3` where `$MAEUM_CHAT_TOKENIZERS/qwen3-0.6b` is missing); TRL gets conversational data,
  prompt = the system message `사용자의 감정: {condition}` and the user message (built by maeum's
  `messages_of`), chosen and rejected = one assistant message each, and renders them with the template.

TRL tokenizes the text itself (not maeum's ids): so its own prompt/completion split, eos handling and
chat-template rendering check maeum's, and every step's ids are compared (below), which proves them equal.
Both sides train the same tiny twin (both load its directory: the same initial weights, checked by digest),
with a reference = a frozen copy of the initial model (maeum's own; TRL creates its own, `ref_model=None`),
on the same pairs: ChatbotData's first `--pairs` rows taken evenly over its labels (`--pairs`/3 of each, in
file order: the file is sorted by label, so its first rows share one label, and the contrastive draw finds
no reply of another label for them), the rejected reply = maeum's `Contrastive` draw (seed 0). Both read
the pairs in file order, `--batch-size` pairs a step, for `--steps` steps of AdamW (the same lr, betas and
eps, weight_decay 0, a constant LR with no warmup), fp32, no gradient clipping, no gradient checkpointing,
beta `--beta`, TRL's `loss_type=["sigmoid"]` (no label smoothing, `ld_alpha`, WPO weighting or SFT term),
no precomputed reference log-probabilities, no truncation (TRL `max_length=None`; maeum's `--max-length`
cuts nothing: checked). Dropout is off on both sides: TRL's `disable_dropout=True` and maeum's
`model.disable_dropout=true` (both defaults; tiny_gpt2's config has GPT-2's dropouts of 0.1), and the
backbone's config sets them to 0 as well. maeum trains with its `PreferenceDataModule`
(`PreferenceCollator`; the train loader in file order) and a `pytorch_lightning.Trainer` (CPU,
logger=False, no checkpointing, no progress bar); its
reference is loaded before training (it loads it on the first step otherwise), as TRL's is. TRL runs
`DPOTrainer` at its defaults otherwise: its fused LM head (log-probabilities in chunks; off Triton devices
every position is scored and the logits are recomputed in the backward pass), its metrics every step and a
log every 10 steps (its printed line left out of stdout).

Every step's batch is compared as the model sees it, chosen rows then rejected rows, (2B, T):
`input_ids` (where attended: the pad ids differ and are never attended), `attention_mask` and the labels
(maeum's `response_labels`/`rejected_labels`; TRL's `input_ids` outside its `completion_mask` set to -100):
`<layout>_batches_identical`, the first row that differs printed token by token. Also checked per layout:
the initial weights of both models and both references (`<layout>_initial_weights_equal`), that no module
drops activations (`<layout>_dropout`), that neither side checkpoints activations and that the optimizers
that stepped have the same settings. Printed per layout: both loss curves, `dpo_loss_max_abs_diff_<layout>`
(the largest |difference| of the per-step training losses), tokens per second (the non-pad tokens of the
chosen and rejected rows, the same on both sides, over the loop's wall time from the end of step 1 to the
end of the last step: each side's setup and first step are left out of the timing, no run is discarded)
and the peak RSS above what the process held when training began (model, reference and optimizer built:
`VmHWM` after `echo 5 > /proc/self/clear_refs`, with freed heap returned by `malloc_trim` first). Then
`dpo_loss_max_abs_diff` (over layouts), `dpo_tokens_per_s_ratio` (maeum over TRL, both layouts' tokens over
their time) and `dpo_peak_memory_ratio` (maeum's highest peak over TRL's). The sides run maeum first in
the first layout and TRL first in the second. Exit status 1 when a check fails (batches, weights, dropout,
checkpointing, optimizer) or a loss difference exceeds `--tolerance`.

    pip install 'maeum[bench]'   # TRL, which maeum itself does not need
    python scripts/bench_dpo.py [--data ../shared/data/chatbotdata/ChatbotData.csv] [--pairs 256]
        [--batch-size 8] [--steps 24] [--lr 1e-4] [--beta 0.1] [--max-length 128]
        [--layouts plain,chat_template] [--threads 2]

`tiny_qwen3` needs `$MAEUM_CHAT_TOKENIZERS/qwen3-0.6b` (see `maeum.backbones.tiny_chat`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import hashlib
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
from maeum.backbones.tiny_chat import CHAT_TOKENIZERS_ENV
from maeum.data.dialogue.chat_template import messages_of
from maeum.data.dialogue.readers import read_chatbotdata
from maeum.data.dialogue.records import IGNORE_INDEX, ChatTemplate, Dialogue, Template
from maeum.data.preference.datamodule import PreferenceDataModule
from maeum.data.preference.pairs import Contrastive
from maeum.data.records import ReadResult
from maeum.models.preference import PreferenceLM, _concatenated

try:  # TRL (and the `datasets` it brings) are the benchmark's, not maeum's: the `bench` extra
    import datasets
    import trl
    from trl import DPOConfig, DPOTrainer
except ImportError as err:
    raise SystemExit(
        f"bench_dpo.py compares maeum with TRL, which is not installed ({err}): pip install 'maeum[bench]'"
        " (or pip install 'trl>=1.16')"
    ) from None

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_DATA = SHARED / "chatbotdata" / "ChatbotData.csv"
TOKENIZERS = Path(os.environ.get(CHAT_TOKENIZERS_ENV) or SHARED / "chat-tokenizers")
LAYOUTS = {  # layout -> (backbone, its fallback when the first needs a tokenizer that is missing)
    "plain": ("tiny_gpt2", None),
    "chat_template": ("tiny_qwen3", "tiny_llama3"),
}
REAL_TOKENIZERS = {"tiny_qwen3": "qwen3-0.6b"}  # twins around a real tokenizer under $MAEUM_CHAT_TOKENIZERS
FIELDS = ("input_ids", "attention_mask", "labels")
# TrainingArguments' gradient_checkpointing became activation_checkpointing (the old name, an alias, warns)
_NAMES = ("activation_checkpointing", "gradient_checkpointing")
CHECKPOINTING = next(n for n in _NAMES if n in DPOConfig.__dataclass_fields__)


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
    """What one side's training loop did: its batches (as the model sees them), losses, step-end times and
    peak RSS."""

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
        """Non-pad tokens of every step's chosen and rejected rows."""
        return [int(b["attention_mask"].sum()) for b in self.batches]

    def tokens_per_s(self) -> float:
        """Tokens of steps 2.. over the time from the end of step 1 to the end of the last step."""
        if len(self.step_ends) < 2:
            raise SystemExit("--steps must be at least 2 (the first step is the warm-up)")
        return sum(self.tokens[1:]) / (self.step_ends[-1] - self.step_ends[0])

    @property
    def peak_mb(self) -> float:
        return (self.peak_kb - self.base_kb) / 1024


def digest(model: torch.nn.Module) -> str:
    """A hash of a model's weights (its state dict, by name): equal digests, equal initial weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def checkpointing(model: Any) -> bool:
    """Whether the model recomputes activations in the backward pass (transformers' new name, or the old)."""
    flag = getattr(model, "is_activation_checkpointing", None)
    return bool(model.is_gradient_checkpointing if flag is None else flag)


def active_dropout(model: torch.nn.Module) -> list[str]:
    """The modules that would drop activations in training: `nn.Dropout` with p > 0, or attention modules
    whose `attention_dropout` rate is above 0 (Llama, Qwen)."""
    return [
        name
        for name, m in model.named_modules()
        if (isinstance(m, torch.nn.Dropout) and m.p > 0)
        or (isinstance(getattr(m, "attention_dropout", None), float) and m.attention_dropout > 0)
    ]


def dropout_off(backbone: Path) -> dict[str, float]:
    """Config overrides that zero every dropout rate the backbone's config sets (maeum's backbone_config)."""
    config = transformers.AutoConfig.from_pretrained(backbone).to_dict()
    return {
        k: 0.0
        for k, v in config.items()
        if ("dropout" in k or "pdrop" in k) and isinstance(v, float) and v > 0
    }


# --------------------------------------------------------------------------------------------- data
def head_by_condition(n: int) -> Callable[[str], ReadResult[Dialogue]]:
    """ChatbotData's reader (condition = the label's name), keeping the first n/k dialogues of each of its
    k labels (the first n % k labels one more), in file order."""

    def read(path: str) -> ReadResult[Dialogue]:
        result = read_chatbotdata(path, condition="name")
        labels = list(dict.fromkeys(d.condition for d in result.records))  # by first appearance
        quota = {label: n // len(labels) + (k < n % len(labels)) for k, label in enumerate(labels)}
        seen: Counter[str | None] = Counter()
        kept = []
        for d in result.records:
            if seen[d.condition] < quota[d.condition]:
                seen[d.condition] += 1
                kept.append(d)
        if len(kept) < n:
            raise SystemExit(f"{path} has {len(kept)} dialogues to take evenly by label, not --pairs {n}")
        return replace(result, records=kept)

    return read


class InOrderPairs(PreferenceDataModule):
    """maeum's preference DataModule with the train loader in file order (its own shuffles), as TRL's
    `sequential` sampler."""

    def train_dataloader(self) -> StatefulDataLoader:
        return StatefulDataLoader(
            self.datasets["train"], batch_size=self.batch_size, shuffle=False, collate_fn=self.collator()
        )


def maeum_data(args: argparse.Namespace, backbone: Path, layout: str) -> InOrderPairs:
    """maeum's preference pairs of the first `--pairs` dialogues, all in the train split."""
    template: Any = "chat" if layout == "plain" else ChatTemplate()
    datamodule = InOrderPairs(
        reader=head_by_condition(args.pairs), path=str(args.data), tokenizer=str(backbone),
        rejected=Contrastive(seed=0), template=template, max_length=args.max_length,
        batch_size=args.batch_size, val_fraction=0.0, test_fraction=0.0, seed=args.seed, cache_dir=None,
    )  # fmt: skip
    datamodule.setup("fit")
    return datamodule


def trl_rows(datamodule: InOrderPairs, layout: str) -> list[dict[str, Any]]:
    """The TRL dataset (prompt, chosen, rejected) of maeum's kept training pairs, in their order: text for
    the marker layout (TRL appends eos), messages for the chat template. The rejected replies are drawn
    again, as the DataModule drew them (the same source, the same split: the same replies)."""
    corpus = datamodule.corpus
    split = corpus.split("train")
    replies = [(r or "").strip() for r in datamodule.rejected(split, datamodule)]
    position = {row: k for k, row in enumerate(corpus.indices["train"])}
    tokenizer, template = datamodule.tokenizer, datamodule.template
    rows = []
    for row in datamodule.datasets["train"].indices:
        d, rejected = corpus.dialogues[row], replies[position[row]]
        if len(d.turns) != 2:
            raise SystemExit(f"bench_dpo.py lays out single-exchange dialogues only; got {d}")
        if layout == "plain":
            t: Template = template
            condition = f"{t.condition}{d.condition}" if d.condition else ""
            prompt = f"{''.join(t.prefix)}{t.usr}{d.turns[0].text}{condition}{t.sys}"
            rows.append({"prompt": prompt, "chosen": d.turns[1].text, "rejected": rejected})
        else:
            messages = messages_of(d.turns, d.condition, tokenizer, template)
            reply = {"role": "assistant", "content": rejected}
            rows.append({"prompt": messages[:-1], "chosen": messages[-1:], "rejected": [reply]})
    return rows


def maeum_model_batch(batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """maeum's batch as its model sees it: chosen rows, then rejected rows, padded to one length (what
    `PreferenceLM.pair_logps` builds, by the same function)."""
    return normalised(*_concatenated(batch))


def trl_model_batch(inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """TRL's batch (chosen rows, then rejected rows) with the labels its `_compute_loss` derives."""
    labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, IGNORE_INDEX)
    return normalised(inputs["input_ids"], inputs["attention_mask"], labels)


def normalised(ids: Tensor, mask: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """The ids with every padded position set to -1 (the sides pad with different ids, never attended)."""
    return {"input_ids": ids.masked_fill(mask == 0, -1), "attention_mask": mask, "labels": labels}


# ------------------------------------------------------------------------------------------- sides
class LightningProbe(Callback):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.probe.start()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.probe.batch(maeum_model_batch(batch))

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


class ProbedDPOTrainer(DPOTrainer):
    """`DPOTrainer` that hands each micro-batch and its loss to a `Probe` (as the Lightning callback does)."""

    probe: Probe

    def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Tensor:
        self.probe.batch(trl_model_batch(inputs))
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.probe.loss(loss)
        return loss


@dataclass
class Run:
    probe: Probe
    optimizer: dict[str, Any]  # the hyperparameters of the optimizer that actually stepped
    setup_s: float
    checkpointing: bool  # whether the model recomputed activations (it must not, on either side)
    digests: tuple[str, str]  # the initial weights of the model and of its reference
    dropout: list[str]  # modules of the model or the reference that drop activations (must be none)
    longest: int = 0  # TRL: its longest untruncated row (prompt and the longer reply), in tokens


def optimizer_settings(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The class and hyperparameters of the optimizer under accelerate's and Lightning's wrappers."""
    optimizer = getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer
    keys = ("lr", "betas", "eps", "weight_decay", "amsgrad", "foreach", "fused", "maximize")
    groups = [{k: tuple(g[k]) if k == "betas" else g[k] for k in keys} for g in optimizer.param_groups]
    return {"class": type(optimizer).__name__, "groups": sorted({repr(g) for g in groups})}


def train_maeum(args: argparse.Namespace, backbone: Path, datamodule: InOrderPairs) -> Run:
    start = time.perf_counter()
    pl.seed_everything(args.seed, verbose=False)
    optimizer = {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": args.lr,
                 "betas": list(args.betas), "eps": args.eps, "weight_decay": 0.0}  # fmt: skip
    module = PreferenceLM(
        backbone=str(backbone), optimizer=optimizer, scheduler=None, warmup_ratio=0.0, beta=args.beta,
        sft_weight=0.0, backbone_config=dropout_off(backbone),
    )  # fmt: skip
    # the reference loaded now, not on the first step: held before training begins, as TRL's is
    with module._reference() as reference:
        digests = (digest(module.model), digest(reference))
    probe = Probe()
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, precision="32-true", max_steps=args.steps, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, num_sanity_val_steps=0, callbacks=[LightningProbe(probe)],
    )  # fmt: skip
    setup_s = time.perf_counter() - start
    trainer.fit(module, train_dataloaders=datamodule.train_dataloader())
    with module._reference() as reference:
        dropout = active_dropout(module.model) + [f"reference.{n}" for n in active_dropout(reference)]
    optimizer_used = optimizer_settings(trainer.optimizers[0])
    return Run(probe, optimizer_used, setup_s, checkpointing(module.model), digests, dropout)


def train_trl(args: argparse.Namespace, backbone: Path, rows: list[dict[str, Any]], out: Path) -> Run:
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model = transformers.AutoModelForCausalLM.from_pretrained(backbone, dtype=torch.float32)
    config = DPOConfig(
        output_dir=str(out), use_cpu=True, bf16=False, fp16=False, seed=args.seed, data_seed=args.seed,
        max_steps=args.steps, per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=1,
        train_sampling_strategy="sequential", dataloader_num_workers=0, dataloader_pin_memory=False,
        optim="adamw_torch", learning_rate=args.lr, adam_beta1=args.betas[0], adam_beta2=args.betas[1],
        adam_epsilon=args.eps, weight_decay=0.0, lr_scheduler_type="constant", warmup_steps=0,
        max_grad_norm=0.0, beta=args.beta, loss_type=["sigmoid"], loss_weights=None, label_smoothing=0.0,
        ld_alpha=None, use_weighting=False, f_divergence_type="reverse_kl", precompute_ref_log_probs=False,
        sync_ref_model=False, disable_dropout=True, padding_free=False, pad_to_multiple_of=None,
        max_length=None, save_strategy="no", report_to="none", disable_tqdm=True,
        **{CHECKPOINTING: False},  # TRL turns it on by default
    )  # fmt: skip
    trainer = ProbedDPOTrainer(
        model=model, ref_model=None, args=config, train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
    )  # fmt: skip
    trainer.probe = Probe()
    trainer.add_callback(HFProbe(trainer.probe))
    trainer.remove_callback(PrinterCallback)  # its log lines (every 10 steps) would mix with ours on stdout
    if len(trainer.train_dataset) != len(rows):
        raise SystemExit(f"TRL dropped {len(rows) - len(trainer.train_dataset)} pairs while preparing them")
    digests = (digest(model), digest(trainer.ref_model))  # ref_model: TRL's own copy (accelerate's is itself)
    setup_s = time.perf_counter() - start
    trainer.train()
    dropout = active_dropout(model) + [f"reference.{n}" for n in active_dropout(trainer.ref_model)]
    prepared = trainer.train_dataset
    longest = max(len(r["prompt_ids"]) + max(len(r["chosen_ids"]), len(r["rejected_ids"])) for r in prepared)
    optimizer = optimizer_settings(trainer.optimizer)
    return Run(trainer.probe, optimizer, setup_s, checkpointing(model), digests, dropout, longest)


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
        shown = a if a >= 0 else b
        token = tokenizer.decode([shown]) if shown >= 0 else ""
        print(f"{pos:>4} {a:>9} {role_a:>6} {b:>9} {role_b:>6}  {token!r}{flag}")


def compare(
    args: argparse.Namespace, layout: str, backbone: Path, maeum_first: bool, out: Path
) -> tuple[Run, Run, bool, float]:
    """Train both sides on one layout; print its figures. Returns the runs, whether all checks held (batches,
    initial weights, dropout, checkpointing), and the largest loss difference."""
    datamodule = maeum_data(args, backbone, layout)
    drops = {split: dict(c) for split, c in datamodule.pair_drops.items() if c}
    if drops:
        raise SystemExit(f"{layout}: maeum dropped pairs {drops}: raise --max-length")
    rows = trl_rows(datamodule, layout)
    runs: dict[str, Run] = {}
    for side in ("maeum", "trl") if maeum_first else ("trl", "maeum"):
        if side == "maeum":
            runs["maeum"] = train_maeum(args, backbone, datamodule)
        else:
            runs["trl"] = train_trl(args, backbone, rows, out / layout)
    ours, theirs = runs["maeum"], runs["trl"]
    longest = theirs.longest
    if longest > args.max_length:  # TRL truncates nothing (max_length=None): maeum's rows must be whole too
        raise SystemExit(f"{layout}: --max-length {args.max_length} cuts rows of {longest} tokens: raise it")
    print(f"{layout}_backbone={backbone.name.rsplit('-', 1)[0]} dir={backbone}")
    plain = layout == "plain"
    print(f"{layout}_template={'chat (KoGPT2 markers)' if plain else 'chat_template (its own)'}")
    print(f"{layout}_trl_input={'text (standard)' if plain else 'messages (conversational)'}")
    print(f"{layout}_pairs={len(rows)} dropped=0 longest_row_tokens={longest} truncated_rows=0")
    first = first_difference(ours.probe.batches, theirs.probe.batches)
    identical = first is None and len(ours.probe.batches) == len(theirs.probe.batches) == args.steps
    print(f"{layout}_batches_identical={identical}")
    if first is not None:
        step, row = first
        half = len(ours.probe.batches[step]["input_ids"]) // 2  # the step's pairs
        pair = (step * args.batch_size + row % half) % len(rows)
        side = "chosen" if row < half else "rejected"
        print(f"{layout}_first_difference: step {step + 1}, row {row} ({side} of pair {pair}): {rows[pair]}")
        show_row(datamodule.tokenizer, ours.probe.batches[step], theirs.probe.batches[step], row)
    weights_equal = len({ours.digests[0], theirs.digests[0], ours.digests[1], theirs.digests[1]}) == 1
    print(f"{layout}_initial_weights_equal={weights_equal}")  # model and reference, on both sides
    print(f"{layout}_dropout maeum={ours.dropout or 'off'} trl={theirs.dropout or 'off'}")
    print(f"{layout}_checkpointing maeum={ours.checkpointing} trl={theirs.checkpointing}")
    targets = sum(int((b["labels"] != IGNORE_INDEX).sum()) for b in ours.probe.batches)
    print(f"{layout}_target_tokens={targets}")
    print(f"{layout}_optimizers_equal={ours.optimizer == theirs.optimizer} optimizer={ours.optimizer}")
    if ours.optimizer != theirs.optimizer:
        print(f"{layout}_trl_optimizer={theirs.optimizer}")
    for side, run in runs.items():
        print(f"{layout}_{side}_losses=" + ",".join(f"{x:.6f}" for x in run.probe.losses))
    gaps = [abs(a - b) for a, b in zip(ours.probe.losses, theirs.probe.losses, strict=True)]
    print(f"dpo_loss_max_abs_diff_{layout}={max(gaps):.2e}")
    for side, run in runs.items():
        print(f"{layout}_{side}_setup_s={run.setup_s:.1f}")
        print(f"{layout}_{side}_tokens_per_s={run.probe.tokens_per_s():.0f}")
        print(f"{layout}_{side}_peak_rss_mb={run.probe.peak_mb:.0f}")
    print(f"{layout}_tokens_per_s_ratio={ours.probe.tokens_per_s() / theirs.probe.tokens_per_s():.3f}")
    print(f"{layout}_peak_memory_ratio={ours.probe.peak_mb / max(theirs.probe.peak_mb, 1e-9):.3f}")
    checks = identical and weights_equal and ours.optimizer == theirs.optimizer
    checks = checks and not (ours.dropout or theirs.dropout or ours.checkpointing or theirs.checkpointing)
    return ours, theirs, checks, max(gaps)


def backbone_of(layout: str) -> Path:
    """The layout's tiny twin, built (its fallback where the first needs a real tokenizer that is missing)."""
    name, fallback = LAYOUTS[layout]
    folder = REAL_TOKENIZERS.get(name)
    if folder and not (TOKENIZERS / folder).is_dir() and fallback:
        print(f"{layout}_fallback=no {TOKENIZERS / folder} for {name}: {fallback} instead")
        name = fallback
    os.environ.setdefault(CHAT_TOKENIZERS_ENV, str(TOKENIZERS))  # where build_tiny looks for it
    return build_tiny(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pairs", type=int, default=256, help="the first N dialogues, evenly by label")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs a step")
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--lr", type=float, default=1e-4, help="experiment=preference/chatbotdata_tiny's")
    parser.add_argument("--betas", type=float, nargs=2, default=(0.9, 0.999))
    parser.add_argument("--eps", type=float, default=1e-8)
    parser.add_argument("--beta", type=float, default=0.1, help="DPO's beta (conf/model/preference.yaml's)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="plain, chat_template or both")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest loss difference allowed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data}: not found; point --data at ChatbotData.csv")
    layouts = [x for x in args.layouts.split(",") if x]
    if unknown := set(layouts) - set(LAYOUTS):
        raise SystemExit(f"--layouts: unknown {sorted(unknown)}; use {', '.join(LAYOUTS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "transformers", "trl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    wall = time.perf_counter()

    print(f"device=cpu torch_threads={torch.get_num_threads()} cpu_count={os.cpu_count()}")
    print(f"torch={torch.__version__} transformers={transformers.__version__} trl={trl.__version__}")
    print(f"pytorch_lightning={pl.__version__} datasets={datasets.__version__}")
    print(f"pairs={args.pairs} batch_size={args.batch_size} steps={args.steps} seed={args.seed}")
    print(f"lr={args.lr} betas={tuple(args.betas)} eps={args.eps} beta={args.beta}")
    print(f"max_length={args.max_length} tolerance={args.tolerance}")
    totals = {"maeum": [0, 0.0, 0.0], "trl": [0, 0.0, 0.0]}  # tokens, seconds, highest peak MB
    ok, gap = True, 0.0
    with tempfile.TemporaryDirectory(prefix="bench-dpo-") as tmp:
        for n, layout in enumerate(layouts):
            backbone = backbone_of(layout)
            ours, theirs, checks, layout_gap = compare(args, layout, backbone, n % 2 == 0, Path(tmp))
            ok = ok and checks and layout_gap <= args.tolerance
            gap = max(gap, layout_gap)
            for side, run in (("maeum", ours), ("trl", theirs)):
                p = run.probe
                totals[side][0] += sum(p.tokens[1:])
                totals[side][1] += p.step_ends[-1] - p.step_ends[0]
                totals[side][2] = max(totals[side][2], p.peak_mb)
    rates = {side: tokens / seconds for side, (tokens, seconds, _) in totals.items()}
    print(f"dpo_loss_max_abs_diff={gap:.2e}")
    print("tokens_counted=non-pad tokens of the chosen and rejected rows of steps 2.., equal on both sides")
    print(f"dpo_tokens_per_s_maeum={rates['maeum']:.0f}")
    print(f"dpo_tokens_per_s_trl={rates['trl']:.0f}")
    print(f"dpo_tokens_per_s_ratio={rates['maeum'] / rates['trl']:.3f}")
    print(f"dpo_peak_rss_mb_maeum={totals['maeum'][2]:.0f}")
    print(f"dpo_peak_rss_mb_trl={totals['trl'][2]:.0f}")
    print(f"dpo_peak_memory_ratio={totals['maeum'][2] / max(totals['trl'][2], 1e-9):.3f}")
    print(f"losses_match={ok}")
    print(f"wall_s={time.perf_counter() - wall:.0f}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
