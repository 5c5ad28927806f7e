"""LoRA through peft on a tiny twin in its chat template: only the adapters train, checkpoints hold only
them, the merged export equals the adapter model and loads in `pipeline`, the adapter export loads in
`PeftModel`, and the chat answers with either; plus the errors of `model.peft`, QLoRA and resumes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from helpers.configs import LORA_CHATBOT, SHARED_DATA, compose_config
from helpers.runs import best_checkpoint
from hydra.utils import instantiate
from pytorch_lightning import Trainer
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, pipeline

from maeum.backbones import build_tiny, load_model
from maeum.data.dialogue.records import ChatTemplate, Dialogue, Turn
from maeum.errors import MaeumError
from maeum.inference.generation import ReplyGenerator
from maeum.inference.hf_export import write_export
from maeum.inference.loading import load_chatbot
from maeum.runs.kinds import model_config
from maeum.training.checks import check_resume_split


def user_error(build) -> MaeumError:
    """The `MaeumError` that `build()` raises, through Hydra's `InstantiationException` around it."""
    with pytest.raises(Exception) as info:  # noqa: PT011 - unwrapped below
        build()
    err: BaseException | None = info.value
    while err is not None and not isinstance(err, MaeumError):
        err = err.__cause__
    assert err is not None, repr(info.value)
    return err


PROBE = "<|start_header_id|>user<|end_header_id|>\n\n요즘 너무 힘들어 ㅠㅠ<|eot_id|>"


def base_name(name: str) -> str:
    """A peft parameter's name in the plain model (`...model.x.base_layer.weight` → `x.weight`)."""
    return name.removeprefix("model.").removeprefix("base_model.model.").replace(".base_layer", "")


