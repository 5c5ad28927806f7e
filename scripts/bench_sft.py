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
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
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
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from maeum.backbones import build_tiny
from maeum.data.dialogue.chat_template import messages_of
from maeum.data.dialogue.datamodule import DialogueDataModule
from maeum.data.dialogue.encoding import encode_dialogues
from maeum.data.dialogue.readers import read_chatbotdata
from maeum.data.dialogue.records import ChatTemplate, Dialogue
from maeum.data.records import ReadResult
from maeum.models.chat_lm import ChatLM

try:  # TRL (and the `datasets` it brings) are the benchmark's, not maeum's: the `bench` extra
    import datasets
    from trl import SFTConfig, SFTTrainer
except ImportError as err:
    raise SystemExit(
        f"bench_sft.py compares maeum with TRL, which is not installed ({err}): pip install 'maeum[bench]'"
        " (or pip install 'trl>=1.16')"
    ) from None

DEFAULT_TRAINING_TEMPLATE = TOKENIZERS / "trl-templates" / "qwen3_training.jinja"
BACKBONE = "tiny_qwen3"
# what the tokens of tokens_per_s are (the tokens_counted line)
TOKENS_COUNTED = "non-pad tokens (attention_mask) of steps 2.., the same batches on both sides"
PAIRINGS = {  # maeum's label mask -> TRL's option
    "last_sys": "completion_only_loss",
    "all_sys": "assistant_only_loss",
}


# --------------------------------------------------------------------------------------------- data
def first_rows(n: int) -> Callable[[str], ReadResult[Dialogue]]:
    """ChatbotData's reader (condition = the label's name), keeping the first `n` dialogues."""

    def read(path: str) -> ReadResult[Dialogue]:
        result = read_chatbotdata(path, condition="name")
        if len(result.records) < n:
            raise SystemExit(f"{path} has {len(result.records)} dialogues, fewer than --dialogues {n}")
        return replace(result, records=result.records[:n])

    return read


class InOrderDialogues(InOrderTrainLoader, DialogueDataModule):
    """maeum's DataModule with the train loader in file order (its own shuffles), as TRL's `sequential`."""


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
class ProbedSFTTrainer(ProbedTraining, SFTTrainer):
    """`SFTTrainer` that hands each micro-batch and its loss to a `Probe` (as the Lightning callback does)."""


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
    module = ChatLM(backbone=str(backbone), optimizer=adamw(args), scheduler=None, warmup_ratio=0.0)
    probe = Probe()
    trainer = lightning_trainer(args.steps, probe)
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
        **trl_training_args(args, out, SFTConfig), shuffle_dataset=False, packing=False,
        max_length=args.max_length, completion_only_loss=True if mask == "last_sys" else None,
        assistant_only_loss=mask == "all_sys",
        chat_template_path=str(args.training_template) if mask == "all_sys" else None,
    )  # fmt: skip
    trainer = ProbedSFTTrainer(
        model=model, args=config, train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer
    )
    if len(trainer.train_dataset) != len(rows):
        raise SystemExit(f"TRL dropped {len(rows) - len(trainer.train_dataset)} rows while preparing them")
    setup_s = time.perf_counter() - start
    trainer.train()
    return Run(trainer.probe, optimizer_settings(trainer.optimizer), setup_s, model.is_gradient_checkpointing)


# ------------------------------------------------------------------------------------------ compare
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
    print(f"{mask}_target_tokens={ours.probe.target_tokens}")
    print(f"{mask}_checkpointing maeum={ours.checkpointing} trl={theirs.checkpointing}")
    gap = print_comparison(mask, "sft", runs)
    print(f"{mask}_peak_memory_ratio={ours.probe.peak_mb / theirs.probe.peak_mb:.3f}")
    return ours, theirs, identical, gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--dialogues", type=int, default=256, help="the first N dialogues of the file")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=32)
    add_optimizer_args(parser, lr=1e-3, lr_help="conf/backbone/tiny_qwen3.yaml's")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--training-template", type=Path, default=DEFAULT_TRAINING_TEMPLATE)
    parser.add_argument("--pairings", default=",".join(PAIRINGS), help="last_sys, all_sys or both")
    add_run_args(parser)
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data}: not found; point --data at ChatbotData.csv")
    if not args.training_template.is_file():
        raise SystemExit(f"{args.training_template}: not found; point --training-template at TRL's template")
    pairings = chosen(args.pairings, PAIRINGS, "--pairings")
    quiet_training(args.threads)
    wall = time.perf_counter()

    backbone = build_tiny(BACKBONE)
    print_versions()
    print(f"backbone={BACKBONE} dir={backbone}")
    print(f"dialogues={args.dialogues} batch_size={args.batch_size} steps={args.steps} seed={args.seed}")
    print(f"lr={args.lr} betas={tuple(args.betas)} eps={args.eps} max_length={args.max_length}")
    totals = Totals()
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-sft-") as tmp:
        for n, mask in enumerate(pairings):
            ours, theirs, identical, gap = compare(args, backbone, mask, n % 2 == 0, Path(tmp))
            ok = ok and identical and gap <= args.tolerance
            totals.add(ours, theirs)
    totals.print_rates("sft", TOKENS_COUNTED)
    print(f"sft_peak_memory_ratio={totals.peak_mb['maeum'] / totals.peak_mb['trl']:.3f}")
    finish("masks_match", ok, wall)


if __name__ == "__main__":
    main()
