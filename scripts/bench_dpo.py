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
import hashlib
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import transformers
from bench_common import (
    DEFAULT_DATA,
    TOKENIZERS,
    InOrderTrainLoader,
    Probe,
    ProbedTraining,
    Run,
    Totals,
    adamw,
    add_optimizer_args,
    add_run_args,
    chosen,
    finish,
    first_difference,
    lightning_trainer,
    optimizer_settings,
    print_comparison,
    print_versions,
    quiet_training,
    show_row,
    trl_training_args,
)
from torch import Tensor
from transformers import AutoTokenizer

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
    from trl import DPOConfig, DPOTrainer
except ImportError as err:
    raise SystemExit(
        f"bench_dpo.py compares maeum with TRL, which is not installed ({err}): pip install 'maeum[bench]'"
        " (or pip install 'trl>=1.16')"
    ) from None

LAYOUTS = {  # layout -> (backbone, its fallback when the first needs a tokenizer that is missing)
    "plain": ("tiny_gpt2", None),
    "chat_template": ("tiny_qwen3", "tiny_llama3"),
}
REAL_TOKENIZERS = {"tiny_qwen3": "qwen3-0.6b"}  # twins around a real tokenizer under $MAEUM_CHAT_TOKENIZERS
# what the tokens of tokens_per_s are (the tokens_counted line)
TOKENS_COUNTED = "non-pad tokens of the chosen and rejected rows of steps 2.., equal on both sides"


# ------------------------------------------------------------------------------------------- checks
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


