"""DialogueDataModule: leak-free splits, turn prefixes, cached encoding, padding, response labels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import corpora as fx
from helpers.configs import SHARED_DATA, compose_config
from hydra.utils import instantiate
from omegaconf import OmegaConf

from maeum.cli import hydra_override
from maeum.data.dialogue.datamodule import DialogueDataModule
from maeum.data.dialogue.readers import read_xpersona_ko
from maeum.data.dialogue.records import IGNORE_INDEX, LABEL_MASKS
from maeum.data.splits import normalize_text
from maeum.errors import DataError

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


@pytest.mark.parametrize(
    "corpus", ["sample", "jsonl", "chatbotdata", "wellness", "aihub_emotion", "hg_tods", "xpersona_ko"]
)
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


def _keys(dialogues) -> set[tuple[str, ...]]:
    return {tuple(t.text for t in d.turns) for d in dialogues}


def test_xpersona_ko_keeps_the_files_test_split_and_splits_its_valid_dialogues(tmp_path: Path) -> None:
    """One file, two official splits: the test_reader reads the file's test dialogues (from data.path), and
    the valid ones are split into train/val; no dialogue is in two splits."""
    path = fx.xpersona_ko_jsonl(tmp_path / "대화 (xpersona).jsonl", copies=10)
    dm = datamodule(
        tmp_path, "data=dialogue/xpersona_ko", hydra_override(f"data.path={path}"), "data.val_fraction=0.25"
    )
    assert dm.paths == {"train": str(path), "val": None, "test": str(path)} and dm.test_fraction == 0
    assert dm.corpus.stats() == {
        "rows_read": 60,
        "rows_kept": 60,
        "dropped": {},
        "splits": {"train": 30, "val": 10, "test": 20},
    }
    splits = {name: _keys(dm.corpus.split(name)) for name in ("train", "val", "test")}
    assert sum(map(len, splits.values())) == 60  # each dialogue once, in one split
    cleaned = {f: _keys(map(dm._clean, read_xpersona_ko(path, split=f).records)) for f in ("valid", "test")}
    assert splits["train"] | splits["val"] == cleaned["valid"] and splits["test"] == cleaned["test"]
    assert not (splits["train"] & splits["val"]) and not (splits["train"] | splits["val"]) & splits["test"]
    dm.setup()
    assert {name: len(dataset) for name, dataset in dm.datasets.items()} == dm.corpus.stats()["splits"]
    # grouped by their first user turn, the valid dialogues that open like a test one would leave train/val
    by_first = datamodule(
        tmp_path, "data=dialogue/xpersona_ko", hydra_override(f"data.path={path}"), "data.split_by=first_usr"
    )
    assert by_first.corpus.stats()["dropped"] == {"train text also in a held-out split file": 20}


def test_a_test_reader_reads_a_test_file_and_split_by_is_checked(tmp_path: Path) -> None:
    path = fx.xpersona_ko_jsonl(tmp_path / "대화 (xpersona).jsonl", copies=3)
    test_file = tmp_path / "시험 (test).jsonl"
    test_file.write_text("".join(x for x in path.open(encoding="utf-8") if '"test"' in x), encoding="utf-8")
    with_file = datamodule(
        tmp_path,
        "data=dialogue/xpersona_ko",
        hydra_override(f"data.path={path}"),
        hydra_override(f"data.test_path={test_file}"),
    )
    assert with_file.paths["test"] == str(test_file) and with_file.corpus.stats()["splits"]["test"] == 6
    # with no test_reader and no test file, the test split is data.test_fraction of the valid dialogues
    plain = datamodule(
        tmp_path,
        "data=dialogue/xpersona_ko",
        hydra_override(f"data.path={path}"),
        "data.test_reader=null",
        "data.test_fraction=0.2",
    )
    assert plain.paths["test"] is None and plain.corpus.stats()["splits"]["test"] == 2  # from the valid ones
    with pytest.raises(DataError, match=r"data\.split_by must be one of first_usr, dialogue, not 'turn'"):
        DialogueDataModule(read_xpersona_ko, str(path), "tiny_gpt2", split_by="turn")


XPERSONA = SHARED_DATA / "korean-text" / "xpersona_ko_dialogues.jsonl"


@pytest.mark.skipif(not XPERSONA.is_file(), reason=f"no real XPersona Korean dialogues at {XPERSONA}")
def test_real_xpersona_ko_sets_up_whole_with_its_own_test_split(tmp_path: Path) -> None:
    dm = datamodule(tmp_path, "data=dialogue/xpersona_ko", f"data.path={XPERSONA}")
    dm.setup()
    stats = dm.corpus.stats()
    assert stats["rows_read"] == 599 and stats["rows_kept"] == 599 and stats["dropped"] == {}
    assert stats["splits"]["test"] == 300 and stats["splits"]["train"] + stats["splits"]["val"] == 299
    assert sum(len(d.turns) for d in dm.corpus.dialogues) == 9362
    rows = [dm.datasets[s][i] for s in ("train", "val", "test") for i in range(len(dm.datasets[s]))]
    assert max(len(row["input_ids"]) for row in rows) <= 512 == dm.max_length


def test_an_encoder_tokenizer_is_refused_with_advice(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no '<usr>' token.*backbone=tiny_gpt2"):
        datamodule(tmp_path, "backbone=tiny_bert").setup()


def test_one_batched_tokenizer_call_gives_the_same_encodings() -> None:
    from maeum.backbones import load_tokenizer
    from maeum.data.dialogue.encoding import encode_dialogue, encode_dialogues
    from maeum.data.dialogue.readers import read_dialogue_jsonl
    from maeum.paths import resource

    tok = load_tokenizer("tiny_gpt2")
    dialogues = read_dialogue_jsonl(str(resource("dialogue_sample.jsonl"))).records
    for mask in ("input", "last_sys", "shift"):
        batched = encode_dialogues(dialogues, tok, label_mask=mask, max_length=40)
        assert batched == [encode_dialogue(d, tok, label_mask=mask, max_length=40) for d in dialogues]
