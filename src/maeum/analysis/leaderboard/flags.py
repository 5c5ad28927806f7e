"""The `flags` column: what the original leaderboard's Comment column said by hand ("문장 생성을 eos token
밖에 못함", "단답형이고 대화가 잘 이루어 지지 않음"), said from the numbers. Every threshold is here.

A chatbot row is flagged when the mean over its seeds of a test-time reply metric (`test/gen/*`) reaches
its threshold, and any row whose mean validation curve ends more than 5% worse than its best epoch is
`overfitting` (`maeum.analysis.leaderboard.runs.OVERFIT_TOLERANCE`).
"""

from __future__ import annotations

import math

from maeum.analysis.leaderboard.grouping import Row

# (test/gen metric, the share at or above which the row is flagged, the words, given that share)
THRESHOLDS: tuple[tuple[str, float, str], ...] = (
    ("empty_rate", 0.2, "empty replies {:.0%}"),  # nothing but the end token
    ("copy_rate", 0.3, "repeats the user {:.0%}"),  # the share of a reply's 3-grams from the user's turn
    ("repeat_rate", 0.3, "repeats itself {:.0%}"),  # the share of a reply's 4-grams that repeat in it
    ("top_reply_share", 0.2, "one reply for {:.0%}"),  # the most frequent reply, for all dialogues
    ("max_length_rate", 0.3, "never stops {:.0%}"),  # replies that ran into max_new_tokens
)


def row_flags(row: Row) -> str:
    """The row's flags in words, `; `-separated (empty when nothing is wrong)."""
    words = []
    best = row.mean.best_epoch()
    if row.mean.overfitting() and best is not None:
        words.append(f"overfitting (after epoch {best + 1})")
    for metric, threshold, text in THRESHOLDS:
        value = row.test(f"test/gen/{metric}").mean
        if math.isfinite(value) and value >= threshold:
            words.append(text.format(value))
    return "; ".join(words)
