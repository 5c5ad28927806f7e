"""`PreferenceDataModule`: a dialogue corpus (or a preference file) as preference pairs, laid out by the
run's dialogue layout.

It is a `DialogueDataModule` under the `last_sys` mask: it reads, cleans and splits exactly as a chatbot run
on the same data config does, so its val and test dialogues, their ids and every chatbot metric and report
(`response_*`, test replies, reply selection) are the same as an SFT run's, and the two pair in
`maeum-leaderboard`. Each dialogue's final system turn is the *chosen* reply; its *rejected* reply comes from
`rejected` (a `maeum.data.preference.pairs` source, called once per split). Both are laid out through the
layout after the same prompt (the turns before the final reply, with the condition) and masked to the reply
and its closing tokens.

A pair is dropped, and counted by reason, when its rejected reply is empty, equals the chosen one, or when
either reply would be cut to fit `max_length`, or the two would need different cuts of their prompt (older
exchanges and the first user text may be cut, as in training, but both replies follow one prompt, whole).
Training uses the kept pairs; val and test keep every dialogue and flag its pair (`pair`), so the
preference metrics count kept pairs only.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence

from maeum.data.cache import Ragged, cached, fingerprint, tokenizer_fingerprint
from maeum.data.dialogue.datamodule import DialogueCollator, DialogueDataModule, EncodedDialogues
from maeum.data.dialogue.encoding import fit, render_dialogues, targets
from maeum.data.dialogue.layout import Layout, Rendered
from maeum.data.dialogue.records import IGNORE_INDEX, Dialogue, Turn
from maeum.data.preference.pairs import RejectedSource
from maeum.data.splits import SPLITS
from maeum.errors import DataError

log = logging.getLogger(__name__)

PAIR_FIELDS = ("rejected_input_ids", "rejected_labels", "pair")
DROPS = {
    "empty": "rejected reply is empty",
    "same": "rejected reply equals the chosen one",
    "long": "a reply does not fit max_length",
}


class PreferenceCollator(DialogueCollator):
    """`DialogueCollator`'s fields, plus the rejected side padded the same way and the `pair` flags."""

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        batch = super().__call__(rows)
        padded = self.tokenizer.pad(
            {"input_ids": [r["rejected_input_ids"] for r in rows]}, padding_side="right", return_tensors="pt"
        )
        batch["rejected_input_ids"] = padded["input_ids"]
        batch["rejected_attention_mask"] = padded["attention_mask"]
        labels = [torch.tensor(r["rejected_labels"]) for r in rows]
        batch["rejected_labels"] = pad_sequence(labels, batch_first=True, padding_value=IGNORE_INDEX)
        batch["pair"] = torch.tensor([r["pair"][0] for r in rows], dtype=torch.bool)
        return batch


