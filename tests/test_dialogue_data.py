"""DialogueDataModule: leak-free splits, turn prefixes, cached encoding, padding, response labels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.configs import SHARED_DATA, compose_config
from hydra.utils import instantiate
from omegaconf import OmegaConf

from maeum.data.dialogue.datamodule import DialogueDataModule
from maeum.data.dialogue.records import IGNORE_INDEX, LABEL_MASKS
from maeum.data.splits import normalize_text

pytestmark = pytest.mark.unit


def datamodule(tmp_path: Path, *overrides: str) -> DialogueDataModule:
    cache = f"paths.cache_dir={tmp_path}/cache"
    cfg = compose_config("train", tmp_path, ["data=dialogue/sample", "backbone=tiny_gpt2", cache, *overrides])
    return instantiate(cfg.data)


def test_sample_dialogues_split_by_first_user_turn_with_prefixes(tmp_path: Path) -> None:
    plain, expanded = datamodule(tmp_path), datamodule(tmp_path, "data.turn_prefixes=true")
    dialogues, indices = plain.corpus.dialogues, plain.corpus.indices
    firsts = {
        name: {normalize_text(dialogues[i].turns[0].text) for i in rows} for name, rows in indices.items()
    }
    assert not (firsts["train"] & firsts["val"]) and not (firsts["train"] & firsts["test"])
    n_prefixes = sum(len(dialogues[i].turns) // 2 for i in indices["train"])
    assert expanded.corpus.stats()["splits"] == {**plain.corpus.stats()["splits"], "train": n_prefixes}


def test_batches_pad_ids_and_labels_to_their_longest_row(tmp_path: Path) -> None:
    dm = datamodule(tmp_path)
    dm.setup()
    batch = next(iter(dm.val_dataloader()))
    lengths = batch["attention_mask"].sum(dim=1)
    assert batch["input_ids"].shape[1] == lengths.max()
    for row, n in zip(range(len(lengths)), lengths.tolist(), strict=True):
        assert (batch["input_ids"][row, n:] == dm.tokenizer.pad_token_id).all()
        assert (batch["labels"][row, n:] == IGNORE_INDEX).all()
        assert batch["input_ids"][row, n - 1] == dm.tokenizer.eos_token_id  # every dialogue ends with </s>
    assert torch.equal(batch["labels"], batch["response_labels"])  # last_sys is the response mask


def test_shift_keeps_an_unshifted_response_view(tmp_path: Path) -> None:
    dm = datamodule(tmp_path, "data.label_mask=shift")
    dm.setup()
    row = dm.datasets["val"][0]
    assert row["input_ids"][0] == dm.tokenizer.bos_token_id and row["input_ids"][1:] == row["labels"][:-1]
    assert row["response_input_ids"] == row["input_ids"][1:]
    assert sum(label != IGNORE_INDEX for label in row["response_labels"]) < len(row["response_labels"]) // 2


def test_encoding_is_cached(tmp_path: Path) -> None:
    datamodule(tmp_path).setup()
    files = list((tmp_path / "cache" / "encoded").glob("*.npz"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    datamodule(tmp_path).setup()
    assert files[0].stat().st_mtime_ns == stamp
    datamodule(tmp_path, "data.label_mask=all_sys").setup()
    assert len(list((tmp_path / "cache" / "encoded").glob("*.npz"))) == 2


@pytest.mark.parametrize("corpus", ["sample", "jsonl", "chatbotdata", "wellness", "aihub_emotion", "hg_tods"])
def test_every_mask_builds_the_datamodule_of_every_dialogue_corpus(tmp_path: Path, corpus: str) -> None:
    """Each corpus config with each mask (as `data.label_mask=<mask>` on the command line) instantiates
    its DataModule, reader and template (nothing is read: the corpus loads on first use)."""
    cfg = compose_config("train", tmp_path, [f"data=dialogue/{corpus}", "data.path=x"])
    assert cfg.data.reader._target_.startswith("maeum.data.dialogue.readers.")
    for mask in LABEL_MASKS:
        data = instantiate(OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"data.label_mask={mask}"])).data)
        assert isinstance(data, DialogueDataModule)
        assert data.label_mask == mask
        assert callable(data.reader)


@pytest.mark.skipif(not (SHARED_DATA / "hg-tods").is_dir(), reason=f"no real HG-TODS at {SHARED_DATA}")
def test_real_hg_tods_with_its_official_test_file(tmp_path: Path) -> None:
    hg = SHARED_DATA / "hg-tods"
    dm = datamodule(
        tmp_path,
        "data=dialogue/hg_tods",
        f"data.path={hg}/dev_dialog.json",
        f"data.test_path={hg}/test_dialog.json",
    )
    dm.setup()
    stats = dm.corpus.stats()
    assert stats["rows_read"] == 298 + 297
    assert stats["splits"]["test"] > 250 and stats["splits"]["train"] > 200
    lengths = [len(dm.datasets["train"][i]["input_ids"]) for i in range(len(dm.datasets["train"]))]
    assert max(lengths) <= 256


def test_an_encoder_tokenizer_is_refused_with_advice(tmp_path: Path) -> None:
    from maeum.errors import DataError

    with pytest.raises(DataError, match=r"no '<usr>' token.*backbone=tiny_gpt2"):
        datamodule(tmp_path, "backbone=tiny_bert").setup()


def test_one_batched_tokenizer_call_gives_the_same_encodings() -> None:
    from maeum.backbones import load_tokenizer
    from maeum.data.dialogue.encoding import encode_dialogue, pretokenize
    from maeum.data.dialogue.readers import read_dialogue_jsonl
    from maeum.paths import resource

    tok = load_tokenizer("tiny_gpt2")
    dialogues = read_dialogue_jsonl(str(resource("dialogue_sample.jsonl"))).records
    table = pretokenize(dialogues, tok)
    for d in dialogues:
        for mask in ("input", "last_sys", "shift"):
            assert encode_dialogue(
                d, tok, label_mask=mask, max_length=40, pretokenized=table
            ) == encode_dialogue(d, tok, label_mask=mask, max_length=40)