@pytest.mark.e2e
def test_a_lora_run_trains_only_its_adapters_and_its_base_stays_bit_identical(tmp_path: Path) -> None:
    cfg = compose_config("train", tmp_path, LORA_CHATBOT)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    model = instantiate(model_config(cfg), **datamodule.model_kwargs())
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    trainer = Trainer(
        max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        num_sanity_val_steps=0, limit_val_batches=0, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=datamodule)
    fresh = load_model("tiny_llama3", causal_lm=True).state_dict()
    frozen = {base_name(n): p for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen.keys() == fresh.keys() - {"lm_head.weight"} or frozen.keys() == fresh.keys()
    for name, weight in frozen.items():
        assert torch.equal(weight, fresh[name]), name  # bit-identical to the backbone's
    moved = [n for n, p in model.named_parameters() if p.requires_grad and not torch.equal(p, trainable[n])]
    assert any("lora_B" in n for n in moved)  # and the adapters did train (B starts at zero)


@pytest.mark.e2e
def test_a_lora_checkpoint_holds_the_adapters_and_their_optimizer_state_only(lora_chatbot_run: Path) -> None:
    ckpt = torch.load(best_checkpoint(lora_chatbot_run), map_location="cpu", weights_only=True)
    weights = [k for k, v in ckpt["state_dict"].items() if v.is_floating_point() and v.ndim >= 1]
    assert weights and all("lora_" in k for k in weights), weights
    trainable = sum(1 for k in weights)
    assert sum(len(g["params"]) for g in ckpt["optimizer_states"][0]["param_groups"]) == trainable
    base_bytes = (build_tiny("tiny_llama3") / "model.safetensors").stat().st_size
    assert best_checkpoint(lora_chatbot_run).stat().st_size < base_bytes  # full: weights + 2 Adam moments


@pytest.fixture(scope="module")
def exports(lora_chatbot_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lora exports (내보내기)")
    ckpt = best_checkpoint(lora_chatbot_run)
    return {
        "ckpt": ckpt,
        "merged": write_export(ckpt, root / "merged"),
        "adapter": write_export(ckpt, root / "adapter", merge=False),
    }


@pytest.mark.e2e
def test_the_merged_export_equals_the_adapter_model_and_loads_in_a_pipeline(exports: dict[str, Path]) -> None:
    adapted = load_chatbot(exports["ckpt"])
    tokenizer = AutoTokenizer.from_pretrained(exports["merged"])  # plain transformers, no maeum
    assert tokenizer.chat_template and "<|eot_id|>" in tokenizer.chat_template
    merged = AutoModelForCausalLM.from_pretrained(exports["merged"])
    batch = tokenizer(PROBE, add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        diff = (merged(**batch).logits - adapted.model(**batch).logits).abs().max().item()
    assert diff <= 1e-5
    chat = pipeline("text-generation", model=str(exports["merged"]))
    out = chat([{"role": "user", "content": "안녕하세요 :)"}], max_new_tokens=4, do_sample=False)
    assert out[0]["generated_text"][-1]["role"] == "assistant"


@pytest.mark.e2e
def test_the_adapter_export_loads_in_peft_and_answers_like_its_checkpoint(exports: dict[str, Path]) -> None:
    from peft import PeftModel

    assert (exports["adapter"] / "adapter_config.json").is_file()
    assert not (exports["adapter"] / "model.safetensors").exists()
    base = AutoModelForCausalLM.from_pretrained(build_tiny("tiny_llama3"))
    peft_model = PeftModel.from_pretrained(base, exports["adapter"]).eval()
    adapted, reloaded = load_chatbot(exports["ckpt"]), load_chatbot(exports["adapter"])
    assert isinstance(reloaded.template, ChatTemplate)
    batch = adapted.tokenizer(PROBE, add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        assert torch.allclose(peft_model(**batch).logits, adapted.model(**batch).logits, atol=1e-6)
    dialogues = [
        Dialogue([Turn("usr", "오늘 시험 망쳤어 ㅠㅠ")], "슬픔"),
        Dialogue([Turn("usr", "ㅋㅋㅋ 신나!")], "기쁨"),
    ]
    merged = load_chatbot(exports["merged"])
    replies = [
        ReplyGenerator(c.model, c.tokenizer, max_length=c.max_length, template=c.template).generate(dialogues)
        for c in (adapted, reloaded, merged)
    ]
    assert replies[0] == replies[1] == replies[2]


@pytest.mark.e2e
def test_an_adapter_export_on_another_base_is_refused(exports: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "다른 base (seed 1)"
    torch.manual_seed(1)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(build_tiny("tiny_llama3"))).save_pretrained(
        other
    )
    AutoTokenizer.from_pretrained(build_tiny("tiny_llama3")).save_pretrained(other)
    moved = shutil.copytree(exports["adapter"], tmp_path / "adapter")
    meta = json.loads((moved / "maeum.json").read_text(encoding="utf-8"))
    (moved / "maeum.json").write_text(json.dumps({**meta, "base_model": str(other)}), encoding="utf-8")
    with pytest.raises(MaeumError, match=r"trained on a base .* has other weights"):
        load_chatbot(moved)


@pytest.mark.e2e
def test_maeum_chat_answers_in_the_chat_template_from_an_adapter_export(exports, tmp_path: Path) -> None:
    """maeum-chat's job, end to end, on the adapter alone (the checkpoint and the merged export answer alike:
    the tests above; the console script itself is tests/test_cli.py's)."""
    from maeum.chat import chat
    from maeum.cli import hydra_overrides

    turns = tmp_path / "대화 (1).txt"
    turns.write_text("안녕 ㅎㅎ\n요즘 잠을 못 자 ㅠㅠ\n", encoding="utf-8")
    overrides = hydra_overrides([f"ckpt_path={exports['adapter']}", f"input={turns}"])
    replies = [answer.reply for answer in chat(compose_config("chat", tmp_path, overrides))]
    assert len(replies) == 2
    assert not any(marker in line for line in replies for marker in ("<|", "|>", "<think>"))


@pytest.mark.unit
def test_target_modules_that_match_nothing_name_the_modules_that_exist(tmp_path: Path) -> None:
    cfg = compose_config("train", tmp_path, [*LORA_CHATBOT, "model.peft.target_modules=[query,value]"])
    err = user_error(lambda: instantiate(model_config(cfg)))
    assert re.search(r"matches no module of LlamaForCausalLM: .*q_proj.*v_proj", str(err))


@pytest.mark.unit
def test_qlora_composes_and_is_refused_without_cuda_in_one_message(tmp_path: Path) -> None:
    cfg = compose_config(
        "train", tmp_path, ["experiment=chatbot/chatbotdata_qwen3_lora", "model.quantization=nf4"]
    )
    assert (
        cfg.model.quantization == "nf4"
        and cfg.model.peft.method == "lora"
        and cfg.trainer.accelerator == "gpu"
    )
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: QLoRA is not refused")
    cpu = compose_config("train", tmp_path, [*LORA_CHATBOT, "model.quantization=nf4"])
    assert re.search(
        r"needs a CUDA GPU.*drop model.quantization", str(user_error(lambda: instantiate(model_config(cpu))))
    )
    plain = compose_config("train", tmp_path, [*LORA_CHATBOT, "~model.peft", "model.quantization=nf4"])
    assert "QLoRA: it trains adapters" in str(user_error(lambda: instantiate(model_config(plain))))


@pytest.mark.unit
@pytest.mark.parametrize(
    ("trained", "now", "message"),
    [
        ((), ("data/template=chat_template",), "in a marker layout .* in the tokenizer's chat template"),
        (("data/template=chat_template",), (), "in the tokenizer's chat template, .* in a marker layout"),
        (("model/peft=lora",), (), "trained with LoRA adapters .* drop|add model/peft=lora"),
    ],
)
def test_a_resume_under_another_layout_or_without_its_adapters_is_refused(
    trained: tuple[str, ...], now: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    from omegaconf import OmegaConf

    from maeum.runs.files import RUN_KEY

    base = ["experiment=chatbot/sample_tiny", "backbone=tiny_llama3"]
    old = compose_config("train", tmp_path, [*base, *trained])
    ckpt = tmp_path / "last.ckpt"
    torch.save({RUN_KEY: {"config": OmegaConf.to_container(old, resolve=False)}, "state_dict": {}}, ckpt)
    with pytest.raises(MaeumError, match=message):
        check_resume_split(compose_config("train", tmp_path, [*base, *now, f"ckpt_path={ckpt}"]))


@pytest.mark.e2e
def test_a_lora_classifier_trains_its_head_in_full_and_exports_merged(tmp_path: Path) -> None:
    from maeum.train import train

    train(compose_config("train", tmp_path, ["model/peft=lora", "trainer.max_epochs=2", "logger=csv"]))
    ckpt = best_checkpoint(tmp_path)
    weights = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    tensors = [k for k, v in weights.items() if v.is_floating_point() and v.ndim >= 1]
    assert {"net.head.weight", "net.head.bias"} <= set(tensors)
    assert all("lora_" in k or k.startswith("net.head.") for k in tensors), tensors
    out = write_export(ckpt, tmp_path / "내보내기 (merged)")  # checks the logits within 1e-5 itself
    classify = pipeline("text-classification", model=str(out), top_k=None)
    (scores,) = classify(["시험에 떨어져서 너무 슬퍼요 ㅠㅠ"])
    assert len(scores) == 6 and abs(sum(s["score"] for s in scores) - 1) < 1e-5


QWEN_TOKENIZERS = SHARED_DATA / "chat-tokenizers"


@pytest.mark.unit
@pytest.mark.skipif(not QWEN_TOKENIZERS.is_dir(), reason=f"no real chat tokenizers at {QWEN_TOKENIZERS}")
def test_a_lora_checkpoint_of_tied_embeddings_leaves_out_the_tied_output_layer(tmp_path: Path) -> None:
    """tiny_qwen3 ties its output layer to its input embeddings (as Qwen3-0.6B does): the frozen weight under
    its second name, `lm_head.weight`, is not saved either, and loads back from the backbone."""
    from maeum.models.chat_lm import ChatLM

    peft = {"method": "lora", "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}
    optimizer = {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3}
    model = ChatLM("tiny_qwen3", optimizer=optimizer, peft=peft)
    base = model.model.base_model.model
    assert base.lm_head.weight is base.model.embed_tokens.weight  # tied
    checkpoint = {"state_dict": model.state_dict()}
    model.on_save_checkpoint(checkpoint)
    weights = [k for k, v in checkpoint["state_dict"].items() if v.is_floating_point() and v.ndim >= 1]
    assert weights and all("lora_" in k for k in weights), weights
    torch.save(checkpoint, tmp_path / "adapters.ckpt")
    assert (tmp_path / "adapters.ckpt").stat().st_size < 8 * 2**20  # the base alone is about 78 MB
    fresh = ChatLM("tiny_qwen3", optimizer=optimizer, peft=peft)
    fresh.on_load_checkpoint(checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"], strict=True)  # every key, the tied one included
