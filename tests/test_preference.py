"""Preference tuning: pairs built from corpora and files (drops counted, no split leaks, the SFT run's test
dialogues), DPO's loss and rewards against an independent computation, the LoRA reference without a second
copy of the base, self-play's cache and refusals, and a run that trains, tests, exports and chats."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from helpers.configs import compose_config
from hydra.utils import instantiate
from torch.nn import functional as F  # noqa: N812
from transformers import AutoModelForCausalLM

from maeum.backbones import build_tiny
from maeum.data.dialogue.records import Dialogue, Turn
from maeum.data.preference.pairs import contrastive_replies
from maeum.errors import DataError, MaeumError
from maeum.inference.pair_sources import SelfPlay
from maeum.models.preference import PreferenceLM

OPTIMIZER = {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3}
LORA = {"method": "lora", "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}


def datamodule(tmp_path: Path, *overrides: str):
    cfg = compose_config("train", tmp_path, ["experiment=preference/sample_tiny", *overrides])
    data = instantiate(cfg.data)
    data.prepare_data()
    data.setup("fit")
    return data


def batch_of(data, split: str = "train", size: int = 6) -> dict[str, torch.Tensor]:
    dataset = data.datasets[split]
    return data.collator()([dataset[i] for i in range(min(size, len(dataset)))])


def by_hand(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed log-probabilities of the target tokens, written out with plain torch."""
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
    logps = logits.log_softmax(-1)[:, :-1]
    target = labels[:, 1:]
    picked = logps.gather(2, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * (target != -100)).sum(-1)


@pytest.mark.unit
def test_contrastive_pairs_take_another_conditions_reply_with_a_fixed_seed() -> None:
    emotions = ["기쁨", "슬픔", "분노"] * 10
    dialogues = [
        Dialogue([Turn("usr", f"질문 {n} ㅠㅠ"), Turn("sys", f"{emotion} 답 {n} :)")], emotion)
        for n, emotion in enumerate(emotions)
    ]
    rejected = contrastive_replies(dialogues, emotions, seed=0)
    reply_emotion = {d.turns[-1].text: d.condition for d in dialogues}
    assert all(reply_emotion[r] != d.condition for d, r in zip(dialogues, rejected, strict=True))
    assert contrastive_replies(dialogues, emotions, seed=0) == rejected  # deterministic
    assert contrastive_replies(dialogues, emotions, seed=1) != rejected
    # dialogue i's draw depends on i alone: a shorter list draws the same for its dialogues
    assert contrastive_replies(dialogues[:12], emotions[:12], seed=0)[:3] != [""] * 3
    one = [Dialogue([Turn("usr", "q"), Turn("sys", "a")], "기쁨")] * 2
    assert contrastive_replies(one, ["기쁨", "기쁨"], seed=0) == ["", ""]  # no other emotion: dropped later


@pytest.mark.unit
def test_contrastive_pairs_never_take_a_reply_of_another_split(tmp_path: Path) -> None:
    data = datamodule(tmp_path)
    corpus = data.corpus
    for split in ("train", "val", "test"):
        replies = {corpus.dialogues[i].turns[-1].text for i in corpus.indices[split]}
        rows = corpus.indices[split]
        drawn = data.rejected([corpus.dialogues[i] for i in rows], data)
        assert all(r in replies for r in drawn if r), split


@pytest.mark.unit
def test_the_preference_data_has_the_sft_runs_test_dialogues(tmp_path: Path) -> None:
    """The same split and ids as a chatbot run on the same corpus: the leaderboard pairs the two."""
    cfg = compose_config("train", tmp_path, ["experiment=chatbot/sample_tiny"])
    sft = instantiate(cfg.data)
    preference = datamodule(tmp_path / "preference")
    assert preference.test_ids() == sft.test_ids() and preference.test_ids()
    assert preference.test_references() == sft.test_references()


@pytest.mark.unit
def test_pairs_that_cannot_be_compared_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = [
        {
            "prompt": f"요즘 너무 힘들어 ㅠㅠ {n}",
            "chosen": "많이 힘드셨겠어요. 제가 들을게요 :)",
            "rejected": "그래서요?",
        }
        for n in range(12)
    ]
    rows[3]["rejected"] = "아무 말 " * 200  # does not fit max_length
    rows[4]["chosen"] = rows[4]["rejected"] = "똑같아요"  # the reader drops it
    path = tmp_path / "선호 데이터 (최종).jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    data = datamodule(tmp_path, "data=preference/file", f"data.path='{path}'", "data.val_fraction=0.0001")
    drops = {split: dict(counts) for split, counts in data.pair_drops.items()}
    assert sum(sum(d.values()) for d in drops.values()) == 1
    assert {reason for d in drops.values() for reason in d} == {"a reply does not fit max_length"}
    stats = data.stats()
    assert stats["dropped"] == {"rejected reply equals the chosen one": 1}  # counted by the reader
    kept = sum(n for key, n in stats["pairs"].items() if key.endswith(" kept"))
    assert kept == 10
    train = data.datasets["train"]
    assert all(train[i]["pair"] == [1] for i in range(len(train)))


