"""Backbones: hub ids, local directories and the tiny offline stand-ins, all behind `from_pretrained`.

`load_tokenizer(name_or_path)` and `load_model(name_or_path, ...)` accept

* `tiny_bert` / `tiny_gpt2`: tiny, randomly initialised stand-ins for `skt/kobert-base-v1` and
  `skt/kogpt2-base-v2`. Their tokenizers are trained on the Korean sample that ships with maeum and keep
  the real models' special tokens at the real ids. They are built once into the cache
  (`maeum.paths.cache_dir()/backbones`) as ordinary Hugging Face directories and then loaded like any other;
* a local directory written by `save_pretrained` (or downloaded with `hf download ... --local-dir`);
* a Hugging Face Hub id. When the hub cannot be reached and nothing is cached, loading fails at once with
  one message that names the id and says how to point maeum at a local copy, instead of a minute of retries.

KoBERT's quirk lives here too: `skt/kobert-base-v1` ships a sentencepiece `spiece.model` and names
`KoBERTTokenizer`, a class transformers does not have (AutoTokenizer fails; XLNetTokenizer appends
`[SEP] [CLS]` and pads on the left). Such a directory gets a fast tokenizer built from the sentencepiece
model itself: its pieces, scores and normalisation charmap, with the BERT template `[CLS] pieces [SEP]`,
right padding with `[PAD]` and `token_type_ids` of 0. `tiny_bert` is saved in exactly this format, so the
offline tests exercise the path that the real KoBERT takes.

KoGPT2's quirk: its `tokenizer.json` is a Metaspace (sentencepiece-style) BPE, but a re-saved directory often
names `GPT2Tokenizer`, and transformers 5 then rebuilds a *byte-level* BPE from the vocabulary, so Hangul
comes out as `ì`, `ë`, ... pieces or not at all. A `tokenizer.json` with a Metaspace pre-tokenizer is
therefore loaded as written (`PreTrainedTokenizerFast(tokenizer_file=...)`), with KoGPT2's roles (bos = eos =
`</s>`, pad `<pad>`, unk `<unk>`) where the config names none that the vocabulary has. Every tokenizer whose
vocabulary holds Hangul pieces must also produce them: `load_tokenizer` refuses one that does not.

The architecture differences between the two stand-ins are data (`TinySpec`), not code.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import logging
import re
import shutil
import unicodedata
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import huggingface_hub
import sentencepiece
import tokenizers
import torch
import transformers
from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError
from sentencepiece import sentencepiece_model_pb2
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from maeum.errors import BackboneError
from maeum.paths import cache_dir, resource

log = logging.getLogger(__name__)

BUILD_VERSION = 5  # bump when the build recipe changes; it is part of the cache key
HUB_TIMEOUT_S = 10.0

# skt/kobert-base-v1: sentencepiece unigram vocabulary, BERT-style template.
KOBERT_SPECIAL_TOKENS = ("[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]")
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


def common_korean_alphabet() -> tuple[str, ...]:
    """Characters every Korean tokenizer should know: printable ASCII, Hangul compatibility jamo, the
    2,350 Hangul syllables of KS X 1001 (those EUC-KR encodes, which cover nearly all modern text) and
    common punctuation. A tiny vocabulary trained on maeum's sample alone would map the other syllables
    of real corpora to <unk> (28% of HG-TODS tokens for tiny_gpt2, 7.5% of NSMC tokens for tiny_bert).
    Both tiny backbones keep all of it."""
    syllables = (chr(c) for c in range(0xAC00, 0xD7A4))
    return (
        *(chr(c) for c in range(0x21, 0x7F)),
        *(chr(c) for c in range(0x3131, 0x3164)),
        *(s for s in syllables if len(s.encode("euc_kr", errors="ignore")) == 2),
        *"…·‘’“”~「」『』【】《》〈〉→←↑↓☆★♡♥※°₩€",
    )


KOREAN_ALPHABET = common_korean_alphabet()
HANGUL_PROBE = "안녕하세요 반가워요"


@dataclass(frozen=True)
class TinySpec:
    """Recipe for one tiny offline backbone: tokenizer algorithm, special tokens and model shape."""

    mimics: str  # the hub checkpoint whose tokens and ids it copies
    tokenizer_model: str  # "sentencepiece" (KoBERT's spiece.model format) or "bpe" (KoGPT2's tokenizer.json)
    special_tokens: tuple[str, ...]  # trained first, so they get ids 0..n-1 in this order
    roles: dict[str, str]  # unk_token, pad_token, ... as PreTrainedTokenizerFast kwargs
    vocab_size: int
    model_type: str
    causal_lm: bool
    model_max_length: int
    model_config: dict[str, Any] = field(default_factory=dict)
    with_labels: bool = False  # also train the tokenizer on the sample's label and condition words
    emoticons: tuple[str, ...] = ()  # added as special tokens after training, as in KoGPT2
    alphabet: tuple[str, ...] = ()  # characters in the vocabulary whether or not the sample has them


TINY_SPECS: dict[str, TinySpec] = {
    "tiny_bert": TinySpec(
        mimics="skt/kobert-base-v1",
        tokenizer_model="sentencepiece",
        special_tokens=KOBERT_SPECIAL_TOKENS,
        roles={
            "unk_token": "[UNK]",
            "pad_token": "[PAD]",
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "mask_token": "[MASK]",
        },
        # KoBERT's size, as an upper bound: the sample supports about 3,000 pieces (the alphabet's ~2,500
        # plus what it learns), and more text would be needed for more; <unk> depends on the alphabet only
        vocab_size=8002,
        model_type="bert",
        causal_lm=False,
        model_max_length=512,
        model_config={
            "hidden_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 512,
            "max_position_embeddings": 512,
            "type_vocab_size": 2,
            "pad_token_id": 1,
        },
        alphabet=KOREAN_ALPHABET,
    ),
    "tiny_gpt2": TinySpec(
        mimics="skt/kogpt2-base-v2",
        tokenizer_model="bpe",
        special_tokens=KOGPT2_SPECIAL_TOKENS,
        roles=KOGPT2_ROLES,
        vocab_size=6000,  # the common alphabet (about 2,500) plus every merge the sample offers
        model_type="gpt2",
        causal_lm=True,
        model_max_length=1024,
        model_config={
            "n_embd": 128,
            "n_layer": 2,
            "n_head": 2,
            "n_positions": 1024,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 3,
        },
        with_labels=True,  # dialogue templates put the condition (an emotion name) into the input
        emoticons=KOGPT2_EMOTICONS,
        alphabet=KOREAN_ALPHABET,
    ),
}
SAMPLE_FILES = ("emotion_sample.tsv", "dialogue_sample.jsonl")
Piece = sentencepiece_model_pb2.ModelProto.SentencePiece.Type


# ----------------------------------------------------------------------------------------------- public API
def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """Tokenizer for `tiny_bert`, `tiny_gpt2`, a local directory or a hub id (see the module docstring)."""
    source, local_only = resolve(name_or_path)
    try:
        config_file = _fetch(source, "tokenizer_config.json", local_only)
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file else {}
        tokenizer_json = _fetch(source, "tokenizer.json", local_only)
        if config.get("tokenizer_class") == "KoBERTTokenizer":
            spiece = _fetch(source, "spiece.model", local_only)
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
    roles = {
        role: _token_text(config.get(role, default))
        for role, default in (
            ("unk_token", "[UNK]"),
            ("pad_token", "[PAD]"),
            ("cls_token", "[CLS]"),
            ("sep_token", "[SEP]"),
            ("mask_token", "[MASK]"),
        )
    }
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
    cls, sep = roles["cls_token"], roles["sep_token"]
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


def load_model(
    name_or_path: str, *, causal_lm: bool = False, pretrained: bool = True, **kwargs: Any
) -> PreTrainedModel:
    """Encoder (`AutoModel`) or causal LM (`AutoModelForCausalLM`) for a backbone.

    With `pretrained=False` only the config is read and the weights are freshly initialised; use it when a
    checkpoint will overwrite them anyway (re-loading a fine-tuned model).
    """
    auto_class = AutoModelForCausalLM if causal_lm else AutoModel
    source, local_only = resolve(name_or_path)
    try:
        if pretrained:
            return auto_class.from_pretrained(source, local_files_only=local_only, **kwargs)
        config = AutoConfig.from_pretrained(source, local_files_only=local_only, **kwargs)
        return auto_class.from_config(config)
    except (OSError, ValueError) as err:
        raise BackboneError(f"could not load a model from '{name_or_path}': {err}") from err


def block_classes(name_or_path: str) -> set[type[torch.nn.Module]]:
    """The backbone's repeated transformer block class (`GPT2Block`, `BertLayer`, ...), read from the model:
    the classes of its `_no_split_modules` that occur more than once. FSDP wraps and checkpoints these
    (`conf/trainer/fsdp.yaml`). The model is built on the meta device: no weights are loaded."""
    source = resolve(name_or_path)[0]  # a tiny backbone is built here, off the meta device
    with torch.device("meta"):  # the encoder has the same blocks as its *ForCausalLM / *ForSequence... heads
        model = load_model(source, pretrained=False)
    names = set(model._no_split_modules or [])
    counts = Counter(type(m) for m in model.modules() if type(m).__name__ in names)
    blocks = {cls for cls, n in counts.items() if n > 1} or set(counts)
    if not blocks:
        raise BackboneError(f"'{name_or_path}' names no transformer block class (_no_split_modules)")
    return blocks


def resolve(name_or_path: str) -> tuple[str, bool]:
    """What to hand `from_pretrained`, and whether it must stay offline (`local_files_only`)."""
    if name_or_path in TINY_SPECS:
        return str(build_tiny(name_or_path)), True
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path.resolve()), True
    if _looks_like_path(name_or_path):
        raise BackboneError(
            f"backbone directory not found: {path}. Point backbone.name_or_path at a folder written by "
            "`save_pretrained` (or by `hf download <id> --local-dir <folder>`), or use a hub id."
        )
    return _resolve_hub_id(name_or_path)


def build_tiny(name: str, root: Path | None = None) -> Path:
    """Build the tiny backbone `name` into the cache unless it is already there; return its directory.

    The build is deterministic: the same recipe, sample text and library versions give the same files.
    It is written to a temporary sibling and renamed into place, so concurrent builds cannot collide.
    """
    spec = TINY_SPECS[name]
    texts = _sample_texts(with_labels=spec.with_labels)
    target = (root or cache_dir()) / "backbones" / f"{name}-{_fingerprint(spec, texts)}"
    if (target / "config.json").is_file():
        return target
    log.info("Building offline backbone %s (stand-in for %s) in %s", name, spec.mimics, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        _save_tokenizer(spec, texts, tmp)
        vocab_size = len(load_tokenizer(str(tmp)))  # read back through the path users take
        config = AutoConfig.for_model(spec.model_type, vocab_size=vocab_size, **spec.model_config)
        auto_class = AutoModelForCausalLM if spec.causal_lm else AutoModel
        with torch.random.fork_rng(devices=[]):  # deterministic weights, caller's RNG left untouched
            torch.manual_seed(0)
            auto_class.from_config(config).save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished the same build first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ------------------------------------------------------------------------------------------------ internals
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


def _sample_texts(*, with_labels: bool = False) -> list[str]:
    """Every sentence and dialogue turn of the Korean sample that ships with maeum (and its labels)."""
    with resource(SAMPLE_FILES[0]).open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    with resource(SAMPLE_FILES[1]).open(encoding="utf-8") as f:
        dialogues = [json.loads(line) for line in f if line.strip()]
    texts = [row["text"] for row in rows] + [turn["text"] for d in dialogues for turn in d["turns"]]
    if with_labels:
        texts += sorted(
            {row["label"] for row in rows} | {d["condition"] for d in dialogues if d.get("condition")}
        )
    return texts


def _fingerprint(spec: TinySpec, texts: list[str]) -> str:
    versions = (BUILD_VERSION, tokenizers.__version__, transformers.__version__, torch.__version__)
    payload = json.dumps([asdict(spec), texts, versions], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _save_tokenizer(spec: TinySpec, texts: list[str], out: Path) -> None:
    """Train a tiny backbone's tokenizer and save it in the format of the model it stands in for."""
    out.mkdir(parents=True, exist_ok=True)
    if spec.tokenizer_model == "sentencepiece":  # KoBERT: spiece.model + a config naming KoBERTTokenizer
        (out / "spiece.model").write_bytes(_train_sentencepiece(spec, texts))
        config = {
            "tokenizer_class": "KoBERTTokenizer",
            "model_max_length": spec.model_max_length,
            **spec.roles,
        }
        (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        return
    # KoGPT2: character-level BPE over Metaspace words, in tokenizer.json
    special = list(spec.special_tokens)
    tok = Tokenizer(models.BPE(unk_token=spec.roles["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()  # "▁word" pieces, before training
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size, special_tokens=special, initial_alphabet=list(spec.alphabet),
        show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(texts, trainer, length=len(texts))
    assert [tok.token_to_id(t) for t in special] == list(range(len(special))), "special ids moved"
    tok.add_special_tokens(list(spec.emoticons))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=spec.model_max_length, **spec.roles
    )
    tokenizer.save_pretrained(out)


def _train_sentencepiece(spec: TinySpec, texts: list[str]) -> bytes:
    """A sentencepiece unigram model trained like KoBERT's: specials first at ids 0..4, nmt_nfkc.

    sentencepiece rather than the `tokenizers` unigram trainer, because the latter orders rare characters
    differently from run to run, so its ids are not reproducible. The alphabet's characters are required
    in their nmt_nfkc form, the form text takes before it is split (ㅋ becomes the conjoining jamo U+110F).
    """
    unk, pad, cls, sep, *user = spec.special_tokens
    required = dict.fromkeys(n for c in spec.alphabet if len(n := unicodedata.normalize("NFKC", c)) == 1)
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        model_type="unigram",
        vocab_size=spec.vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        num_threads=1,
        normalization_rule_name="nmt_nfkc",
        unk_id=0,
        pad_id=1,
        bos_id=2,
        eos_id=3,
        unk_piece=unk,
        pad_piece=pad,
        bos_piece=cls,
        eos_piece=sep,
        user_defined_symbols=user,
        required_chars="".join(required),
        minloglevel=2,
    )
    return model.getvalue()


def _fetch(source: str, filename: str, local_only: bool) -> Path | None:
    """`filename` from a local directory or a hub repo (downloaded and cached), or None if it has none."""
    if Path(source).is_dir():
        path = Path(source) / filename
        return path if path.is_file() else None
    try:
        return Path(huggingface_hub.hf_hub_download(source, filename, local_files_only=local_only))
    except EntryNotFoundError:
        return None


def _token_text(token: str | dict[str, Any]) -> str:
    """A special token from tokenizer_config.json, written either as text or as a serialised AddedToken."""
    return token["content"] if isinstance(token, dict) else token


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


@functools.cache
def _resolve_hub_id(repo_id: str) -> tuple[str, bool]:
    """Probe the hub once (no retries) so that an unreachable hub fails in seconds, not minutes."""
    cached = isinstance(huggingface_hub.try_to_load_from_cache(repo_id, "config.json"), str)
    how_to = (
        f"To use it offline, download it where there is network (`hf download {repo_id} --local-dir DIR`), "
        "copy DIR here and set backbone.name_or_path=DIR. For a model that needs no download: "
        "backbone=tiny_bert or backbone=tiny_gpt2."
    )
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        if cached:
            return repo_id, True
        raise BackboneError(f"backbone '{repo_id}' is not cached and HF_HUB_OFFLINE is set. {how_to}")
    try:
        huggingface_hub.model_info(repo_id, timeout=HUB_TIMEOUT_S)
    except GatedRepoError as err:
        raise BackboneError(
            f"backbone '{repo_id}' is gated on the Hugging Face Hub: accept its licence on the model page, "
            f"then log in (`hf auth login` or HF_TOKEN). {how_to}"
        ) from err
    except RepositoryNotFoundError as err:
        raise BackboneError(
            f"backbone '{repo_id}' does not exist on the Hugging Face Hub (or is private): check the id, "
            "or point backbone.name_or_path at a local directory."
        ) from err
    except Exception as err:  # connection refused, DNS failure, timeout, proxy or server error
        if cached:
            log.warning("Hub unreachable (%s); using the cached copy of %s", type(err).__name__, repo_id)
            return repo_id, True
        raise BackboneError(
            f"backbone '{repo_id}' cannot be loaded: it is not a local directory, the Hugging Face Hub "
            f"cannot be reached ({type(err).__name__}: {err}) and no cached copy exists. {how_to}"
        ) from err
    return repo_id, False
