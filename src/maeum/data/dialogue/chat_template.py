"""Dialogues in a tokenizer's own chat template (`apply_chat_template`): `ChatTemplateLayout`, the layout
of `ChatTemplate` (`data/template=chat_template`).

**Spans, without `{% generation %}` markers.** An assistant message's tokens are found from the rendering
itself: the message starts where the rendering of the messages before it, with `add_generation_prompt=True`,
ends (so the generation prompt is never a target), and it ends after its text and the end-of-turn suffix
that the template writes after every assistant message (`<|im_end|>\\n` in ChatML, `<|eot_id|>` in Llama 3,
`<end_of_turn>\\n` in Gemma). Character spans become token spans through the fast tokenizer's offsets.
Whatever the template writes between the generation prompt and the text is the message's: Qwen3's
`<think>\\n\\n</think>\\n\\n` before the last assistant message is a target, so the model learns to write
the empty thinking block itself after the plain generation prompt, as it does at inference. Where a template
has `{% generation %}` markers, these spans equal `return_assistant_tokens_mask` (tests check it).

The condition is a system message (`ChatTemplate.system_prompt`), or goes into the first user message for a
template without a system role. A cut turn (`Cut`) is decoded back to text and rendered in place. A prompt
is the template's generation prompt (`add_generation_prompt=True`); generation stops at the end-of-turn
tokens and eos; a reply is decoded without its special tokens and a leading thinking block.
"""

from __future__ import annotations

import bisect
import copy
import functools
from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from maeum.backbones.tokenizer_repairs import strip_reasoning
from maeum.data.dialogue.layout import AnyTurn, Layout, Rendered, Span
from maeum.data.dialogue.records import ChatTemplate, Dialogue, Turn
from maeum.errors import DataError

Message = dict[str, str]
ROLES = {"usr": "user", "sys": "assistant"}
_PROBE = ("마음 프로브 질문", "마음 프로브 답변")  # texts no template rewrites


class ChatTemplateLayout(Layout):
    """A `ChatTemplate`: the tokenizer's own chat template (module docstring)."""

    describe = "the tokenizer's chat template"

    def check(self) -> None:
        has_chat_template(self.tokenizer, self.template)

    def render(self, turns: Sequence[AnyTurn], condition: str | None, *, prompt: bool = False) -> Rendered:
        messages = messages_of([self.text(t) for t in turns], condition, self.tokenizer, self.template)
        text = render(self.tokenizer, self.template, messages, generation_prompt=prompt)
        if prompt:
            return Rendered(self.tokenizer(text, add_special_tokens=False)["input_ids"], [])
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return self._rendered(messages, text, enc["input_ids"], enc["offset_mapping"])

    def render_batch(self, dialogues: Sequence[Dialogue]) -> list[Rendered]:
        """Every dialogue rendered to text, then tokenized in one batched call."""
        rendered = [
            (messages := messages_of(d.turns, d.condition, self.tokenizer, self.template),
             render(self.tokenizer, self.template, messages))
            for d in dialogues
        ]  # fmt: skip
        texts = [text for _, text in rendered]
        batch = self.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
        return [
            self._rendered(messages, text, ids, offsets)
            for (messages, text), ids, offsets in zip(
                rendered, batch["input_ids"], batch["offset_mapping"], strict=True
            )
        ]

    def _rendered(
        self, messages: list[Message], text: str, ids: list[int], offsets: Sequence[tuple[int, int]]
    ) -> Rendered:
        """Token spans from the character spans of the assistant messages (a token belongs to the span its
        first character lies in)."""
        starts = [start for start, _ in offsets]  # non-decreasing
        spans = [
            Span(turn, bisect.bisect_left(starts, begin), bisect.bisect_left(starts, end))
            for turn, (begin, end) in enumerate(
                assistant_spans(self.tokenizer, self.template, messages, text)
            )
        ]
        return Rendered(list(ids), spans)

    def stops(self) -> dict[int, str]:
        """The end-of-turn tokens, then the tokenizer's eos: each ends the turn."""
        ids = list(end_of_turn(self.tokenizer, self.template)[1])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return dict.fromkeys(ids, "eos")

    def reply(self, ids: Sequence[int]) -> tuple[str, str | None]:
        return reply_text(self.tokenizer, ids), None

    def exported_tokenizer(self) -> PreTrainedTokenizerBase:
        tokenizer = copy.deepcopy(self.tokenizer)
        if self.template.jinja:
            tokenizer.chat_template = self.template.jinja  # the template it was trained in
        return tokenizer


def has_chat_template(tokenizer: PreTrainedTokenizerBase, template: ChatTemplate) -> None:
    """Raise one clear error when neither the tokenizer nor the template has a chat template."""
    if not (template.jinja or getattr(tokenizer, "chat_template", None)):
        raise DataError(
            f"data/template=chat_template needs a tokenizer with a chat template, and "
            f"'{tokenizer.name_or_path}' has none: use an instruction model's backbone (backbone=qwen3_0_6b,"
            " backbone=tiny_qwen3, ...), give one with data.template.jinja=FILE.jinja, or use"
            " data/template=chat (the KoGPT2 markers)."
        )


