"""Korean tokenizers as `transformers` should load them: KoBERT's and KoGPT2's repairs.

KoBERT's quirk: `skt/kobert-base-v1` ships a sentencepiece `spiece.model` and names `KoBERTTokenizer`, a
class transformers does not have (AutoTokenizer fails; XLNetTokenizer appends `[SEP] [CLS]` and pads on
the left). Such a directory gets a fast tokenizer built from the sentencepiece model itself: its pieces,
scores and normalisation charmap, with the BERT template `[CLS] pieces [SEP]`, right padding with `[PAD]`
and `token_type_ids` of 0. `tiny_bert` is saved in exactly this format, so the offline tests exercise the
path that the real KoBERT takes.

KoGPT2's quirk: its `tokenizer.json` is a Metaspace (sentencepiece-style) BPE, but a re-saved directory often
names `GPT2Tokenizer`, and transformers 5 then rebuilds a *byte-level* BPE from the vocabulary, so Hangul
comes out as `ì`, `ë`, ... pieces or not at all. A `tokenizer.json` with a Metaspace pre-tokenizer is
therefore loaded as written (`PreTrainedTokenizerFast(tokenizer_file=...)`), with KoGPT2's roles (bos = eos =
`</s>`, pad `<pad>`, unk `<unk>`) where the config names none that the vocabulary has. Every tokenizer whose
vocabulary holds Hangul pieces must also produce them: `tokenizer_from` refuses one that does not.

The chat models' quirk: Qwen3's template writes a thinking block (`<think>...</think>`) before the last
assistant message, and the model writes one before its reply; `strip_reasoning` takes it off a reply.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sentencepiece import sentencepiece_model_pb2
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import (
    AutoTokenizer,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from maeum.backbones.hub import fetch
from maeum.errors import BackboneError

# skt/kobert-base-v1: sentencepiece unigram vocabulary, BERT-style template.
KOBERT_SPECIAL_TOKENS = ("[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]")
KOBERT_ROLES = {
    "unk_token": "[UNK]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}
# skt/kogpt2-base-v2: Metaspace BPE; `<d>`/`</d>` sit at 7/8 and `<unused0..99>` at 9..108.
KOGPT2_SPECIAL_TOKENS = (
    "<s>",
    "</s>",
    "<usr>",
    "<pad>",
    "<sys>",
    "<unk>",
    "<mask>",
    "<d>",
    "</d>",
    *(f"<unused{i}>" for i in range(100)),
)
KOGPT2_ROLES = {
    "bos_token": "</s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}
# KoGPT2 marks emoticons special (its README tokenizes "😤:)l^o" into three of them), so decoding with
# `skip_special_tokens=True` drops them from replies; tiny_gpt2 has some, so that tests see the same.
KOGPT2_EMOTICONS = ("ㅠㅠ", "ㅜㅜ", "ㅋㅋ", "ㅎㅎ", "^^", ":)", "😤", "l^o")
HANGUL = re.compile("[\uac00-\ud7a3]")
REASONING = ("<think>", "</think>")  # Qwen3's thinking block

HANGUL_PROBE = "안녕하세요 반가워요"

Piece = sentencepiece_model_pb2.ModelProto.SentencePiece.Type


def tokenizer_from(source: str, local_only: bool, name: str | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer of a resolved backbone `source` (a directory, or a hub id when not `local_only`), with
    the repairs of the module docstring. `name` is what the user wrote, for messages."""
    name_or_path = name or source
    try:
        config_file = fetch(source, "tokenizer_config.json", local_only)
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file else {}
        tokenizer_json = fetch(source, "tokenizer.json", local_only)
        if config.get("tokenizer_class") == "KoBERTTokenizer":
            spiece = fetch(source, "spiece.model", local_only)
            if spiece is None:
                raise BackboneError(f"'{name_or_path}' names KoBERTTokenizer but has no spiece.model")
            tokenizer = kobert_tokenizer(spiece, config)
        elif tokenizer_json is not None and _is_metaspace(tokenizer_json):
            tokenizer = metaspace_tokenizer(tokenizer_json, config)
        else:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError) as err:
        raise BackboneError(f"could not load a tokenizer from '{name_or_path}': {err}") from err
    _check_hangul_pieces(tokenizer, name_or_path)
    return tokenizer


