"""The KoGPT2 marker layouts (`Template`: `chat`, `label_response`): markers, the condition and the closing
token around the turns' own tokens.

    chat            <usr>{u1}<unused1>{condition}<sys>{s1}<usr>{u2}<sys>{s2}...</s>
    label_response  </s><unused0>{question}<unused1>{category}<unused2>{response}</s>

A system turn's targets are its text; the final one's also its closing `</s>`. Where the template says so,
the `<sys>` marker before it (`sys_marker_is_target`) and the condition of the first exchange
(`condition_is_target`, a category the model writes) are targets of that turn too. The ids are the
concatenation of the markers' and the texts' ids, so a cut turn (`Cut`) removes exactly its cut tokens.

Generation stops at `</s>`, or at the user marker (a model trained on multi-turn dialogues goes on to write
the user's next turn otherwise). A reply is cleaned of markers by id, so the emoticons KoGPT2 marks special
(ㅠㅠ, :) ...) survive, which `skip_special_tokens=True` would drop; the Metaspace decoder restores Korean
spacing, with no `▁` left.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from maeum.data.dialogue.layout import AnyTurn, Cut, Layout, Rendered, Span
from maeum.data.dialogue.records import Dialogue
from maeum.errors import DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

MARKER = re.compile(r"<[^<>\s]+>|\[[A-Z]+\]")  # <usr>, <unused1>, </s>, [CLS] ...; not ㅠㅠ or :)


class MarkerLayout(Layout):
    """A `Template`'s markers around the turns (module docstring)."""

    describe = "a marker layout (<usr>/<sys>)"

    def __init__(self, template: object, tokenizer: PreTrainedTokenizerBase) -> None:
        super().__init__(template, tokenizer)
        self.generates_condition = bool(template.condition_is_target)
        self._ids: dict[str, list[int]] = {}  # text -> ids, from render_batch's one tokenizer call
        self._marker_ids: set[int] | None = None

    def check(self) -> None:
        t = self.template
        for token in (t.usr, t.sys, t.condition, t.eos, *t.prefix):
            marker_id(self.tokenizer, token)

    def marker(self, token: str) -> list[int]:
        return [marker_id(self.tokenizer, token)]

    def pieces(self, turn: AnyTurn) -> list[int]:
        if isinstance(turn, Cut):
            return list(turn.ids)
        return self._text(turn.text)

    def _text(self, text: str) -> list[int]:
        if not text:
            return []
        if text in self._ids:
            return list(self._ids[text])
        # whole, then cut by truncation to max_length (oldest exchanges first): not the tokenizer's "longer
        # than the specified maximum ... indexing errors" warning, which does not hold here
        return self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]

    def render_batch(self, dialogues: Sequence[Dialogue]) -> list[Rendered]:
        """Every distinct turn text and condition tokenized in one call of the fast tokenizer, then laid out;
        the ids stay known to `pieces` until the next batch (truncation cuts them)."""
        self._ids = pretokenize(dialogues, self.tokenizer)
        return [self.render(d.turns, d.condition) for d in dialogues]

    def render(self, turns: Sequence[AnyTurn], condition: str | None, *, prompt: bool = False) -> Rendered:
        t = self.template
        if prompt and self.generates_condition:
            condition = None  # the model writes it: the prompt ends with its marker
        ids = [i for token in t.prefix for i in self.marker(token)]
        spans: list[Span] = []

        def add(turn: int, pieces: list[int], target: bool) -> None:
            begin = len(ids)
            ids.extend(pieces)
            if not target:
                return
            if spans and spans[-1].turn == turn and spans[-1].end == begin:  # one span per run of targets
                spans[-1] = spans[-1]._replace(end=len(ids))
            else:
                spans.append(Span(turn, begin, len(ids)))

        for n in range(0, len(turns), 2):
            turn = n // 2
            add(turn, self.marker(t.usr) + self.pieces(turns[n]), False)
            if prompt and n == len(turns) - 1 and self.generates_condition:
                return Rendered(ids + self.marker(t.condition), [])
            if n == 0 and condition:
                add(turn, self.marker(t.condition), False)
                add(turn, self._text(condition), t.condition_is_target)
            add(turn, self.marker(t.sys), t.sys_marker_is_target)
            if n == len(turns) - 1:  # a prompt: the reply begins here
                return Rendered(ids, [])
            add(turn, self.pieces(turns[n + 1]), True)
        add(len(turns) // 2 - 1, self.marker(t.eos), True)  # the closing </s> is the final reply's
        return Rendered(ids, spans)

    def stops(self) -> dict[int, str]:
        return {self.marker(self.template.eos)[0]: "eos", self.marker(self.template.usr)[0]: "usr"}

    def reply(self, ids: Sequence[int]) -> tuple[str, str | None]:
        ids = list(ids)
        if not self.generates_condition:
            return self.decode(ids), None
        sys_id = marker_id(self.tokenizer, self.template.sys)  # "{category}<unused2>{response}"
        if sys_id not in ids:  # the model never reached the response
            return "", self.decode(ids)
        cut = ids.index(sys_id)
        return self.decode(ids[cut + 1 :]), self.decode(ids[:cut])

    def decode(self, ids: Sequence[int]) -> str:
        if self._marker_ids is None:
            self._marker_ids = marker_ids(self.tokenizer)
        kept = [i for i in ids if i not in self._marker_ids]
        text = self.tokenizer.decode(kept, skip_special_tokens=False)
        return " ".join(text.replace("▁", " ").split())


def pretokenize(dialogues: Sequence[Dialogue], tokenizer: PreTrainedTokenizerBase) -> dict[str, list[int]]:
    """The ids of every distinct turn text and condition, from one batched call of the fast tokenizer."""
    texts = sorted(
        {t.text for d in dialogues for t in d.turns} | {d.condition for d in dialogues if d.condition}
    )
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    return dict(zip(texts, ids, strict=True))


def marker_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    """The id of a template marker (`<usr>`, `</s>`, ...), or one error when the tokenizer lacks it."""
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise DataError(
            f"the tokenizer has no '{token}' token, which the dialogue template needs: use a KoGPT2-style"
            " backbone (backbone=tiny_gpt2 or backbone=kogpt2), or a template with this tokenizer's"
            " tokens."
        )
    return token_id


def marker_ids(tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """Ids of the tokenizer's control tokens (bos, pad, `<usr>`, `<unused0>`, ...), not its emoticons."""
    special = {i: t.content for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    special.update(zip(tokenizer.all_special_ids, tokenizer.all_special_tokens, strict=True))
    return {i for i, token in special.items() if MARKER.fullmatch(token)}
