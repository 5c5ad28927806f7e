"""What a chatbot's replies say, measured in Korean: one module for every text metric maeum reports.

Every reply is split into morphemes once (`morphemes`: the `form` of each token of Kiwi's
`tokenize` with its default options; kiwipiepy ships its model as a PyPI package, so it loads offline), and
those morphemes are shared by every metric that counts words:

- reference-based: `chrf` (sacrebleu chrF on characters, corpus level, no tokenisation) and `bleu4`
  (sacrebleu BLEU on morphemes with `tokenize="none"`; its default `13a` would treat Korean eojeol as
  words);
- diversity: `distinct(n)`, the distinct n-grams of morphemes over all replies divided by all n-grams
  (an n-gram never crosses a reply's boundary; 0 when there are none);
- reference-free, per reply (`score_replies` averages them): empty, length in morphemes and characters,
  `repeat_rate` (the share of a reply's 4-grams that repeat an earlier one of it), `copy_rate` (the share
  of its 3-grams found in the last user turn) and an exact copy of that turn; over the replies: the share
  of the most frequent reply and of replies that never stopped.

`tests/test_text_metrics.py` checks each against an independent computation on fixed Korean strings.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from kiwipiepy import Kiwi

REPEAT_N = 4  # repeat_rate counts a reply's 4-grams
COPY_N = 3  # copy_rate counts a reply's 3-grams found in the last user turn
STOPS = ("eos", "usr", "max_new_tokens")  # why a reply ended: its end token, the user marker, or the budget


@cache
def kiwi() -> Kiwi:
    """One Kiwi analyser per process (its model loads in about two seconds)."""
    from kiwipiepy import Kiwi

    return Kiwi()


def morphemes(texts: Sequence[str]) -> list[list[str]]:
    """The morpheme forms of every text, in one batched call (an empty or blank text has none)."""
    texts = [str(t) for t in texts]
    todo = [i for i, t in enumerate(texts) if t.strip()]
    forms: list[list[str]] = [[] for _ in texts]
    for i, tokens in zip(todo, kiwi().tokenize([texts[i] for i in todo]), strict=True):
        forms[i] = [token.form for token in tokens]
    return forms


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct(replies: Sequence[Sequence[str]], n: int) -> float:
    """Distinct n-grams over all replies (morphemes) divided by all n-grams; 0 when there are none."""
    grams = [g for tokens in replies for g in ngrams(tokens, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repeat_rate(tokens: Sequence[str], n: int = REPEAT_N) -> float:
    """The share of a reply's n-grams that repeat an earlier n-gram of the same reply (0 with none)."""
    grams = ngrams(tokens, n)
    return (len(grams) - len(set(grams))) / len(grams) if grams else 0.0


def copy_rate(tokens: Sequence[str], user_tokens: Sequence[str], n: int = COPY_N) -> float:
    """The share of a reply's n-grams that occur in the last user turn (0 when the reply has none)."""
    grams = ngrams(tokens, n)
    user = set(ngrams(user_tokens, n))
    return sum(g in user for g in grams) / len(grams) if grams else 0.0


def chrf(replies: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu's corpus chrF (character 6-grams, beta 2) of the replies against one reference each."""
    from sacrebleu.metrics import CHRF

    return float(CHRF().corpus_score(list(replies), [list(references)]).score)


def chrf_statistics(replies: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Each reply's chrF sufficient statistics, (replies, statistics): a corpus's chrF is
    `chrf_from_statistics` of their sum, so a bootstrap resample re-scores by summing its rows (what
    sacrebleu's own paired bootstrap does)."""
    from sacrebleu.metrics import CHRF

    rows = CHRF()._extract_corpus_statistics(list(replies), [list(references)])
    return np.asarray(rows, dtype=float).reshape(len(replies), -1)


def chrf_from_statistics(statistics: np.ndarray) -> float:
    """chrF of a corpus from the sum of its replies' `chrf_statistics`."""
    from sacrebleu.metrics import CHRF

    return float(CHRF()._compute_score_from_stats([round(v) for v in statistics]).score)


def bleu4(replies: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """sacrebleu's corpus BLEU-4 on morphemes joined by spaces, with `tokenize="none"`."""
    from sacrebleu.metrics import BLEU

    hypotheses = [" ".join(tokens) for tokens in replies]
    refs = [" ".join(tokens) for tokens in references]
    return float(BLEU(tokenize="none").corpus_score(hypotheses, [refs]).score)


@dataclass
class ScoredReplies:
    """The per-reply values (one row per reply, in input order) and the corpus-level metrics."""

    per_reply: pd.DataFrame
    corpus: dict[str, float]
    notes: list[str]  # why a metric is missing (no references), for the log


def score_replies(
    replies: Sequence[str],
    references: Sequence[str],
    last_user_turns: Sequence[str],
    stops: Sequence[str],
) -> ScoredReplies:
    """Every metric of the module docstring for replies to dialogues, each reply tokenised once.

    Args:
        replies: the generated replies, cleaned of template markers.
        references: the reference reply of each dialogue ("" when it has none).
        last_user_turns: the user turn each reply answers.
        stops: why each reply ended, one of `STOPS`.
    """
    n = len(replies)
    tokens = morphemes(replies)
    user_tokens = morphemes(last_user_turns)
    empty = [not r.strip() for r in replies]
    per_reply = pd.DataFrame(
        {
            "reply_morphemes": [" ".join(t) for t in tokens],
            "empty": empty,
            "reply_length": [len(t) for t in tokens],
            "reply_chars": [len(r) for r in replies],
            "repeat_rate": [repeat_rate(t) for t in tokens],
            "copy_rate": [copy_rate(t, u) for t, u in zip(tokens, user_tokens, strict=True)],
            "exact_copy": [
                not e and " ".join(r.split()) == " ".join(u.split())
                for r, u, e in zip(replies, last_user_turns, empty, strict=True)
            ],
        }
    )
    corpus: dict[str, float] = {}
    notes = []
    if n:
        counts = Counter(replies)
        corpus.update(
            {
                "distinct_1": distinct(tokens, 1),
                "distinct_2": distinct(tokens, 2),
                "empty_rate": float(np.mean(empty)),
                "reply_length": float(per_reply["reply_length"].mean()),
                "reply_chars": float(per_reply["reply_chars"].mean()),
                "repeat_rate": float(per_reply["repeat_rate"].mean()),
                "copy_rate": float(per_reply["copy_rate"].mean()),
                "exact_copy_rate": float(per_reply["exact_copy"].mean()),
                "top_reply_share": counts.most_common(1)[0][1] / n,
                "max_length_rate": sum(s == "max_new_tokens" for s in stops) / n,
            }
        )
        if any(r.strip() for r in references):
            corpus["chrf"] = chrf(replies, references)
            corpus["bleu4"] = bleu4(tokens, morphemes(references))
        else:
            notes.append("no dialogue has a reference reply: chrf and bleu4 are not computed")
    return ScoredReplies(per_reply, {k: v for k, v in corpus.items() if math.isfinite(v)}, notes)