def load_local_tokenizer(directory: str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer saved in a local directory, read the way every backbone's is (no hub, no tiny build)."""
    return tokenizer_from(str(directory), local_only=True)


def metaspace_tokenizer(
    tokenizer_json: Path, config: dict[str, Any] | None = None
) -> PreTrainedTokenizerFast:
    """A sentencepiece-style BPE `tokenizer.json` (KoGPT2's) loaded as written, never rebuilt byte-level.

    Special-token roles come from `tokenizer_config.json` when the vocabulary has the token it names, else
    from KoGPT2 (bos = eos = `</s>`, pad `<pad>`, unk `<unk>`, mask `<mask>`) when it has that one. The
    config's `model_max_length`, `padding_side` and `model_input_names` are kept, so that a re-saved
    KoBERT tokenizer (`maeum-export` of a classifier) keeps `[CLS]`/`[SEP]` and its `token_type_ids`.
    """
    config = config or {}
    backend = Tokenizer.from_file(str(tokenizer_json))
    roles = {}
    for role in (*KOGPT2_ROLES, "cls_token", "sep_token"):
        named = _token_text(config[role]) if config.get(role) else None
        for token in (named, KOGPT2_ROLES.get(role)):
            if token is not None and backend.token_to_id(token) is not None:
                roles[role] = token
                break
    kept = ("model_max_length", "padding_side", "model_input_names")
    kwargs = {key: config[key] for key in kept if key in config}
    return PreTrainedTokenizerFast(tokenizer_object=backend, **roles, **kwargs)


def kobert_tokenizer(spiece: Path, config: dict[str, Any] | None = None) -> PreTrainedTokenizerFast:
    """A fast BERT-style tokenizer for a KoBERT `spiece.model` (see the module docstring)."""
    config = config or {}
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(spiece.read_bytes())
    roles = {role: _token_text(config.get(role, default)) for role, default in KOBERT_ROLES.items()}
    tok = Tokenizer(
        models.Unigram(
            [(p.piece, p.score) for p in proto.pieces],
            unk_id=proto.trainer_spec.unk_id,
            byte_fallback=proto.trainer_spec.byte_fallback,
        )
    )
    charsmap = proto.normalizer_spec.precompiled_charsmap  # sentencepiece's own nmt_nfkc tables
    tok.normalizer = normalizers.Sequence(
        [*([normalizers.Precompiled(charsmap)] if charsmap else []), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    special = {Piece.UNKNOWN, Piece.CONTROL, Piece.USER_DEFINED}
    tok.add_special_tokens([p.piece for p in proto.pieces if p.type in special])
    cls = roles["cls_token"]
    sep = roles["sep_token"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=cls,
        eos_token=sep,
        model_max_length=config.get("model_max_length", 512),
        padding_side="right",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        **roles,
    )


def _is_metaspace(tokenizer_json: Path) -> bool:
    """Whether a `tokenizer.json` splits words the sentencepiece way (`▁word`), as KoGPT2's does."""
    pre = json.loads(tokenizer_json.read_text(encoding="utf-8")).get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    return any(step.get("type") == "Metaspace" for step in steps)


def _check_hangul_pieces(tokenizer: PreTrainedTokenizerBase, name: str) -> None:
    """Refuse a tokenizer whose vocabulary has Hangul pieces that its tokenization never produces."""
    if not any(HANGUL.search(token) for token in tokenizer.get_vocab()):
        return  # a byte-level or non-Korean vocabulary: nothing to compare
    pieces = tokenizer.tokenize(HANGUL_PROBE)
    foreign = [p for p in pieces if not HANGUL.search(p) and p not in (tokenizer.unk_token, "▁")]
    if foreign or not pieces:
        raise BackboneError(
            f"the tokenizer of '{name}' turns Hangul into {pieces[:8] or 'nothing'}, not into the Hangul "
            "pieces of its own vocabulary: it is a byte-level tokenizer over a sentencepiece (Metaspace) "
            "vocabulary, as when a KoGPT2 directory is re-saved as GPT2Tokenizer. Put the original "
            "tokenizer.json back in the directory (maeum loads it as written), or use the hub id."
        )


def _token_text(token: str | dict[str, Any]) -> str:
    """A special token from tokenizer_config.json, written either as text or as a serialised AddedToken."""
    return token["content"] if isinstance(token, dict) else token


def strip_reasoning(text: str) -> str:
    """A reply without the thinking block it opens with (Qwen3's `<think>...</think>`); a reply cut off
    inside its thinking has nothing else to say."""
    opening, closing = REASONING
    if closing in text:
        return text.split(closing, 1)[1]
    return "" if text.lstrip().startswith(opening) else text
