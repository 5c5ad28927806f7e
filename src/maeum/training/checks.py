"""What a run refuses before it starts, each in one line that says what to do: combinations that cannot
run (`check_run`, from the run's kind: `maeum.runs.kinds`), a checkpoint that this run cannot continue
(`check_resume_split`), and a tokenizer past the model's embeddings (`check_tokenizer_fits`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig
from pytorch_lightning import LightningDataModule, LightningModule

from maeum.backbones import architecture
from maeum.backbones.embeddings import embedding_rows
from maeum.data.dialogue.layout import layout_class
from maeum.errors import MaeumError
from maeum.inference.checkpoints import read_checkpoint
from maeum.runs.files import RUN_KEY
from maeum.runs.kinds import DECODER, ENCODER, Kind, kind_of

ARTICLE = {
    ENCODER: "an encoder (BERT family: backbone=tiny_bert, kobert, korean_bert_small)",
    DECODER: "a decoder (GPT family: backbone=tiny_gpt2, kogpt2, korean_gpt2_small, qwen3_0_6b)",
}


def check_run(cfg: DictConfig) -> Kind:
    """The run's kind, after refusing what it cannot train: a module or data of another kind, a dialogue
    layout on data without dialogues, a causal objective (or a chatbot) on an encoder-only backbone, a
    masked one on a decoder."""
    kind = kind_of(cfg)
    for part, expected in (("model", kind.module), ("data", kind.data)):
        node = cfg.get(part)
        target = str(node.get("_target_", "")) if node is not None else ""
        if not target or not issubclass(get_class(target), get_class(expected)):
            raise MaeumError(
                f"a {kind.name} run (model.kind) trains a {expected.rsplit('.', 1)[-1]} on its {part}, and "
                f"{part}._target_ is {target or '(none)'}: choose a {part} config of a {kind.name} run."
            )
    if "template" in cfg.data and not kind.layout:
        raise MaeumError(
            f"data.template: a {kind.name} run has no dialogues to lay out; drop data/template (a dialogue "
            "template goes with data=dialogue/... and model=chat_lm)."
        )
    check_backbone(kind, cfg.model)
    return kind


def check_backbone(kind: Kind, model: Mapping[str, Any]) -> None:
    """Refuse a backbone of the other architecture than the run needs (`Kind.needs`): a causal objective or
    a chatbot on an encoder, whose every position would see the token it must predict; a masked one on a
    decoder. A backbone whose config cannot be read here is left to its loader."""
    needs = kind.needs(model)
    backbone = str(model.get("backbone") or "")
    found = architecture(backbone) if needs and backbone else None
    if needs and found and found != needs:
        what = f"model.objective={model.get('objective')}" if kind.objectives else f"a {kind.name} run"
        fits = "; ".join(f"{objective} fits {ARTICLE[a]}" for objective, a in kind.objectives.items())
        raise MaeumError(
            f"{what} needs {ARTICLE[needs].split(' (')[0]} backbone, and {backbone} is "
            f"{ARTICLE[found].split(' (')[0]}. {fits or f'A {kind.name} run needs {ARTICLE[needs]}'}."
        )


LIGHTNING_CKPT_NAMES = ("last", "best", "hpc", "registry")  # ckpt_path values that Lightning resolves itself


def check_resume_split(cfg: DictConfig) -> None:
    """Refuse to resume what the checkpoint cannot continue: another split than its own (before `data.seed`
    was fixed at 42, the split followed `seed`, so an older run's checkpoint names the split seed it was
    trained on), another kind of dialogue template (a chat template against markers), or adapters
    (`model.peft`) where it has none, or the reverse."""
    path = str(cfg.ckpt_path)
    if path in LIGHTNING_CKPT_NAMES or path.startswith("registry:") or "://" in path:
        return  # resolved, or read from remote storage, by Lightning itself
    run = read_checkpoint(cfg.ckpt_path).get(RUN_KEY)  # a missing or damaged one: one error here
    trained_cfg = (run or {}).get("config", {})  # a foreign checkpoint: nothing to check
    trained = trained_cfg.get("data", {}).get("seed")
    if trained is not None and cfg.data.get("seed") is not None and trained != cfg.data.seed:
        raise MaeumError(
            f"{cfg.ckpt_path} was trained on the split of data.seed={trained}, this run splits with "
            f"data.seed={cfg.data.seed}: add data.seed={trained} to resume it on its own split."
        )
    if not trained_cfg:
        return
    kinds = [_layout_of(c.get("data", {}).get("template")) for c in (trained_cfg, cfg)]
    if kinds[0] != kinds[1]:
        raise MaeumError(
            f"{cfg.ckpt_path} was trained on dialogues in {kinds[0]}, and this run lays them out in"
            f" {kinds[1]}: the same token ids mean other things there. Resume it with the data/template it"
            " was trained with."
        )
    adapters = [bool(c.get("model", {}).get("peft")) for c in (trained_cfg, cfg)]
    if adapters[0] != adapters[1]:
        hint = "add model/peft=lora" if adapters[0] else "drop model/peft"
        raise MaeumError(
            f"{cfg.ckpt_path} was trained {'with' if adapters[0] else 'without'} LoRA adapters"
            f" (model.peft), and this run has {'none' if adapters[0] else 'them'}: {hint} to resume it."
        )


def _layout_of(template: object) -> str | None:
    """What a `data.template` lays dialogues out in (None for data without dialogues)."""
    return None if template is None else layout_class(template).describe


def check_tokenizer_fits(cfg: DictConfig, datamodule: LightningDataModule, model: LightningModule) -> None:
    """Refuse a tokenizer with ids past the model's token embeddings before any forward pass (the original
    notebooks' "CUDA device-side assert"): `data.tokenizer` extended, `model.backbone` not."""
    tokenizer = getattr(datamodule, "tokenizer", None)
    rows = embedding_rows(model)
    if tokenizer is None or rows is None or len(tokenizer) <= rows:
        return
    data_tokenizer = cfg.data.get("tokenizer", getattr(datamodule, "tokenizer_name", "?"))
    raise MaeumError(
        f"the tokenizer data.tokenizer={data_tokenizer} has {len(tokenizer)} tokens, and the model"
        f" model.backbone={cfg.model.get('backbone')} has {rows} token embeddings: ids from {rows} up would"
        " index past them. The tokenizer is not the backbone's; point both at the same directory (e.g. the"
        " one `maeum-tokenizer extend` wrote: backbone.name_or_path=DIR sets both)."
    )