class PreferenceDataModule(DialogueDataModule):
    """Preference pairs of any dialogue corpus (see the module docstring).

    Args:
        rejected: where each dialogue's rejected reply comes from (`maeum.data.preference.pairs.FromFile`,
            `Contrastive`, or `maeum.inference.pair_sources.SelfPlay` / `ClassifierContrastive`).
        reader, path, tokenizer, template, max_length, preprocess, split_by, settings: as for
            `DialogueDataModule` (the label mask is `last_sys`: a pair compares two final replies).
    """

    def __init__(
        self,
        reader: Callable[[str], Any],
        path: str,
        tokenizer: str,
        rejected: RejectedSource,
        template: Any = "chat",
        max_length: int = 64,
        preprocess: Callable[[str], str] | None = None,
        split_by: str = "first_usr",
        label_mask: str = "last_sys",
        turn_prefixes: bool = False,
        **settings: Any,
    ) -> None:
        if label_mask != "last_sys" or turn_prefixes:
            raise DataError(
                "a preference run compares two final replies: it takes data.label_mask=last_sys and "
                f"data.turn_prefixes=false (got {label_mask} and {turn_prefixes})"
            )
        super().__init__(
            reader,
            path,
            tokenizer,
            template=template,
            label_mask="last_sys",
            max_length=max_length,
            preprocess=preprocess,
            split_by=split_by,
            **settings,
        )
        self.rejected = rejected
        self.pair_drops: dict[str, Counter[str]] = {}

    def _clean(self, dialogue: Dialogue) -> Dialogue | None:
        cleaned = super()._clean(dialogue)
        if cleaned is not None and self.preprocess is not None and getattr(cleaned, "rejected", ""):
            return type(cleaned)(cleaned.turns, cleaned.condition, self.preprocess(cleaned.rejected))
        return cleaned

    def _encode_or_load(self) -> dict[str, Ragged]:
        columns = dict(super()._encode_or_load())
        corpus = self.corpus
        replies = [""] * len(corpus.dialogues)
        for split in SPLITS:
            rows = corpus.indices[split]
            texts = self.rejected([corpus.dialogues[i] for i in rows], self) if rows else []
            if len(texts) != len(rows):
                raise DataError(f"data.rejected gave {len(texts)} replies for {len(rows)} {split} dialogues")
            for i, text in zip(rows, texts, strict=True):
                replies[i] = (text or "").strip()
        key = fingerprint(
            "preference",
            tokenizer_fingerprint(self.tokenizer),
            self.max_length,
            repr(self.template),
            [([(t.speaker, t.text) for t in d.turns], d.condition) for d in corpus.dialogues],
            replies,
        )
        columns.update(cached(self.cache_dir, key, lambda: self._encode_pairs(corpus.dialogues, replies)))
        self._count_drops(columns["pair"])
        return columns

    def _encode_pairs(self, dialogues: Sequence[Dialogue], replies: Sequence[str]) -> dict[str, Ragged]:
        """The rejected side of every dialogue, and its pair flag: 1 kept, else the index of its drop + 2."""
        layout, room = self.layout, self.max_length
        reasons = list(DROPS)
        flags = [0] * len(dialogues)
        for n, (d, text) in enumerate(zip(dialogues, replies, strict=True)):
            if not text:
                flags[n] = 2 + reasons.index("empty")
            elif text == d.turns[-1].text:
                flags[n] = 2 + reasons.index("same")
        candidates = [n for n, flag in enumerate(flags) if flag == 0]
        if not candidates:  # nothing to lay out: `setup` says no pair is left
            empty = Ragged.from_lists([[] for _ in dialogues])
            return {
                "rejected_input_ids": empty,
                "rejected_labels": empty,
                "pair": Ragged.from_lists([[f] for f in flags]),
            }
        chosen = _fitted(layout, [dialogues[n] for n in candidates], room)
        rejected = _fitted(
            layout,
            [
                Dialogue((*dialogues[n].turns[:-1], Turn("sys", replies[n])), dialogues[n].condition)
                for n in candidates
            ],
            room,
        )
        ids: list[list[int]] = [[] for _ in dialogues]
        labels: list[list[int]] = [[] for _ in dialogues]
        for n, (kept, cut_c), (rendered, cut_r) in zip(candidates, chosen, rejected, strict=True):
            if cut_c or cut_r or _prompt(kept) != _prompt(rendered):  # both replies whole, after one prompt
                flags[n] = 2 + reasons.index("long")
                continue
            flags[n] = 1
            row = targets(rendered, "last_sys", layout)
            ids[n], labels[n] = row["input_ids"], row["labels"]
        return {
            "rejected_input_ids": Ragged.from_lists(ids),
            "rejected_labels": Ragged.from_lists(labels),
            "pair": Ragged.from_lists([[f] for f in flags]),
        }

    def _count_drops(self, pair: Ragged) -> None:
        flags = [int(pair[i][0]) for i in range(len(pair))]
        reasons = list(DROPS)
        for split in SPLITS:
            drops = Counter(DROPS[reasons[flags[i] - 2]] for i in self.corpus.indices[split] if flags[i] != 1)
            self.pair_drops[split] = drops
            if drops:
                log.info("Preference pairs, %s: dropped %s", split, dict(drops))

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            encoded = self._encoded()
            pair = encoded["pair"]
            indices = {name: list(self.corpus.indices[name]) for name in SPLITS}
            indices["train"] = [i for i in indices["train"] if int(pair[i][0]) == 1]  # val/test keep all
            if not indices["train"]:
                raise DataError(
                    f"no preference pair is left to train on (dropped: {dict(self.pair_drops['train'])}): "
                    "check data.rejected and data.max_length."
                )
            self.datasets = {name: EncodedDialogues(encoded, indices[name]) for name in SPLITS}

    def collator(self) -> Callable[[list[Any]], Any]:
        return PreferenceCollator(self.tokenizer)

    def stats(self) -> dict[str, Any]:
        """`DialogueDataModule.stats`, plus the kept and dropped pairs of every split."""
        self._encoded()
        pairs: dict[str, int] = {}
        for split in SPLITS:
            drops = self.pair_drops[split]
            pairs[f"{split} kept"] = len(self.corpus.indices[split]) - sum(drops.values())
            pairs.update({f"{split} dropped: {reason}": n for reason, n in sorted(drops.items())})
        return {**super().stats(), "pairs": pairs}


def _prompt(rendered: Rendered) -> list[int]:
    """The ids before the final reply's targets."""
    return rendered.ids[: max(s.begin for s in rendered.spans)] if rendered.spans else rendered.ids


def _fitted(layout: Layout, dialogues: Sequence[Dialogue], room: int) -> list[tuple[Rendered, bool]]:
    """Each dialogue rendered within `room` tokens, and whether its final reply had to be cut."""
    renders = render_dialogues(dialogues, layout, budget=10**9)  # whole, in one batch
    out = []
    for dialogue, rendered in zip(dialogues, renders, strict=True):
        if len(rendered) <= room:
            out.append((rendered, False))
            continue
        cuts: Counter[str] = Counter()
        try:
            fitted = fit(layout, dialogue.turns, dialogue.condition, room, cuts, rendered=rendered)
        except DataError:
            out.append((rendered, True))
            continue
        out.append((fitted, bool(cuts["cut_replies"])))
    return out
