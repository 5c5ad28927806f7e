"""`maeum-tokenizer`: train a Korean tokenizer on text files, or add tokens to a backbone's tokenizer.

    maeum-tokenizer train --style kogpt2 --vocab-size 6000 --out DIR corpus/*.txt [--exclude NAME_GLOB]
    maeum-tokenizer train --style kobert --vocab-size 8002 --out DIR corpus/
    maeum-tokenizer extend tiny_gpt2 --tokens '<emotion>' '<persona>' --out DIR

`train` reads UTF-8 text files, one text per line (`maeum.data.text.documents`), holds out a share of the
lines by a hash of each (the pretraining data's validation rule), trains a KoGPT2- or KoBERT-style
tokenizer on the rest (`maeum.backbones.tokenizer_training`) and reports its size, the share of unk
tokens and the characters per token on the held-out lines. `extend` adds tokens and copies the model's
files (`maeum.backbones.extension`). Either writes `DIR/maeum_tokenizer.json` with what it did, and `DIR`
is then a `backbone.name_or_path` or `data.tokenizer` like any other. An error ends it with one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sentencepiece
import tokenizers

from maeum.backbones import load_tokenizer
from maeum.backbones.extension import REPORT, extend_tokenizer, require_empty
from maeum.backbones.tokenizer_training import (
    STYLES,
    SentencepieceSampling,
    available_cores,
    check_vocab_size,
    minimum_vocab_size,
    tokenizer_figures,
    train_tokenizer,
)
from maeum.data.text.documents import HASH_SEED, LineCorpus, expand_paths, file_lines
from maeum.errors import MaeumError

log = logging.getLogger(__name__)
ROLES = ("bos_token", "eos_token", "unk_token", "pad_token", "mask_token", "cls_token", "sep_token")


@contextmanager
def fresh_directory(out: Path) -> Iterator[Path]:
    """A temporary sibling of `out` to write into, renamed to `out` when the block succeeds."""
    require_empty(out)
    tmp = out.with_name(f"{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if out.is_dir():
            out.rmdir()  # empty, as required
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def train_command(args: argparse.Namespace) -> dict[str, Any]:
    """`maeum-tokenizer train`: read, train, measure on the held-out lines, write the report."""
    check_vocab_size(args.style, args.vocab_size)  # before the files are read
    require_empty(args.out)
    corpus = LineCorpus(expand_paths(args.files, args.exclude), args.heldout_fraction, args.seed)
    counts = corpus.summary()
    log.info(
        "Read %d lines from %d file(s): %d blank, %d held out, %d to train on",
        counts["lines"], len(corpus.paths), counts["blank"], counts["heldout"], counts["trained"],
    )  # fmt: skip
    threads = args.threads or available_cores()
    sampling = SentencepieceSampling(args.max_sentences, seed=args.seed, num_threads=threads)
    started = time.perf_counter()
    with fresh_directory(args.out) as tmp:
        log.info("Training a %s tokenizer of %d tokens", args.style, args.vocab_size)
        train_tokenizer(
            args.style,
            corpus,
            tmp,
            args.vocab_size,
            character_coverage=args.character_coverage,
            sampling=sampling,
        )
        seconds = time.perf_counter() - started
        tokenizer = load_tokenizer(str(tmp))
        report = {
            "command": "train",
            "style": args.style,
            "vocab_size_requested": args.vocab_size,
            "vocab_size_minimum": minimum_vocab_size(args.style),
            "vocab_size": len(tokenizer),
            "special_ids": {
                role: getattr(tokenizer, f"{role}_id") for role in ROLES if getattr(tokenizer, role, None)
            },
            "character_coverage": args.character_coverage,
            "heldout": tokenizer_figures(tokenizer, corpus.heldout),
            "corpus": counts,
            "train_seconds": round(seconds, 1),
            "threads": threads if args.style == "kobert" else None,
            "versions": {"tokenizers": tokenizers.__version__, "sentencepiece": sentencepiece.__version__},
        }
        (tmp / REPORT).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return report


def extend_command(args: argparse.Namespace) -> dict[str, Any]:
    """`maeum-tokenizer extend`: the source's tokenizer with the new tokens, and its model's files."""
    tokens = list(args.tokens or [])
    if args.tokens_file:
        tokens += list(file_lines(args.tokens_file))
    with fresh_directory(args.out) as tmp:
        report = extend_tokenizer(args.source, tokens, tmp, special=args.special)
    return report


def summary(report: dict[str, Any], out: Path) -> str:
    """What the command did, in a few lines for the terminal."""
    if report["command"] == "extend":
        sizes = f"{report['base_vocab_size']} -> {report['vocab_size']} tokens"
        present = ", ".join(report["already_present"]) or "none"
        lines = [
            f"{out}: {report['source']}'s tokenizer, {sizes}",
            f"  added {len(report['added'])}; {len(report['already_present'])} already in the vocabulary"
            f" ({present}); {report['repeated']} repeated",
        ]
        if report["base_embeddings"] is not None:
            lines.append(
                f"  model files copied; its {report['base_embeddings']} embeddings grow when it loads"
            )
    else:
        held = report["heldout"]
        figures = (
            f"unk {100 * held['unk_share']:.3f}% of tokens, {held['chars_per_token']:.2f} chars per token"
            if held["tokens"]
            else "nothing to measure (raise --heldout-fraction)"
        )
        lines = [
            f"{out}: {report['style']} tokenizer, {report['vocab_size']} tokens,"
            f" trained on {report['corpus']['trained']} lines in {report['train_seconds']} s",
            f"  held out {held['lines']} lines: {figures}",
        ]
    return "\n".join([*lines, f"  report: {out / REPORT}"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maeum-tokenizer", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a tokenizer on UTF-8 text files (one text per line)")
    train.add_argument(
        "--style", choices=STYLES, required=True, help="kogpt2: Metaspace BPE; kobert: unigram"
    )
    train.add_argument("--vocab-size", type=int, required=True, help="tokens, special tokens included")
    train.add_argument("--out", type=Path, required=True, help="a new directory to write")
    train.add_argument("files", nargs="+", help="text files, directories (their *.txt) or globs")
    train.add_argument("--exclude", action="append", default=[], help="leave out files whose name matches")
    train.add_argument("--heldout-fraction", type=float, default=0.01, help="lines held out by hash (0.01)")
    train.add_argument(
        "--character-coverage",
        type=float,
        default=0.9995,
        help="besides the Korean alphabet, keep the most frequent characters until they cover this share"
        " (0.9995); rarer ones become unk",
    )
    train.add_argument("--seed", type=int, default=HASH_SEED, help="salts the held-out hash and sampling")
    train.add_argument("--threads", type=int, default=None, help="sentencepiece threads (all cores)")
    train.add_argument("--max-sentences", type=int, default=2_000_000, help="sentencepiece: lines sampled")
    extend = commands.add_parser("extend", help="add tokens to a backbone's tokenizer, copy its model files")
    extend.add_argument("source", help="a tiny backbone name or a directory (a tokenizer or a whole model)")
    extend.add_argument("--tokens", nargs="+", help="the tokens to add")
    extend.add_argument("--tokens-file", type=Path, help="a UTF-8 file of tokens, one per line")
    extend.add_argument("--special", action="store_true", help="add them as special tokens (never split)")
    extend.add_argument("--out", type=Path, required=True, help="a new directory to write")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        report = train_command(args) if args.command == "train" else extend_command(args)
    except (MaeumError, OSError) as err:
        parser.exit(1, f"maeum-tokenizer: error: {err}\n")
    print(summary(report, args.out))


if __name__ == "__main__":
    main()
