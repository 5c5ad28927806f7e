"""`maeum-tokenizer`: tokenizers trained in KoGPT2's and KoBERT's style, extended ones, and their embeddings.

Every file is written under Korean names with spaces and parentheses; the texts hold emoticons and jamo.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
import torch
from helpers.configs import SHARED_DATA, compose_config

from maeum.backbones import KOBERT_SPECIAL_TOKENS, KOGPT2_SPECIAL_TOKENS, load_model, load_tokenizer
from maeum.backbones.embeddings import embedding_rows, grow_embeddings
from maeum.backbones.extension import extend_tokenizer
from maeum.errors import BackboneError
from maeum.tokenizer import main

KOREAN_TEXT = SHARED_DATA / "korean-text"
NOUNS = ["친구", "엄마", "동생", "선생님", "우리 팀", "회사 사람들", "남자친구", "할머니"]
PARTICLES = ["는", "랑", "도", "한테"]
STEMS = ["기뻐", "슬퍼", "화가 나", "불안해", "속상해", "고마워"]
ENDINGS = ["요", "서 울었어 ㅠㅠ", "서 웃었어 ㅋㅋ", "요 ^^", "서 잠이 안 와 😤", "... ㄱㅅ :)"]


def write_corpus(path: Path, blank: int = 3) -> Path:
    """Korean lines (every noun, particle, stem and ending: 1,152) and `blank` blank lines."""
    lines = [f"{n}{p} {s}{e}" for n in NOUNS for p in PARTICLES for s in STEMS for e in ENDINGS]
    path.write_text("\n".join(lines[:20] + [""] * blank + lines[20:]) + "\n", encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`maeum-tokenizer argv...` in-process: exit code, stdout, stderr."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.unit
@pytest.mark.parametrize(("style", "vocab", "specials"), [("kogpt2", 2700, 109), ("kobert", 2600, 5)])
def test_train_on_korean_files(
    style: str, vocab: int, specials: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_corpus(tmp_path / "말뭉치 (1).txt")
    other = write_corpus(tmp_path / "두 번째 (사본).txt", blank=0)
    out = tmp_path / "토크나이저 (새것)"
    code, stdout, stderr = run(
        capsys, "train", "--style", style, "--vocab-size", str(vocab), "--out", str(out),
        str(corpus), str(tmp_path / "두 번째*.txt"), "--heldout-fraction", "0.2",
    )  # fmt: skip
    assert code == 0, stderr
    assert "held out" in stdout
    tokenizer = load_tokenizer(str(out))
    expected = KOGPT2_SPECIAL_TOKENS if style == "kogpt2" else KOBERT_SPECIAL_TOKENS
    assert [tokenizer.convert_tokens_to_ids(t) for t in expected] == list(range(specials))
    if style == "kogpt2":
        assert (tokenizer.bos_token, tokenizer.pad_token_id, tokenizer.unk_token_id) == ("</s>", 3, 5)
        assert tokenizer.decode(tokenizer("오늘 너무 기뻐요")["input_ids"]) == "오늘 너무 기뻐요"
    else:
        ids = tokenizer("오늘 너무 기뻐요")["input_ids"]
        assert ids[0] == 2 and ids[-1] == 3 and 0 not in ids  # [CLS] .. [SEP]
    report = json.loads((out / "maeum_tokenizer.json").read_text(encoding="utf-8"))
    assert report["style"] == style and report["vocab_size"] == len(tokenizer) > report["vocab_size_minimum"]
    assert report["corpus"]["blank"] == 3 and report["corpus"]["lines"] == 1155 + 1152
    assert [s["path"] for s in report["corpus"]["sources"]] == [str(corpus), str(other)]
    assert all(len(s["sha256"]) == 64 for s in report["corpus"]["sources"])
    held = report["heldout"]
    assert held["lines"] == report["corpus"]["heldout"] > 0
    assert 0 <= held["unk_share"] <= 1 and held["chars_per_token"] > 1


@pytest.mark.unit
@pytest.mark.parametrize(("style", "minimum"), [("kogpt2", 2632), ("kobert", 2527)])
def test_a_vocabulary_too_small_is_one_error(
    style: str, minimum: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_corpus(tmp_path / "말뭉치 (1).txt")
    code, _, stderr = run(
        capsys, "train", "--style", style, "--vocab-size", "500", "--out", str(tmp_path / "o"), str(corpus)
    )
    assert code == 1 and len(stderr.strip().splitlines()) == 1, stderr
    assert f"a vocabulary of 500 is too small for a {style} tokenizer" in stderr
    assert f"need at least {minimum}" in stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.unit
def test_a_file_that_is_not_utf8_is_named_with_its_byte_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_corpus(tmp_path / "말뭉치 (1).txt")
    bad = tmp_path / "윈도우 메모장 (cp949).txt"
    bad.write_bytes("안녕하세요\n".encode() + "반가워요 ㅋㅋ\n".encode("cp949"))
    code, _, stderr = run(
        capsys,
        "train",
        "--style",
        "kogpt2",
        "--vocab-size",
        "3000",
        "--out",
        str(tmp_path / "o"),
        str(good),
        str(bad),
    )
    assert code == 1 and len(stderr.strip().splitlines()) == 1, stderr
    assert f"{bad}: not UTF-8 at byte offset 16 (line 2)" in stderr  # 안녕하세요 + newline: 16 bytes


@pytest.mark.unit
def test_extend_counts_the_tokens_already_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = tmp_path / "새 토큰 (목록).txt"
    tokens.write_text("<emotion>\n\n<persona>\n<emotion>\n<sys>\nㅋㅋ\n", encoding="utf-8")
    out = tmp_path / "확장 (gpt2)"
    code, stdout, stderr = run(capsys, "extend", "tiny_gpt2", "--tokens-file", str(tokens), "--out", str(out))
    assert code == 0, stderr
    report = json.loads((out / "maeum_tokenizer.json").read_text(encoding="utf-8"))
    base = len(load_tokenizer("tiny_gpt2"))
    assert report["added"] == ["<emotion>", "<persona>"]
    assert report["already_present"] == ["<sys>", "ㅋㅋ"] and report["repeated"] == 1
    assert report["base_vocab_size"] == report["base_embeddings"] == base
    assert "2 already in the vocabulary" in stdout
    tokenizer = load_tokenizer(str(out))
    assert len(tokenizer) == report["vocab_size"] == base + 2
    assert tokenizer.convert_tokens_to_ids(["<emotion>", "<persona>"]) == [base, base + 1]
    assert [tokenizer.convert_tokens_to_ids(t) for t in KOGPT2_SPECIAL_TOKENS] == list(range(109))
    assert {"config.json", "model.safetensors"} <= {p.name for p in out.iterdir()}
    code, _, stderr = run(capsys, "extend", "tiny_gpt2", "--tokens", "<x>", "--out", str(out))
    assert code == 1 and "already exists and is not empty" in stderr


@pytest.mark.unit
def test_an_extended_kobert_tokenizer_keeps_its_ids_and_template(tmp_path: Path) -> None:
    out = tmp_path / "확장 (bert)"
    report = extend_tokenizer("tiny_bert", ["[EMO]", "[CLS]", "기쁨이"], out)
    assert report["already_present"] == ["[CLS]"]
    tokenizer, base = load_tokenizer(str(out)), load_tokenizer("tiny_bert")
    assert [tokenizer.convert_tokens_to_ids(t) for t in KOBERT_SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tokenizer.padding_side == "right" and tokenizer.pad_token_id == 1
    batch = tokenizer(["오늘 [EMO] 너무 기뻐요 ㅋㅋ", "기쁨이"], padding=True)
    first, second = batch["input_ids"]
    assert first[0] == 2 and first[-1] == 3 and len(base) in first  # [CLS] .. [EMO] .. [SEP]
    assert batch["token_type_ids"] == [[0] * len(first)] * 2 and second[-1] == 1
    plain = "시험에 떨어져서 너무 슬퍼"
    assert tokenizer(plain)["input_ids"] == base(plain)["input_ids"]
    with pytest.raises(BackboneError, match="not a tiny backbone name nor a local directory"):
        extend_tokenizer("skt/kobert-base-v1", ["[EMO]"], tmp_path / "hub")


def assert_mean_rows(weight: torch.Tensor, old: int) -> None:
    assert torch.equal(weight[old:], weight[:old].mean(dim=0).expand_as(weight[old:]))


@pytest.mark.unit
def test_grown_rows_are_the_mean_input_and_untied_output(tmp_path: Path) -> None:
    model = load_model("tiny_llama3", causal_lm=True)  # untied output embeddings
    before = model.get_input_embeddings().weight.detach().clone()
    output_before = model.get_output_embeddings().weight.detach().clone()
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    assert grow_embeddings(model, len(before) + 3) == 3
    assert torch.equal(torch.rand(2), expected)  # the caller's RNG is untouched
    inputs, outputs = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert inputs.shape[0] == outputs.shape[0] == len(before) + 3 == model.config.vocab_size
    assert torch.equal(inputs[: len(before)], before) and torch.equal(outputs[: len(before)], output_before)
    assert_mean_rows(inputs, len(before))
    assert_mean_rows(outputs, len(before))
    assert grow_embeddings(model, 10) == 0  # never shrinks


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tiny_gpt2 and tiny_bert with two more tokens each, model files copied."""
    root = tmp_path_factory.mktemp("확장된 백본")
    directories = {name: root / f"{name} (+2)" for name in ("tiny_gpt2", "tiny_bert")}
    for name, directory in directories.items():
        extend_tokenizer(name, ["<감정>", "<페르소나>"], directory)
    return directories


