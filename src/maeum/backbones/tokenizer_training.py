"""Korean tokenizers trained from any iterable of texts, in the two styles `load_tokenizer` knows:

* `kogpt2`: KoGPT2's character-level BPE over Metaspace words (`tokenizer.json`), its 109 special tokens at
  ids 0..108 (`<s> </s> <usr> <pad> <sys> <unk> <mask> <d> </d> <unused0..99>`), its emoticons added as
  special tokens after training, and its roles (bos = eos = `</s>`).
* `kobert`: KoBERT's sentencepiece unigram (`spiece.model` + a `tokenizer_config.json` naming
  `KoBERTTokenizer`), `[UNK] [PAD] [CLS] [SEP] [MASK]` at ids 0..4, nmt_nfkc normalisation.

Both keep the common Korean alphabet (`KOREAN_ALPHABET`) whatever the text holds. The tiny backbones
(`maeum.backbones.tiny`) are trained here on maeum's sample, `maeum-tokenizer train` on a corpus: texts are
streamed, never copied (with `character_coverage` < 1 a `kogpt2` run reads them twice, once to count
characters). `SentencepieceSampling` says how sentencepiece reads a large corpus.
"""

from __future__ import annotations

import io
import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sentencepiece
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from maeum.backbones.tokenizer_repairs import (
    KOBERT_ROLES,
    KOBERT_SPECIAL_TOKENS,
    KOGPT2_EMOTICONS,
    KOGPT2_ROLES,
    KOGPT2_SPECIAL_TOKENS,
)
from maeum.errors import BackboneError

STYLES = ("kogpt2", "kobert")
METASPACE = "▁"


def common_korean_alphabet() -> tuple[str, ...]:
    """Characters every Korean tokenizer should know: printable ASCII, Hangul compatibility jamo, the
    2,350 Hangul syllables of KS X 1001 (those EUC-KR encodes, which cover nearly all modern text) and
    common punctuation. A tiny vocabulary trained on maeum's sample alone would map the other syllables
    of real corpora to <unk> (28% of HG-TODS tokens for tiny_gpt2, 7.5% of NSMC tokens for tiny_bert).
    Both tiny backbones keep all of it."""
    syllables = (chr(c) for c in range(0xAC00, 0xD7A4))
    return (
        *(chr(c) for c in range(0x21, 0x7F)),
        *(chr(c) for c in range(0x3131, 0x3164)),
        *(s for s in syllables if len(s.encode("euc_kr", errors="ignore")) == 2),
        *"…·‘’“”~「」『』【】《》〈〉→←↑↓☆★♡♥※°₩€",
    )


KOREAN_ALPHABET = common_korean_alphabet()


def available_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class SentencepieceSampling:
    """How sentencepiece reads a large corpus: at most `input_sentence_size` lines, drawn (seeded) when
    there are more; lines up to `max_sentence_length` bytes (sentencepiece's default of 4,192 would skip
    long paragraphs); `num_threads` cores. With none (the tiny builds) sentencepiece's defaults and one
    thread hold."""

    input_sentence_size: int = 2_000_000
    max_sentence_length: int = 65_536
    seed: int = 0
    num_threads: int = field(default_factory=available_cores)


def minimum_vocab_size(style: str, alphabet: Sequence[str] = KOREAN_ALPHABET) -> int:
    """The smallest vocabulary a `style` tokenizer can have: its special tokens plus the alphabet."""
    if style == "kogpt2":
        return len(KOGPT2_SPECIAL_TOKENS) + len(set(alphabet))
    if style == "kobert":
        return len(KOBERT_SPECIAL_TOKENS) + len(_required_chars(alphabet))
    raise BackboneError(f"unknown tokenizer style {style!r}: use one of {', '.join(STYLES)}")


