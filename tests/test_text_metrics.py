"""The Korean text metrics (`maeum.metrics.text`) and the corpus-level paired bootstrap, each against
an independent computation on fixed Korean strings: Kiwi's own forms, n-grams counted by hand, sacrebleu's
own corpus functions, and a constant shift."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sacrebleu
from kiwipiepy import Kiwi

from maeum.analysis.stats import paired_corpus_bootstrap
from maeum.metrics import text as tm

pytestmark = pytest.mark.unit

SAD, SAD_SHORT = "오늘 너무 슬퍼요 ㅠㅠ", "너무 슬퍼요"
LAUGH = "ㅋㅋㅋ 진짜 웃겨 ㅋㅋㅋ 진짜 웃겨"
USER = "배달이 너무 늦었어요"
REPLIES = [SAD, SAD_SHORT, LAUGH, "배달이 너무 늦었어요 정말", USER, "힘내세요 :) #@이름#님", "", "ㄱㄴㄷ 😀"]
REFERENCES = ["많이 슬프셨겠어요.", "힘드셨겠네요 ㅠㅠ", "재밌으셨군요!", "늦어서 화나셨겠어요.",
              "사과를 받으셨어야 했는데요.", "고마워요 :)", "괜찮아요.", "그렇군요."]  # fmt: skip


@pytest.fixture(scope="module")
def independent_kiwi() -> Kiwi:
    return Kiwi()


def test_morphemes_are_kiwis_forms_with_its_default_options(independent_kiwi: Kiwi) -> None:
    expected = [[t.form for t in independent_kiwi.tokenize(r)] if r else [] for r in REPLIES]
    assert tm.morphemes(REPLIES) == expected
    sad = [["오늘", "너무", "슬프", "어요", "ㅠㅠ"], ["너무", "슬프", "어요"]]
    assert tm.morphemes([SAD, SAD_SHORT]) == sad
    assert tm.morphemes(["", "   "]) == [[], []]  # blank replies have no morphemes, and no error


def test_distinct_n_counts_ngrams_within_replies_by_hand() -> None:
    replies = tm.morphemes([SAD, SAD_SHORT])
    # unigrams: 오늘 너무 슬프 어요 ㅠㅠ | 너무 슬프 어요 -> 5 distinct of 8
    assert tm.distinct(replies, 1) == pytest.approx(5 / 8)
    # bigrams: (오늘 너무) (너무 슬프) (슬프 어요) (어요 ㅠㅠ) | (너무 슬프) (슬프 어요) -> 4 of 6;
    # (ㅠㅠ 너무) across the two replies' boundary is never counted
    assert tm.distinct(replies, 2) == pytest.approx(4 / 6)
    assert tm.distinct([[], []], 2) == 0.0 and tm.distinct([], 1) == 0.0


def test_repeat_and_copy_rates_by_hand() -> None:
    laugh = tm.morphemes([LAUGH])[0]
    assert laugh == ["ㅋㅋㅋ", "진짜", "웃기", "어", "ㅋㅋㅋ", "진짜", "웃기", "어"]
    assert tm.repeat_rate(laugh) == pytest.approx(1 / 5)  # five 4-grams, the last repeats the first
    reply, user = tm.morphemes(["배달이 너무 늦었어요 정말", USER])
    assert user == ["배달", "이", "너무", "늦", "었", "어요"]
    assert tm.copy_rate(reply, user) == pytest.approx(4 / 5)  # 4 of its five 3-grams are the user's
    assert tm.repeat_rate(["너무"]) == 0.0 and tm.copy_rate([], user) == 0.0


def test_chrf_and_bleu_equal_sacrebleus_own_corpus_functions(independent_kiwi: Kiwi) -> None:
    assert tm.chrf(REPLIES, REFERENCES) == pytest.approx(sacrebleu.corpus_chrf(REPLIES, [REFERENCES]).score)
    forms = [" ".join(t.form for t in independent_kiwi.tokenize(x)) if x else "" for x in REPLIES]
    ref_forms = [" ".join(t.form for t in independent_kiwi.tokenize(x)) for x in REFERENCES]
    bleu = sacrebleu.corpus_bleu(forms, [ref_forms], tokenize="none").score
    assert tm.bleu4(tm.morphemes(REPLIES), tm.morphemes(REFERENCES)) == pytest.approx(bleu)
    eojeol = sacrebleu.corpus_bleu(REPLIES, [REFERENCES]).score  # the default 13a: Korean eojeol as words
    assert bleu != pytest.approx(eojeol)
    counts = tm.chrf_statistics(REPLIES, REFERENCES)
    assert counts.shape[0] == len(REPLIES)
    assert tm.chrf_from_statistics(counts.sum(axis=0)) == pytest.approx(tm.chrf(REPLIES, REFERENCES))


def test_score_replies_rates_by_hand() -> None:
    stops = ["eos"] * 6 + ["eos", "max_new_tokens"]
    scored = tm.score_replies(REPLIES, REFERENCES, [USER] * len(REPLIES), stops)
    c, per = scored.corpus, scored.per_reply
    assert c["empty_rate"] == pytest.approx(1 / 8) and per["empty"].tolist() == [False] * 6 + [True, False]
    assert c["exact_copy_rate"] == pytest.approx(1 / 8)  # the reply that is the user's turn
    assert c["max_length_rate"] == pytest.approx(1 / 8)
    assert c["top_reply_share"] == pytest.approx(1 / 8)  # every reply differs
    assert c["reply_chars"] == pytest.approx(np.mean([len(r) for r in REPLIES]))
    morphemes = tm.morphemes(REPLIES)
    assert per["reply_morphemes"].tolist() == [" ".join(m) for m in morphemes]
    assert c["reply_length"] == pytest.approx(np.mean([len(m) for m in morphemes]))
    assert per["copy_rate"][3] == pytest.approx(4 / 5) and per["copy_rate"][4] == pytest.approx(1.0)
    assert c["copy_rate"] == pytest.approx(per["copy_rate"].mean())
    assert c["distinct_2"] == pytest.approx(tm.distinct(morphemes, 2))
    assert c["chrf"] == pytest.approx(tm.chrf(REPLIES, REFERENCES))
    assert not scored.notes


def test_all_empty_replies_and_no_references_give_defined_values() -> None:
    scored = tm.score_replies(["", " ", ""], ["", "", ""], ["ㅠㅠ", "ㅋㅋㅋ", ""], ["eos"] * 3)
    c = scored.corpus
    assert c["distinct_1"] == 0.0 and c["distinct_2"] == 0.0 and c["empty_rate"] == 1.0
    assert c["top_reply_share"] == pytest.approx(2 / 3)  # "" twice
    assert "chrf" not in c and "bleu4" not in c and "no dialogue has a reference" in scored.notes[0]
    assert all(math.isfinite(v) for v in c.values())
    assert tm.score_replies([], [], [], []).corpus == {}


def test_paired_corpus_bootstrap_of_a_constant_shift_is_that_shift() -> None:
    rng = np.random.default_rng(3)
    ref = rng.random(300)
    shift = 0.125

    def share(x: np.ndarray):
        return lambda w: (w @ x) / w.sum(axis=1)

    paired = paired_corpus_bootstrap(lambda w: share(ref + shift)(w) - share(ref)(w), len(ref))
    assert paired.delta == pytest.approx(shift) and paired.low == pytest.approx(shift)
    assert paired.high == pytest.approx(shift) and paired.significant
    one = paired_corpus_bootstrap(lambda w: w @ np.array([shift]) / w.sum(axis=1), 1)  # one dialogue
    assert (one.delta, one.low, one.high) == (shift, shift, shift)


def test_paired_chrf_is_re_scored_from_summed_statistics_on_every_resample() -> None:
    """The paired chrF difference on the data is sacrebleu's corpus chrF difference (not a mean of
    sentence scores), and every resample re-scores the drawn dialogues' summed statistics."""
    other = [r[::-1] for r in REPLIES]  # the same characters, another order
    mine, theirs = tm.chrf_statistics(REPLIES, REFERENCES), tm.chrf_statistics(other, REFERENCES)

    def delta(w: np.ndarray) -> np.ndarray:
        return np.array(
            [
                tm.chrf_from_statistics(a) - tm.chrf_from_statistics(b)
                for a, b in zip(w @ mine, w @ theirs, strict=True)
            ]
        )

    paired = paired_corpus_bootstrap(delta, len(REPLIES), resamples=200)
    expected = (
        sacrebleu.corpus_chrf(REPLIES, [REFERENCES]).score - sacrebleu.corpus_chrf(other, [REFERENCES]).score
    )
    sentence_mean = np.mean(
        [sacrebleu.sentence_chrf(r, [f]).score for r, f in zip(REPLIES, REFERENCES, strict=True)]
    )
    assert paired.delta == pytest.approx(expected) and paired.low <= paired.delta <= paired.high
    assert tm.chrf(REPLIES, REFERENCES) != pytest.approx(sentence_mean)  # corpus chrF is no sentence mean
    drawn = [
        0,
        0,
        3,
        5,
        5,
        5,
        7,
        1,
    ]  # one resample, with repeats: its chrF is the corpus chrF of those replies
    weights = np.bincount(drawn, minlength=len(REPLIES))[None, :].astype(float)
    hyps, refs = [REPLIES[i] for i in drawn], [REFERENCES[i] for i in drawn]
    assert tm.chrf_from_statistics((weights @ mine)[0]) == pytest.approx(
        sacrebleu.corpus_chrf(hyps, [refs]).score
    )


def test_paired_corpus_bootstrap_interval_holds_the_difference() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.random(200), rng.random(200)
    paired = paired_corpus_bootstrap(lambda w: (w @ a - w @ b) / w.sum(axis=1), 200, resamples=500)
    assert paired.delta == pytest.approx(a.mean() - b.mean())
    assert paired.low < paired.delta < paired.high
