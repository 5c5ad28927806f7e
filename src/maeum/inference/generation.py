"""Replies from a fine-tuned causal LM: batched `model.generate` with the KV cache, cleaned to plain text.

Settings are `transformers.GenerationConfig` fields, from `conf/generation/*.yaml`: `greedy` (the default,
as in the original notebooks) or `sampling` (temperature, top_k, top_p, repetition_penalty,
no_repeat_ngram_size). Generation stops where the dialogue layout says (`Layout.stops`): at `</s>` or at
the user marker (`<usr>`) in a marker layout, at the end-of-turn tokens in a chat template.

Prompts are laid out exactly as in training (`maeum.data.dialogue.encoding.encode_prompt`), left-padded and
batched by length; the layout turns a reply's ids into text (`Layout.reply`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import OmegaConf
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from maeum.data.dialogue.encoding import encode_prompt
from maeum.data.dialogue.layout import layout_for
from maeum.data.dialogue.records import TEMPLATES, Dialogue
from maeum.inference.precision import autocast, check_precision
from maeum.paths import config_dir

GREEDY = dict(OmegaConf.load(config_dir() / "generation" / "greedy.yaml"))  # the one greedy preset
FIRST_PASS = 0.375  # the share of max_new_tokens that every reply gets before finished ones drop out


@dataclass(frozen=True)
class Reply:
    text: str
    condition: str | None = None  # what the model wrote for the condition (label_response's category)
    tokens: int = 0  # the tokens generated before the stop token (or all of them, without one)
    # why it ended: "eos" (`</s>`, a chat template's end of turn), "usr" (the user marker), "max_new_tokens"
    stop: str = "eos"


class ReplyGenerator:
    """A causal LM, its tokenizer and template, ready to answer batches of dialogues.

    Args:
        max_length: the longest history kept, in tokens (the training `max_length`); the reply comes on top.
        settings: `GenerationConfig` fields (`conf/generation/*.yaml`); greedy, 32 new tokens when None.
        precision: "32", or "bf16" to generate under bf16 autocast (`maeum.inference.precision.autocast`).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int,
        template: Any = TEMPLATES["chat"],
        settings: Mapping[str, Any] | None = None,
        batch_size: int = 128,
        precision: str = "32",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.batch_size = batch_size
        self.precision = check_precision(precision)
        settings = dict(settings if settings is not None else GREEDY)
        self.settings = settings
        self.history_length = max_length
        positions = getattr(model.config, "n_positions", None) or getattr(
            model.config, "max_position_embeddings", max_length + settings.get("max_new_tokens", 32)
        )
        self.max_length = min(max_length, positions - settings.get("max_new_tokens", 32))
        self.layout = layout_for(template, tokenizer)
        self.stops = self.layout.stops()
        self.stop_ids = list(self.stops)
        self.config = GenerationConfig(
            **settings,
            eos_token_id=self.stop_ids,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            use_cache=True,
        )

    def with_settings(self, settings: Mapping[str, Any]) -> ReplyGenerator:
        """The same model, tokenizer and template under other generation settings (a preset)."""
        return ReplyGenerator(
            self.model,
            self.tokenizer,
            max_length=self.history_length,
            template=self.template,
            settings=settings,
            batch_size=self.batch_size,
            precision=self.precision,
        )

    def prompt(self, dialogue: Dialogue) -> list[int]:
        return encode_prompt(
            dialogue.turns,
            self.tokenizer,
            max_length=self.max_length,
            condition=dialogue.condition,
            layout=self.layout,
        )

    @torch.inference_mode()
    def generate(self, dialogues: Sequence[Dialogue]) -> list[Reply]:
        """The next sys turn of every dialogue (each ends on a usr turn), in input order.

        Batched decoding runs every row of a batch until its longest reply ends, so most of a batch's
        work goes to rows that already stopped. So the first `FIRST_PASS` of the new tokens are
        generated for every prompt, and only the replies that have not stopped by then go on, re-batched
        by length, for the rest of the budget. Greedy replies are the same as in one pass (the second
        pass starts from the prompt and the tokens so far, which it re-reads in one forward instead of
        the cache: the same up to float rounding; `tests/test_generation.py` checks it). Settings that
        a second call would change (beams, several sequences, `forced_eos_token_id`, ...) decode in one
        pass (`_two_passes`)."""
        prompts = [self.prompt(d) for d in dialogues]
        budget = self.config.max_new_tokens or 32
        first = min(budget, max(1, round(budget * FIRST_PASS))) if self._two_passes() else budget
        generated = self._generate(prompts, first, self.config.min_new_tokens or 0)
        going = [i for i, ids in enumerate(generated) if len(ids) == first and not self._stops(ids)]
        if going and budget > first:
            rest = self._generate(
                [prompts[i] + generated[i] for i in going],
                budget - first,
                max(0, (self.config.min_new_tokens or 0) - first),
            )
            for i, ids in zip(going, rest, strict=True):
                generated[i] = generated[i] + ids
        return [self.clean(ids) for ids in generated]

    def _two_passes(self) -> bool:
        """Whether the settings decode the same in two passes: one sequence per prompt, no beams, no
        budget of their own (`max_length`) and nothing tied to the start or end of a `generate` call."""
        config = self.config
        tied = ("forced_eos_token_id", "begin_suppress_tokens", "exponential_decay_length_penalty")
        tied += ("stop_strings",)
        return (
            (config.num_beams or 1) == 1
            and (config.num_return_sequences or 1) == 1
            and config.max_new_tokens is not None
            and not any(getattr(config, name, None) for name in tied)
        )

    def _stops(self, ids: Sequence[int]) -> bool:
        return any(i in self.stop_ids for i in ids)

    def _generate(self, prompts: list[list[int]], new_tokens: int, min_new_tokens: int) -> list[list[int]]:
        """Up to `new_tokens` ids after each prompt, in input order, from batches of similar length."""
        config = copy.deepcopy(self.config)
        config.max_new_tokens = new_tokens
        config.min_new_tokens = min_new_tokens
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        generated: list[list[int]] = [[] for _ in prompts]
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = self.tokenizer.pad(
                {"input_ids": [prompts[i] for i in rows]}, padding_side="left", return_tensors="pt"
            ).to(self.model.device)
            with autocast(self.precision, self.model.device):
                out = self.model.generate(**batch, generation_config=config)
            for i, ids in zip(rows, out[:, batch["input_ids"].shape[1] :].tolist(), strict=True):
                generated[i] = ids
        return generated

    def clean(self, ids: Sequence[int]) -> Reply:
        """Plain text of generated ids: cut at the first stop id, then the layout's reply text."""
        ids = list(ids)
        stop = next((n for n, i in enumerate(ids) if i in self.stops), len(ids))
        reason = self.stops[ids[stop]] if stop < len(ids) else "max_new_tokens"
        text, condition = self.layout.reply(ids[:stop])
        return Reply(text, condition, stop, reason)


def generate_replies(
    model: PreTrainedModel,
    data: Any,
    dialogues: Sequence[Dialogue],
    settings: Mapping[str, Any] | None,
    batch_size: int = 128,
    seed: int | None = None,
) -> list[Reply]:
    """The model's replies to `dialogues` laid out as `data` lays them out (its tokenizer, template and
    `max_length`: a dialogue DataModule), in eval mode (its mode is restored after); with `seed`, under
    that seed, leaving the global random state as it was."""
    generator = ReplyGenerator(
        model,
        data.tokenizer,
        max_length=data.max_length,
        template=data.template,
        settings=settings,
        batch_size=batch_size,
    )
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
            if seed is not None:
                torch.manual_seed(seed)
            return generator.generate(dialogues)
    finally:
        model.train(was_training)