def check_vocab_size(style: str, vocab_size: int, alphabet: Sequence[str] = KOREAN_ALPHABET) -> None:
    """One `BackboneError` naming the size and the minimum when `vocab_size` cannot hold the special
    tokens and the alphabet of a `style` tokenizer."""
    minimum = minimum_vocab_size(style, alphabet)
    specials = len(KOGPT2_SPECIAL_TOKENS if style == "kogpt2" else KOBERT_SPECIAL_TOKENS)
    if vocab_size < minimum:
        raise BackboneError(
            f"a vocabulary of {vocab_size} is too small for a {style} tokenizer: its {specials} special"
            f" tokens and the {minimum - specials} characters of its alphabet need at least {minimum}."
            " Raise the vocabulary size."
        )


def train_tokenizer(
    style: str,
    texts: Iterable[str],
    out: Path,
    vocab_size: int,
    *,
    alphabet: Sequence[str] = KOREAN_ALPHABET,
    character_coverage: float = 1.0,
    sampling: SentencepieceSampling | None = None,
) -> Path:
    """Train a `style` tokenizer (`kogpt2` or `kobert`) on `texts` into `out`, with the real model's
    special tokens at its ids. `character_coverage` < 1 keeps, besides the alphabet, only the most frequent
    characters of the text, until they cover that share of its characters (the rest become unk)."""
    if style == "kogpt2":
        train_kogpt2(texts, out, vocab_size, alphabet=alphabet, character_coverage=character_coverage)
    elif style == "kobert":
        coverage = character_coverage
        train_kobert(
            texts, out, vocab_size, alphabet=alphabet, character_coverage=coverage, sampling=sampling
        )
    else:
        raise BackboneError(f"unknown tokenizer style {style!r}: use one of {', '.join(STYLES)}")
    return out


def train_kogpt2(
    texts: Iterable[str],
    out: Path,
    vocab_size: int,
    *,
    special_tokens: Sequence[str] = KOGPT2_SPECIAL_TOKENS,
    roles: dict[str, str] = KOGPT2_ROLES,
    emoticons: Sequence[str] = KOGPT2_EMOTICONS,
    alphabet: Sequence[str] = KOREAN_ALPHABET,
    character_coverage: float = 1.0,
    model_max_length: int = 1024,
) -> None:
    """KoGPT2's tokenizer: character-level BPE over Metaspace words, saved as `tokenizer.json`."""
    check_vocab_size("kogpt2", vocab_size, alphabet)
    special = list(special_tokens)
    initial, limit = list(alphabet), None
    if character_coverage < 1:  # the alphabet, "▁" and the frequent characters; no others
        frequent = _frequent_chars(texts, alphabet, character_coverage)
        initial = list(dict.fromkeys([*alphabet, METASPACE, *frequent]))
        limit = len(initial)
    tok = Tokenizer(models.BPE(unk_token=roles["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()  # "▁word" pieces, before training
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=initial,
        show_progress=False,
        **({"limit_alphabet": limit} if limit else {}),
    )
    tok.train_from_iterator(texts, trainer, length=len(texts) if isinstance(texts, Sized) else None)
    if [tok.token_to_id(t) for t in special] != list(range(len(special))):
        raise BackboneError("the special tokens did not get ids 0..n-1 in training")
    tok.add_special_tokens(list(emoticons))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=model_max_length, **roles)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)