def perturbed(model: PreferenceLM) -> PreferenceLM:
    """The model moved off its reference, deterministically."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn(p.shape, generator=generator))
    return model


@pytest.mark.unit
def test_the_dpo_loss_and_rewards_match_an_independent_computation(tmp_path: Path) -> None:
    data = datamodule(tmp_path)
    batch = batch_of(data)
    model = PreferenceLM("tiny_gpt2", OPTIMIZER, beta=0.2, sft_weight=0.5).eval()
    loss, per_pair = model.pair_step(batch)
    assert loss.item() == pytest.approx(
        math.log(2)
        + 0.5
        * -per_pair["logps/chosen"].sum().item()
        / float((batch["response_labels"][:, 1:] != -100).sum()),
        abs=1e-5,
    )  # at the start the model is its reference: every reward is 0
    assert per_pair["rewards/margins"].abs().max().item() < 1e-5

    perturbed(model)
    loss, per_pair = model.pair_step(batch)
    reference = AutoModelForCausalLM.from_pretrained(build_tiny("tiny_gpt2")).eval()
    sides = {}
    for side, prefix in (("chosen", "response_"), ("rejected", "rejected_")):
        ids, mask, labels = (batch[f"{prefix}{k}"] for k in ("input_ids", "attention_mask", "labels"))
        sides[side] = (by_hand(model.model, ids, mask, labels), by_hand(reference, ids, mask, labels))
    chosen_rewards = 0.2 * (sides["chosen"][0] - sides["chosen"][1])
    rejected_rewards = 0.2 * (sides["rejected"][0] - sides["rejected"][1])
    tokens = (batch["response_labels"][:, 1:] != -100).sum()
    expected = (
        -F.logsigmoid(chosen_rewards - rejected_rewards).mean() - 0.5 * sides["chosen"][0].sum() / tokens
    )
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
    assert torch.allclose(per_pair["rewards/chosen"], chosen_rewards, atol=1e-5)
    assert torch.allclose(per_pair["rewards/rejected"], rejected_rewards, atol=1e-5)
    assert torch.equal(per_pair["rewards/accuracies"], (chosen_rewards > rejected_rewards).float())


@pytest.mark.unit
def test_under_lora_the_reference_is_the_base_with_its_adapters_off_and_no_second_copy(
    tmp_path: Path,
) -> None:
    data = datamodule(tmp_path)
    batch = batch_of(data)
    lora = perturbed(PreferenceLM("tiny_gpt2", OPTIMIZER, peft=LORA).eval())
    logps = lora.pair_logps(batch)
    base = AutoModelForCausalLM.from_pretrained(build_tiny("tiny_gpt2")).eval()
    ids, mask, labels = (batch[f"response_{k}"] for k in ("input_ids", "attention_mask", "labels"))
    assert torch.allclose(logps["ref_chosen"], by_hand(base, ids, mask, labels), atol=1e-5)
    assert not torch.allclose(logps["chosen"], logps["ref_chosen"], atol=1e-3)  # the adapters do act

    def held(module: PreferenceLM) -> int:
        """Parameters held in memory for the model and its reference, each storage once."""
        tensors = [*module.parameters(), *(p for r in module._frozen_reference for p in r.parameters())]
        return sum(t.numel() for t in {t.untyped_storage().data_ptr(): t for t in tensors}.values())

    base_size = sum(p.numel() for p in base.parameters())
    adapters = sum(p.numel() for p in lora.parameters() if p.requires_grad)
    assert held(lora) == base_size + adapters and lora.reference_parameters() == 0
    full = PreferenceLM("tiny_gpt2", OPTIMIZER).eval()
    full.pair_logps(batch)  # loads the frozen copy
    assert held(full) == 2 * base_size and full.reference_parameters() == base_size


@pytest.mark.unit
def test_self_play_generates_once_and_refuses_a_chatbot_with_another_tokenizer(tmp_path: Path) -> None:
    data = datamodule(tmp_path)
    prompts = data.corpus.split("val")
    first = SelfPlay(str(build_tiny("tiny_gpt2")), preset={"max_new_tokens": 4, "do_sample": False})
    replies = first(prompts, data)
    assert len(replies) == len(prompts) and first._loaded is not None
    again = SelfPlay(str(build_tiny("tiny_gpt2")), preset={"max_new_tokens": 4, "do_sample": False})
    assert again(prompts, data) == replies and again._loaded is None  # read from the cache
    other = SelfPlay(str(build_tiny("tiny_llama3")))
    with pytest.raises(MaeumError, match=r"its tokenizer differs from the data's"):
        other(prompts, data)
    with pytest.raises(MaeumError, match=r"data.rejected.chatbot: self-play needs the chatbot"):
        SelfPlay("")


@pytest.mark.e2e
def test_a_lora_preference_run_in_a_chat_template_trains_tests_exports_and_chats(tmp_path: Path) -> None:
    from maeum.inference.generation import ReplyGenerator
    from maeum.inference.hf_export import write_export
    from maeum.inference.loading import load_chatbot
    from maeum.train import train

    overrides = [
        "experiment=preference/sample_tiny",
        "backbone=tiny_llama3",
        "data/template=chat_template",
        "model/peft=lora",
        "trainer.max_epochs=2",
        "logger=csv",
    ]
    metrics = train(compose_config("train", tmp_path, overrides))
    for name in (
        "test/rewards/accuracies",
        "test/rewards/margins",
        "test/pairs/loss",
        "test/select/hits_at_1",
    ):
        assert math.isfinite(float(metrics[name])), name
    with next(tmp_path.glob("csv/version_*/metrics.csv")).open(encoding="utf-8") as f:
        logged = set(next(csv.reader(f)))
    assert {"train/rewards/margins_epoch", "val/rewards/accuracies", "val/pairs/loss"} <= logged
    ckpt = next((tmp_path / "checkpoints").glob("epoch_*.ckpt"))
    weights = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    assert all("lora_" in k for k, v in weights.items() if v.is_floating_point() and v.ndim >= 1)
    for merge in (True, False):
        export = write_export(ckpt, tmp_path / f"export-{merge}", merge=merge)
        bot = load_chatbot(export)
        generator = ReplyGenerator(bot.model, bot.tokenizer, max_length=128, template=bot.template)
        (reply,) = generator.generate([Dialogue([Turn("usr", "요즘 잠을 못 자요 ㅠㅠ")], "슬픔")])
        assert isinstance(reply.text, str)


@pytest.mark.e2e
def test_classifier_contrastive_pairs_take_a_reply_the_classifier_labels_otherwise(
    main_run: tuple[Path, dict[str, float]], tmp_path: Path
) -> None:
    """The main job's emotion classifier labels every reference reply; each rejected reply is one it labels
    with another emotion."""
    from helpers.runs import best_checkpoint

    from maeum.inference.loading import load_classifier
    from maeum.inference.pair_sources import ClassifierContrastive
    from maeum.inference.prediction import Predictor

    ckpt = best_checkpoint(main_run[0])
    data = datamodule(
        tmp_path, "data/rejected=classifier_contrastive", f"data.rejected.emotion_classifier={ckpt}"
    )
    assert isinstance(data.rejected, ClassifierContrastive)
    train = data.corpus.split("train")
    rejected = data.rejected(train, data)
    predictor = Predictor.from_classifier(load_classifier(ckpt))
    label = {text: p["label"] for text, p in zip(
        [d.turns[-1].text for d in train], predictor.predict([d.turns[-1].text for d in train]), strict=True
    )}  # fmt: skip
    pairs = [(label[d.turns[-1].text], label[r]) for d, r in zip(train, rejected, strict=True) if r]
    assert len(pairs) >= len(train) - 2 and all(chosen != other for chosen, other in pairs)


@pytest.mark.unit
def test_a_corpus_with_no_pair_left_is_one_error(tmp_path: Path) -> None:
    """Contrastive pairs of a corpus with one emotion: nothing to contrast, so nothing to train on."""
    turns = [[("usr", f"시험 망쳤어 ㅠㅠ {n}"), ("sys", f"속상하겠다 {n}")] for n in range(20)]
    lines = [{"turns": [{"speaker": s, "text": t} for s, t in d], "condition": "슬픔"} for d in turns]
    path = tmp_path / "한 감정 (슬픔).jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    with pytest.raises(DataError, match=r"no preference pair is left to train on .*rejected reply is empty"):
        datamodule(tmp_path, f"data.path='{path}'")
