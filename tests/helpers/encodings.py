"""Digests of what every shipped dialogue experiment encodes: training rows under every label mask, at the
experiment's `max_length` and at shorter ones that make truncation cut, the prompts that generation asks
with, and the stop ids.

`tests/data/dialogue_digests.json` holds the digests that the code of b079fef (before the one layout
interface) computed; `tests/test_dialogue_digests.py` recomputes them with today's code. A case that the
code refuses is recorded as `refused` (the refusal itself must not change either).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from helpers import corpora as fx
from helpers.configs import CONF, REPO, SHARED_DATA, compose_config
from maeum.data.dialogue.records import LABEL_MASKS
from maeum.errors import DataError

DIGESTS = REPO / "tests" / "data" / "dialogue_digests.json"
# hub backbones -> their offline twins (the same special tokens, ids and layout)
OFFLINE = {"kogpt2": "tiny_gpt2", "korean_gpt2_small": "tiny_gpt2", "qwen3_0_6b": "tiny_qwen3"}
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Case:
    """One experiment's data on one backbone and corpus file: `real` reads the shared corpora."""

    experiment: str
    backbone: str
    real: bool

    @property
    def name(self) -> str:
        return f"{self.experiment}@{self.backbone}{' (real data)' if self.real else ''}"

    @property
    def needs_chat_tokenizers(self) -> bool:
        return self.backbone.startswith("tiny_qwen")


def _experiments() -> list[str]:
    names = []
    for path in sorted(CONF.glob("experiment/*/*.yaml")):
        name = str(path.relative_to(CONF / "experiment").with_suffix(""))
        if name.split("/")[0] in ("chatbot", "leaderboard"):
            names.append(name)
    return names


def _composed(case: Case, tmp_path: Path, *overrides: str) -> object:
    return compose_config(
        "train",
        tmp_path,
        [f"experiment={case.experiment}", f"backbone={case.backbone}", *overrides],
        return_hydra_config=True,
    )


def cases(tmp_path: Path) -> list[Case]:
    """Every shipped chatbot and leaderboard experiment on its offline backbone and a fixture of its corpus;
    a chat-template experiment also on tiny_llama3 (which needs no shared tokenizer); and the experiments
    that read a shared corpus by default, on it. Experiments whose data configs are equal (a tiny twin and
    its hub recipe, a sweep's fixed part) are one case, named by the first."""
    found: dict[str, Case] = {}
    for experiment in _experiments():
        cfg = compose_config("train", tmp_path, [f"experiment={experiment}"], return_hydra_config=True)
        backbone = str(cfg.hydra.runtime.choices.backbone)
        backbone = OFFLINE.get(backbone, backbone)
        data = OmegaConf.to_container(cfg.data, resolve=False)
        data.pop("label_mask", None)  # every mask is encoded anyway
        chat = str(cfg.data.template.get("kind", "")) == "chat_template"
        real = "${paths.data_dir}" in (CONF / "experiment" / f"{experiment}.yaml").read_text(encoding="utf-8")
        for case in (
            Case(experiment, backbone, False),
            *([Case(experiment, "tiny_llama3", False)] if chat and backbone != "tiny_llama3" else []),
            *([Case(experiment, backbone, True)] if real else []),
        ):
            found.setdefault(json.dumps([data, case.backbone, case.real], sort_keys=True, default=str), case)
    return list(found.values())


def _data_overrides(case: Case, tmp_path: Path) -> list[str]:
    if case.real:
        return [f"paths.data_dir={SHARED_DATA}"]
    cfg = _composed(case, tmp_path)
    data = str(cfg.hydra.runtime.choices.data).split("/")[-1]
    if data not in fx.BY_DATA_CONFIG:  # the bundled sample
        return []
    write, suffix = fx.BY_DATA_CONFIG[data]
    path = write(tmp_path / f"말뭉치 ({data}){suffix}", copies=3)
    return [f"data.path='{path}'", "data.test_path=null", "data.val_path=null"]


@functools.cache
def _tokenizer(name: str) -> object:
    from maeum.backbones import load_tokenizer

    return load_tokenizer(name)


def _datamodule(cfg: object, corpus: object = None, **data: object) -> object:
    """The experiment's DataModule (with `data` settings changed), its tokenizer loaded once (the Qwen one
    takes seconds) and, when given, the corpus it read before (read, cleaned and split alike whatever the
    mask and length)."""
    node = copy.copy(cfg.data)  # its interpolations still resolve against the whole config
    with open_dict(node):
        node.update(data)
    datamodule = instantiate(node)
    datamodule._tokenizer = _tokenizer(str(cfg.data.tokenizer))
    if corpus is not None:
        datamodule._corpus = corpus
    return datamodule


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False).encode()).hexdigest()[:16]


def encode_rows(datamodule: object) -> list[dict[str, list[int]]]:
    """Every encoded row of every split, in split then loader order."""
    datamodule.prepare_data()
    datamodule.setup("fit")
    return [dict(row) for split in SPLITS for row in datamodule.datasets[split]]


def prompts(datamodule: object, max_length: int) -> list[list[int]]:
    """The generation prompt of every dialogue's final reply, as `ReplyGenerator` asks for it."""
    from maeum.data.dialogue.encoding import encode_prompt

    out = []
    for split in SPLITS:
        for dialogue in datamodule.corpus.split(split):
            out.append(
                encode_prompt(
                    dialogue.turns[:-1],
                    datamodule.tokenizer,
                    max_length=max_length,
                    condition=dialogue.condition,
                    template=datamodule.template,
                )
            )
    return out


def stops(datamodule: object) -> list[int]:
    from maeum.data.dialogue.encoding import stop_ids

    return stop_ids(datamodule.tokenizer, datamodule.template)


def _attempt(compute: object) -> str:
    try:
        return _digest(compute())
    except DataError:
        return "refused"


def lengths_of(stored: dict[str, str]) -> list[int]:
    """The max_lengths a stored case was encoded at (its keys' `rows/<mask>/<length>`)."""
    return sorted({int(key.split("/")[2]) for key in stored if key.startswith("rows/")}, reverse=True)


def digests(case: Case, tmp_path: Path, lengths: list[int] | None = None) -> dict[str, str]:
    """What one case encodes, digested: its rows under every mask at each length, its generation prompts at
    each length, its stop ids. Without `lengths`: the experiment's `max_length`, and the median and the
    lower quartile of its rows' lengths under `input` at that length, so that truncation cuts."""
    cfg = _composed(case, tmp_path, *_data_overrides(case, tmp_path), "data.cache_dir=null")
    first = _datamodule(cfg, label_mask="input")
    if lengths is None:
        rows = sorted(len(row["input_ids"]) for row in encode_rows(first))
        own = int(first.max_length)
        lengths = sorted({own, rows[len(rows) // 2], rows[len(rows) // 4]}, reverse=True)
    out = {}
    for mask in LABEL_MASKS:
        for length in lengths:
            datamodule = _datamodule(cfg, first.corpus, label_mask=mask, max_length=length)
            out[f"rows/{mask}/{length}"] = _attempt(lambda dm=datamodule: encode_rows(dm))
    for length in lengths:
        out[f"prompts/{length}"] = _attempt(lambda n=length: prompts(first, n))
    out["stops"] = _attempt(lambda: stops(first))
    return out