class InOrderPairs(InOrderTrainLoader, PreferenceDataModule):
    """maeum's preference DataModule with the train loader in file order (its own shuffles), as TRL's
    `sequential` sampler."""


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
class ProbedDPOTrainer(ProbedTraining, DPOTrainer):
    """`DPOTrainer` that hands each micro-batch and its loss to a `Probe` (as the Lightning callback does)."""

    def probe_view(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """TRL's batch as its model sees it, chosen rows then rejected rows (`trl_model_batch`)."""
        return trl_model_batch(inputs)


@dataclass
class PairRun(Run):
    """One side's run, with what DPO checks besides: the initial weights, the dropout and TRL's rows."""

    digests: tuple[str, str]  # the initial weights of the model and of its reference
    dropout: list[str]  # modules of the model or the reference that drop activations (must be none)
    longest: int = 0  # TRL: its longest untruncated row (prompt and the longer reply), in tokens


def train_maeum(args: argparse.Namespace, backbone: Path, datamodule: InOrderPairs) -> PairRun:
    start = time.perf_counter()
    pl.seed_everything(args.seed, verbose=False)
    module = PreferenceLM(
        backbone=str(backbone), optimizer=adamw(args), scheduler=None, warmup_ratio=0.0, beta=args.beta,
        sft_weight=0.0, backbone_config=dropout_off(backbone),
    )  # fmt: skip
    # the reference loaded now, not on the first step: held before training begins, as TRL's is
    with module._reference() as reference:
        digests = (digest(module.model), digest(reference))
    probe = Probe()
    trainer = lightning_trainer(args.steps, probe, view=maeum_model_batch)
    setup_s = time.perf_counter() - start
    trainer.fit(module, train_dataloaders=datamodule.train_dataloader())
    with module._reference() as reference:
        dropout = active_dropout(module.model) + [f"reference.{n}" for n in active_dropout(reference)]
    optimizer_used = optimizer_settings(trainer.optimizers[0])
    return PairRun(probe, optimizer_used, setup_s, checkpointing(module.model), digests, dropout)


def train_trl(args: argparse.Namespace, backbone: Path, rows: list[dict[str, Any]], out: Path) -> PairRun:
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model = transformers.AutoModelForCausalLM.from_pretrained(backbone, dtype=torch.float32)
    config = DPOConfig(
        **trl_training_args(args, out, DPOConfig), beta=args.beta, loss_type=["sigmoid"], loss_weights=None,
        label_smoothing=0.0, ld_alpha=None, use_weighting=False, f_divergence_type="reverse_kl",
        precompute_ref_log_probs=False, sync_ref_model=False, disable_dropout=True, pad_to_multiple_of=None,
        max_length=None,
    )  # fmt: skip
    trainer = ProbedDPOTrainer(
        model=model, ref_model=None, args=config, train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
    )  # fmt: skip
    if len(trainer.train_dataset) != len(rows):
        raise SystemExit(f"TRL dropped {len(rows) - len(trainer.train_dataset)} pairs while preparing them")
    digests = (digest(model), digest(trainer.ref_model))  # ref_model: TRL's own copy (accelerate's is itself)
    setup_s = time.perf_counter() - start
    trainer.train()
    dropout = active_dropout(model) + [f"reference.{n}" for n in active_dropout(trainer.ref_model)]
    prepared = trainer.train_dataset
    longest = max(len(r["prompt_ids"]) + max(len(r["chosen_ids"]), len(r["rejected_ids"])) for r in prepared)
    optimizer = optimizer_settings(trainer.optimizer)
    return PairRun(trainer.probe, optimizer, setup_s, checkpointing(model), digests, dropout, longest)


# ------------------------------------------------------------------------------------------ compare
def compare(
    args: argparse.Namespace, layout: str, backbone: Path, maeum_first: bool, out: Path
) -> tuple[PairRun, PairRun, bool, float]:
    """Train both sides on one layout; print its figures. Returns the runs, whether all checks held (batches,
    initial weights, dropout, checkpointing), and the largest loss difference."""
    datamodule = maeum_data(args, backbone, layout)
    drops = {split: dict(c) for split, c in datamodule.pair_drops.items() if c}
    if drops:
        raise SystemExit(f"{layout}: maeum dropped pairs {drops}: raise --max-length")
    rows = trl_rows(datamodule, layout)
    runs: dict[str, PairRun] = {}
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
    print(f"{layout}_target_tokens={ours.probe.target_tokens}")
    gap = print_comparison(layout, "dpo", runs)
    print(f"{layout}_peak_memory_ratio={ours.probe.peak_mb / max(theirs.probe.peak_mb, 1e-9):.3f}")
    checks = identical and weights_equal and ours.optimizer == theirs.optimizer
    checks = checks and not (ours.dropout or theirs.dropout or ours.checkpointing or theirs.checkpointing)
    return ours, theirs, checks, gap


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
    add_optimizer_args(parser, lr=1e-4, lr_help="experiment=preference/chatbotdata_tiny's")
    parser.add_argument("--beta", type=float, default=0.1, help="DPO's beta (conf/model/preference.yaml's)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="plain, chat_template or both")
    add_run_args(parser)
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data}: not found; point --data at ChatbotData.csv")
    layouts = chosen(args.layouts, LAYOUTS, "--layouts")
    quiet_training(args.threads)
    wall = time.perf_counter()

    print_versions()
    print(f"pairs={args.pairs} batch_size={args.batch_size} steps={args.steps} seed={args.seed}")
    print(f"lr={args.lr} betas={tuple(args.betas)} eps={args.eps} beta={args.beta}")
    print(f"max_length={args.max_length} tolerance={args.tolerance}")
    totals = Totals()
    ok, gap = True, 0.0
    with tempfile.TemporaryDirectory(prefix="bench-dpo-") as tmp:
        for n, layout in enumerate(layouts):
            backbone = backbone_of(layout)
            ours, theirs, checks, layout_gap = compare(args, layout, backbone, n % 2 == 0, Path(tmp))
            ok = ok and checks and layout_gap <= args.tolerance
            gap = max(gap, layout_gap)
            totals.add(ours, theirs)
    print(f"dpo_loss_max_abs_diff={gap:.2e}")
    totals.print_rates("dpo", TOKENS_COUNTED)
    print(f"dpo_peak_memory_ratio={totals.peak_mb['maeum'] / max(totals.peak_mb['trl'], 1e-9):.3f}")
    finish("losses_match", ok, wall)


if __name__ == "__main__":
    main()