def render(
    tokenizer: PreTrainedTokenizerBase,
    template: ChatTemplate,
    messages: Sequence[Message],
    *,
    generation_prompt: bool = False,
) -> str:
    has_chat_template(tokenizer, template)
    return tokenizer.apply_chat_template(
        list(messages),
        chat_template=template.jinja,
        tokenize=False,
        add_generation_prompt=generation_prompt,
    )


def system_role(tokenizer: PreTrainedTokenizerBase, template: ChatTemplate) -> bool:
    """Whether the template renders a system message (Gemma's, for one, raises on it)."""
    return _system_role(tokenizer, template.jinja or tokenizer.chat_template, template)


@functools.lru_cache(maxsize=16)
def _system_role(tokenizer: PreTrainedTokenizerBase, jinja: str, template: ChatTemplate) -> bool:
    probe = [{"role": "system", "content": "마음 시스템 프로브"}, {"role": "user", "content": _PROBE[0]}]
    try:
        return "마음 시스템 프로브" in render(tokenizer, template, probe)
    except Exception:  # jinja's TemplateError, or whatever the template raises
        return False


def messages_of(
    turns: Sequence[Turn], condition: str | None, tokenizer: PreTrainedTokenizerBase, template: ChatTemplate
) -> list[Message]:
    """The chat messages of a dialogue: the condition as a system message (or in the first user
    message, for a template without a system role), then one message per turn."""
    messages = [{"role": ROLES[t.speaker], "content": t.text} for t in turns]
    if condition:
        system = template.system_prompt.format(condition=condition)
        if system_role(tokenizer, template):
            messages.insert(0, {"role": "system", "content": system})
        elif messages:
            messages[0] = {"role": "user", "content": f"{system}\n\n{messages[0]['content']}"}
    return messages


def end_of_turn(tokenizer: PreTrainedTokenizerBase, template: ChatTemplate) -> tuple[str, list[int]]:
    """The text the template writes after an assistant message's content, and the special-token ids in it
    (the end-of-turn tokens: targets in training and stop tokens in generation)."""
    return _end_of_turn(tokenizer, template.jinja or tokenizer.chat_template, template)


@functools.lru_cache(maxsize=16)
def _end_of_turn(
    tokenizer: PreTrainedTokenizerBase, jinja: str, template: ChatTemplate
) -> tuple[str, list[int]]:
    probe = [{"role": "user", "content": _PROBE[0]}, {"role": "assistant", "content": _PROBE[1]}]
    text = render(tokenizer, template, probe)
    suffix = text[text.rindex(_PROBE[1]) + len(_PROBE[1]) :]
    special = set(tokenizer.all_special_ids) | {
        i for i, t in tokenizer.added_tokens_decoder.items() if t.special
    }
    ids = [i for i in tokenizer(suffix, add_special_tokens=False)["input_ids"] if i in special]
    if not ids:
        raise DataError(
            f"the chat template of '{tokenizer.name_or_path}' writes no end-of-turn token after an assistant"
            f" message (it writes {suffix!r}), so a model could never learn where to stop: give a template"
            " that does, with data.template.jinja=FILE.jinja."
        )
    return suffix, ids


def assistant_spans(
    tokenizer: PreTrainedTokenizerBase, template: ChatTemplate, messages: Sequence[Message], text: str
) -> list[tuple[int, int]]:
    """The character span of every assistant message in `text`, the rendering of `messages`."""
    suffix = end_of_turn(tokenizer, template)[0]
    spans = []
    for j, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(tokenizer, template, messages[:j], generation_prompt=True)
        content = message["content"]
        if not text.startswith(prompt):
            raise _not_found(content, "the rendering of the messages before it is not a prefix of the whole")
        found = text.find(content, len(prompt)) if content else len(prompt)
        if found < 0 and content.strip():
            content = content.strip()  # templates that trim the content (Llama 3's `| trim`)
            found = text.find(content, len(prompt))
        if found < 0:
            raise _not_found(message["content"], "its text is not in the rendering")
        end = found + len(content)
        if j == len(messages) - 1:
            end = len(text)
        else:  # the end-of-turn suffix that follows it (the part of it that does, to be safe)
            tail = text[end : end + len(suffix)]
            end += next((k for k, (a, b) in enumerate(zip(tail, suffix, strict=False)) if a != b), len(tail))
        spans.append((len(prompt), end))
    return spans


def _not_found(content: str, why: str) -> DataError:
    return DataError(
        f"chat template: cannot find the assistant message {content[:40]!r} in the tokens ({why}); check"
        " the chat template, or give another with data.template.jinja=FILE.jinja"
    )


def reply_text(tokenizer: PreTrainedTokenizerBase, ids: Sequence[int]) -> str:
    """A generated assistant message as plain text: special tokens dropped, a leading thinking block
    (`<think>...</think>`, Qwen3) removed, whitespace normalised."""
    text = strip_reasoning(tokenizer.decode(list(ids), skip_special_tokens=True))
    return " ".join(text.split())