@pytest.mark.unit
def test_the_classifier_grows_to_an_extended_tokenizer(extended: dict[str, Path], caplog) -> None:
    from maeum.models.classifier import EmotionClassifier

    directory = extended["tiny_bert"]
    with caplog.at_level(logging.INFO):
        model = EmotionClassifier(backbone=str(directory), labels=["기쁨", "슬픔"], optimizer={})
    old = len(load_tokenizer("tiny_bert"))
    assert embedding_rows(model) == len(load_tokenizer(str(directory))) == old + 2
    assert_mean_rows(model.net.encoder.get_input_embeddings().weight.detach(), old)
    assert any("Resizing" in r.getMessage() for r in caplog.records)


def refused(overrides: list[str], run_dir: Path, caplog) -> str:
    """The one error line `maeum-train` ends with."""
    from maeum.train import train

    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit):
        train(compose_config("train", run_dir, overrides))
    (message,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    return message


@pytest.mark.unit
def test_an_extended_data_tokenizer_with_the_original_classifier_is_refused(
    extended: dict[str, Path], tmp_path: Path, caplog
) -> None:
    message = refused(["debug=fdr", "~logger", f"data.tokenizer='{extended['tiny_bert']}'"], tmp_path, caplog)
    old = len(load_tokenizer("tiny_bert"))
    assert (
        f"has {old + 2} tokens" in message
        and f"model.backbone=tiny_bert has {old} token embeddings" in message
    )


@pytest.mark.e2e
def test_extend_then_fine_tune_the_chatbot(extended: dict[str, Path], tmp_path: Path, caplog) -> None:
    from maeum.models.chat_lm import ChatLM
    from maeum.train import train

    directory = extended["tiny_gpt2"]
    old = len(load_tokenizer("tiny_gpt2"))
    model = ChatLM(backbone=str(directory), optimizer={"_target_": "torch.optim.AdamW", "_partial_": True})
    assert embedding_rows(model) == len(load_tokenizer(str(directory))) == old + 2
    assert_mean_rows(model.model.get_input_embeddings().weight.detach(), old)
    chatbot = ["experiment=chatbot/sample_tiny", "debug=fdr", "~logger"]
    metrics = train(
        compose_config("train", tmp_path / "run", [*chatbot, f"backbone.name_or_path='{directory}'"])
    )
    assert metrics["test/response_ppl"] > 1
    # the seed's crash: the data's tokenizer extended, the model not; refused before any forward pass
    message = refused([*chatbot, f"data.tokenizer='{directory}'"], tmp_path / "refused", caplog)
    assert (
        f"has {old + 2} tokens" in message
        and f"model.backbone=tiny_gpt2 has {old} token embeddings" in message
    )


@pytest.mark.unit
@pytest.mark.skipif(not KOREAN_TEXT.is_dir(), reason=f"{KOREAN_TEXT} (the shared Korean text) is absent")
@pytest.mark.parametrize("style", ["kogpt2", "kobert"])
def test_train_on_part_of_the_shared_corpus(
    style: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(KOREAN_TEXT / f"{name}.txt") for name in ("apeach", "question_pair", "kommongen")]
    started = time.perf_counter()
    code, _, stderr = run(
        capsys, "train", "--style", style, "--vocab-size", "4000", "--out", str(tmp_path / "t"), *files
    )
    assert code == 0, stderr
    assert time.perf_counter() - started < 60
    report = json.loads((tmp_path / "t" / "maeum_tokenizer.json").read_text(encoding="utf-8"))
    held = report["heldout"]
    assert report["corpus"]["trained"] > 8000 and held["lines"] > 50
    assert held["unk_share"] < 0.01 and held["chars_per_token"] > 1.5
