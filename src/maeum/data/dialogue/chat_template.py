"""Dialogues in a tokenizer's own chat template (`apply_chat_template`): ids, label-mask targets, prompts
and stop tokens, behind the same contract as the marker layouts of `maeum.data.dialogue.encoding`.

**Spans, without `{% generation %}` markers.** An assistant message's tokens are found from the rendering
itself: the message starts where the rendering of the messages before it, with `add_generation_prompt=True`,
ends (so the generation prompt is never a target), and it ends after its text and the end-of-turn suffix
that the template writes after every assistant message (`<|im_end|>\\n` in ChatML, `<|eot_id|>` in Llama 3,
`<end_of_turn>\\n` in Gemma). Character spans become token spans through the fast tokenizer's offsets.
Whatever the template writes between the generation prompt and the text is the message's: Qwen3's
`<think>\\n\\n</think>\\n\\n` before the last assistant message is a target, so the model learns to write
the empty thinking block itself after the plain generation prompt, as it does at inference. Where a template
has `{% generation %}` markers, these spans equal `return_assistant_tokens_mask` (tests check it).

**Masks.** `input`: every token; `last_sys`: the final assistant message (its text and end-of-turn
suffix); `all_sys`: every assistant message; `shift`: the control, inputs `[start] + tokens` and labels
`tokens + [eos]`, where `start` is the bos token, or the pad token for tokenizers with none (Qwen).

**Truncation** to `max_length`: the oldest user/assistant exchanges go first (the system message stays),
then the first remaining user text is cut from the left, then the final reply's tail; every cut is
counted, and the final assistant message's end-of-turn suffix always survives.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from maeum.backbones.tokenizer import strip_reasoning
from maeum.data.dialogue.records import IGNORE_INDEX, LABEL_MASKS, ChatTemplate, Dialogue, Turn
from maeum.errors import DataError

Message = dict[str, str]
ROLES = {"usr": "user", "sys": "assistant"}
_PROBE = ("마음 프로브 질문", "마음 프로브 답변")  # texts no template rewrites


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


def stop_ids(tokenizer: PreTrainedTokenizerBase, template: ChatTemplate) -> list[int]:
    """The ids that end a reply: the end-of-turn tokens, then the tokenizer's eos."""
    ids = list(end_of_turn(tokenizer, template)[1])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


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