def train_kobert(
    texts: Iterable[str],
    out: Path,
    vocab_size: int,
    *,
    special_tokens: Sequence[str] = KOBERT_SPECIAL_TOKENS,
    roles: dict[str, str] = KOBERT_ROLES,
    alphabet: Sequence[str] = KOREAN_ALPHABET,
    character_coverage: float = 1.0,
    model_max_length: int = 512,
    sampling: SentencepieceSampling | None = None,
) -> None:
    """KoBERT's tokenizer: `spiece.model` and a `tokenizer_config.json` naming `KoBERTTokenizer`."""
    check_vocab_size("kobert", vocab_size, alphabet)
    spiece = _train_sentencepiece(texts, vocab_size, special_tokens, alphabet, character_coverage, sampling)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spiece.model").write_bytes(spiece)
    config = {"tokenizer_class": "KoBERTTokenizer", "model_max_length": model_max_length, **roles}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def _train_sentencepiece(
    texts: Iterable[str],
    vocab_size: int,
    special_tokens: Sequence[str],
    alphabet: Sequence[str],
    character_coverage: float,
    sampling: SentencepieceSampling | None,
) -> bytes:
    """A sentencepiece unigram model trained like KoBERT's: specials first at ids 0..4, nmt_nfkc.

    sentencepiece rather than the `tokenizers` unigram trainer, because the latter orders rare characters
    differently from run to run, so its ids are not reproducible. The alphabet's characters are required
    in their nmt_nfkc form, the form text takes before it is split (ㅋ becomes the conjoining jamo U+110F).
    """
    unk, pad, cls, sep, *user = special_tokens
    options: dict[str, Any] = {"num_threads": 1}
    if sampling is not None:
        sentencepiece.set_random_generator_seed(sampling.seed)
        options = {
            "num_threads": sampling.num_threads,
            "input_sentence_size": sampling.input_sentence_size,
            "shuffle_input_sentence": True,
            "max_sentence_length": sampling.max_sentence_length,
        }
    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=model,
            model_type="unigram",
            vocab_size=vocab_size,
            hard_vocab_limit=False,
            character_coverage=character_coverage,
            normalization_rule_name="nmt_nfkc",
            unk_id=0,
            pad_id=1,
            bos_id=2,
            eos_id=3,
            unk_piece=unk,
            pad_piece=pad,
            bos_piece=cls,
            eos_piece=sep,
            user_defined_symbols=user,
            required_chars="".join(_required_chars(alphabet)),
            minloglevel=2,
            **options,
        )
    except RuntimeError as err:
        if sizes := re.search(r"smaller than required_chars\. (\d+) vs (\d+)", str(err)):
            raise BackboneError(
                f"a vocabulary of {sizes[1]} is too small for a kobert tokenizer on this text: its special"
                f" tokens and the characters it must keep need at least {sizes[2]}. Raise the vocabulary"
                " size, or lower the character coverage."
            ) from None
        raise
    return model.getvalue()


def _required_chars(alphabet: Sequence[str]) -> list[str]:
    """The alphabet in sentencepiece's nmt_nfkc form (one character each), in order."""
    return list(dict.fromkeys(n for c in alphabet if len(n := unicodedata.normalize("NFKC", c)) == 1))


def _frequent_chars(texts: Iterable[str], alphabet: Sequence[str], coverage: float) -> list[str]:
    """The most frequent characters of `texts` outside `alphabet` (whitespace aside), until the alphabet
    and they cover `coverage` of the non-space characters."""
    if iter(texts) is texts:
        raise TypeError("character_coverage < 1 reads the texts twice: pass a list or a re-iterable corpus")
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text)
    for space in [c for c in counts if c.isspace()]:
        del counts[space]
    known = set(alphabet)
    covered, total = sum(n for c, n in counts.items() if c in known), sum(counts.values())
    kept = []
    for char, n in counts.most_common():
        if covered >= coverage * total:
            break
        if char not in known:
            kept.append(char)
            covered += n
    return kept


def tokenizer_figures(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> dict[str, Any]:
    """How `tokenizer` splits `texts`: lines, characters, tokens, the share of unk tokens and characters
    (spaces included) per token, special tokens not added."""
    rows = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"] if texts else []
    tokens = sum(map(len, rows))
    chars = sum(map(len, texts))
    unk = sum(ids.count(tokenizer.unk_token_id) for ids in rows)
    return {
        "lines": len(texts),
        "characters": chars,
        "tokens": tokens,
        "unk_share": unk / tokens if tokens else None,
        "chars_per_token": chars / tokens if tokens else None,
    }