def encode_chat_dialogues(
    dialogues: Sequence[Dialogue],
    tokenizer: PreTrainedTokenizerBase,
    template: ChatTemplate,
    *,
    label_mask: str,
    max_length: int,
    stats: Counter[str] | None = None,
) -> list[dict[str, list[int]]]:
    """`{"input_ids", "labels"}` of each dialogue (unpadded), tokenized in one batched call; the
    dialogues that do not fit `max_length` are cut one by one (module docstring)."""
    if label_mask not in LABEL_MASKS:
        raise DataError(f"data.label_mask must be one of {', '.join(LABEL_MASKS)}, not '{label_mask}'")
    stats = stats if stats is not None else Counter()
    budget = max_length - (1 if label_mask == "shift" else 0)
    rendered = [_rendered(d, tokenizer, template, n) for n, d in enumerate(dialogues)]
    batch = tokenizer([text for _, text in rendered], add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for n, (dialogue, (messages, text)) in enumerate(zip(dialogues, rendered, strict=True)):
        ids, offsets = batch["input_ids"][n], batch["offset_mapping"][n]
        if len(ids) > budget:
            stats["truncated_examples"] += 1
            messages, text, ids, offsets = _truncate(dialogue, tokenizer, template, budget, stats, n)
        spans = _spans(tokenizer, template, messages, text, n)
        out.append(_targets(ids, offsets, spans, label_mask, tokenizer))
    return out


def _rendered(
    dialogue: Dialogue, tokenizer: PreTrainedTokenizerBase, template: ChatTemplate, n: int
) -> tuple[list[Message], str]:
    turns = dialogue.turns
    speakers = [t.speaker for t in turns]
    if not turns or len(turns) % 2 or speakers != ["usr", "sys"] * (len(turns) // 2):
        raise DataError(
            f"dialogue {n}: a dialogue must alternate usr, sys, ... and end with sys; got {speakers}"
        )
    messages = messages_of(turns, dialogue.condition, tokenizer, template)
    return messages, render(tokenizer, template, messages)


def _spans(
    tokenizer: PreTrainedTokenizerBase, template: ChatTemplate, messages: list[Message], text: str, n: int
) -> list[tuple[int, int]]:
    try:
        return assistant_spans(tokenizer, template, messages, text)
    except DataError as err:
        first = next((m["content"] for m in messages if m["role"] == "user"), "")
        raise DataError(f"dialogue {n} (first user turn {first[:30]!r}): {err}") from None


def _targets(
    ids: list[int],
    offsets: Sequence[tuple[int, int]],
    spans: list[tuple[int, int]],
    label_mask: str,
    tokenizer: PreTrainedTokenizerBase,
) -> dict[str, list[int]]:
    if label_mask == "shift":
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.pad_token_id
        return {"input_ids": [start, *ids], "labels": [*ids, tokenizer.eos_token_id]}
    if label_mask == "input":
        return {"input_ids": list(ids), "labels": list(ids)}
    chosen = spans[-1:] if label_mask == "last_sys" else spans
    labels = [
        t if any(begin <= offset[0] < end for begin, end in chosen) else IGNORE_INDEX
        for t, offset in zip(ids, offsets, strict=True)
    ]
    return {"input_ids": list(ids), "labels": labels}


def _tokenize(tokenizer: PreTrainedTokenizerBase, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return enc["input_ids"], enc["offset_mapping"]


def _truncate(
    dialogue: Dialogue,
    tokenizer: PreTrainedTokenizerBase,
    template: ChatTemplate,
    budget: int,
    stats: Counter[str],
    n: int,
) -> tuple[list[Message], str, list[int], list[tuple[int, int]]]:
    turns = list(dialogue.turns)

    def fit(turns: list[Turn]) -> tuple[list[Message], str, list[int], list[tuple[int, int]]]:
        messages = messages_of(turns, dialogue.condition, tokenizer, template)
        text = render(tokenizer, template, messages)
        return (messages, text, *_tokenize(tokenizer, text))

    messages, text, ids, offsets = fit(turns)
    while len(ids) > budget and len(turns) > 2:  # 1. the oldest whole exchanges
        turns = turns[2:]
        stats["dropped_exchanges"] += 1
        messages, text, ids, offsets = fit(turns)
    for which, key in ((0, "cut_user_texts"), (len(turns) - 1, "cut_replies")):  # 2. first user, 3. reply
        if len(ids) <= budget:
            break
        pieces = tokenizer(turns[which].text, add_special_tokens=False)["input_ids"]
        cut = len(ids) - budget
        while len(ids) > budget and cut <= len(pieces):
            kept = pieces[cut:] if which == 0 else pieces[: len(pieces) - cut]
            turns[which] = Turn(turns[which].speaker, tokenizer.decode(kept).strip())
            messages, text, ids, offsets = fit(turns)
            cut += max(1, len(ids) - budget)
        stats[key] += 1
    if len(ids) > budget:
        raise DataError(
            f"dialogue {n}: max_length={budget} cannot hold even the chat template's markers and system"
            " prompt of this dialogue: raise data.max_length."
        )
    return messages, text, ids, offsets


def encode_chat_prompt(
    history: Sequence[Turn],
    tokenizer: PreTrainedTokenizerBase,
    template: ChatTemplate,
    *,
    max_length: int,
    condition: str | None = None,
) -> list[int]:
    """Ids that ask the model for the next assistant message (`add_generation_prompt=True`), laid out as
    in training; the oldest exchanges go first, then the first user text is cut from the left."""
    turns = list(history)

    def ids(turns: list[Turn]) -> list[int]:
        messages = messages_of(turns, condition, tokenizer, template)
        text = render(tokenizer, template, messages, generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    prompt = ids(turns)
    while len(prompt) > max_length and len(turns) > 1:
        turns = turns[2:]
        prompt = ids(turns)
    if len(prompt) > max_length:
        pieces = tokenizer(turns[0].text, add_special_tokens=False)["input_ids"]
        cut = len(prompt) - max_length
        while len(prompt) > max_length and cut <= len(pieces):
            turns[0] = Turn(turns[0].speaker, tokenizer.decode(pieces[cut:]).strip())
            prompt = ids(turns)
            cut += max(1, len(prompt) - max_length)
    if len(prompt) > max_length:
        raise DataError(
            f"a prompt of max_length={max_length} cannot hold even the chat template's markers and system"
            " prompt: raise the history length (the training data.max_length)."
        )
    return prompt


def reply_text(tokenizer: PreTrainedTokenizerBase, ids: Sequence[int]) -> str:
    """A generated assistant message as plain text: special tokens dropped, a leading thinking block
    (`<think>...</think>`, Qwen3) removed, whitespace normalised."""
    text = strip_reasoning(tokenizer.decode(list(ids), skip_special_tokens=True))
    return " ".join(text.split())
