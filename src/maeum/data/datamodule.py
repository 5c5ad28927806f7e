"""What every maeum DataModule shares: corpus files, split and loader settings, the lazily loaded
tokenizer and corpus, and the loaders over the per-split datasets.

The loaders are `torchdata`'s `StatefulDataLoader`s: Lightning saves their position in every checkpoint
and restores it, so a run resumed from a mid-epoch `last.ckpt` neither replays nor skips a batch. The train
loader shuffles with a `DistributedSampler` seeded by `data.shuffle_seed` (the run's `seed`; reshuffled per
epoch by Lightning's `set_epoch`) over the trainer's processes: one process reading batches of 2B sees,
step for step, the same rows as two DDP processes reading B each (when the row count divides by the
process count; else `DistributedSampler` repeats a few rows to even the shares).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from pytorch_lightning import LightningDataModule
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import PreTrainedTokenizerBase

from maeum.backbones import load_tokenizer
from maeum.errors import DataError


@dataclass(frozen=True)
class SplitSettings:
    """What every maeum DataModule takes besides its corpus and its encoding (`data.*` of every data config):
    official split files and their readers, the split, the loaders and the token-id cache.

    Args:
        val_path, test_path: official split files; each replaces the internal split for its stage.
        val_reader, test_reader: read those (or, with no file, their split of `path`); None takes `reader`.
        batch_size, eval_batch_size: rows per training batch, and per validation/test batch (None: the same).
        val_fraction, test_fraction, seed: the deterministic split of `path` (`maeum.data.splits`).
        shuffle_seed: the train loader's shuffle (the run's `seed`); None takes `seed`.
        num_workers, pin_memory: the loaders' (`torchdata`'s `StatefulDataLoader`).
        cache_dir: where token ids are cached; None disables the cache.
    """

    val_path: str | Sequence[str] | None = None
    test_path: str | Sequence[str] | None = None
    val_reader: Callable[[str], Any] | None = None
    test_reader: Callable[[str], Any] | None = None
    batch_size: int = 32
    eval_batch_size: int | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 42
    shuffle_seed: int | None = None
    num_workers: int = 0
    pin_memory: bool = False
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        val, test = self.val_fraction, self.test_fraction
        if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
            raise DataError(
                f"data.val_fraction={val} and data.test_fraction={test}: each must be in [0, 1) and their "
                "sum below 1, so that something is left to train on."
            )
        if self.batch_size < 1 or (self.eval_batch_size is not None and self.eval_batch_size < 1):
            sizes = f"data.batch_size={self.batch_size} and data.eval_batch_size={self.eval_batch_size}"
            raise DataError(f"{sizes} must be >= 1")


class SplitDataModule(LightningDataModule):
    """Base of the task DataModules.

    Subclasses take their corpus (`reader`, `path`, `tokenizer`) and their own encoding settings, and hand
    everything else (`**settings`) to this class, which holds it as one `SplitSettings`. They read and split
    their corpus in `_load_corpus` (called once, on first use of `corpus`; `reads` gives each split's
    `ReadResult`), fill `datasets` in `setup`, and return their batch padder from `collator`. The train
    loader shuffles, with `sampler_class` (a `DistributedSampler`).

    An official val or test split is read from `val_path` / `test_path` by `val_reader` / `test_reader`
    (`reader` when unset). A reader without a file reads its split from `path`: a corpus that holds its own
    test split in the one file (XPersona's `"split": "test"`) names a `test_reader` that selects it.
    """

    sampler_class: type[DistributedSampler] = DistributedSampler
    settings_class = SplitSettings  # what `**settings` takes (maeum.runtime.check_argument_types reads it)

    def __init__(self, reader: Callable[[str], Any], path: Any, tokenizer: str, **settings: Any) -> None:
        super().__init__()
        try:
            self.settings = settings = SplitSettings(**settings)
        except TypeError as err:
            known = ", ".join(f.name for f in fields(SplitSettings))
            raise DataError(f"data: {err}; besides its own, a DataModule takes {known}.") from None
        self.reader = reader
        self.tokenizer_name = tokenizer
        # val/test: official split files, or `path` itself when only their reader is given
        self.paths = {
            "train": path,
            "val": settings.val_path or (path if settings.val_reader else None),
            "test": settings.test_path or (path if settings.test_reader else None),
        }
        self.readers = {
            "train": reader,
            "val": settings.val_reader or reader,
            "test": settings.test_reader or reader,
        }
        self.batch_size = settings.batch_size
        self.eval_batch_size = settings.eval_batch_size or settings.batch_size
        self.val_fraction = settings.val_fraction
        self.test_fraction = settings.test_fraction
        self.seed = settings.seed
        self.shuffle_seed = settings.seed if settings.shuffle_seed is None else settings.shuffle_seed
        self.num_workers = settings.num_workers
        self.pin_memory = settings.pin_memory
        self.cache_dir = settings.cache_dir
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._corpus: Any = None
        self.datasets: dict[str, Dataset] = {}

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.tokenizer_name)
        return self._tokenizer

    @property
    def corpus(self) -> Any:
        if self._corpus is None:
            self._corpus = self._load_corpus()
        return self._corpus

    def _load_corpus(self) -> Any:
        raise NotImplementedError

    def reads(self) -> dict[str, Any]:
        """Split name -> its `ReadResult`: `path` for train, and each official val/test split (see above)."""
        return {split: self.readers[split](path) for split, path in self.paths.items() if path}

    def test_ids(self) -> list[str]:
        """One id per test example, in loader order: its position and a digest of its content, so that two
        runs' test predictions pair (`maeum.leaderboard`) only when made on the same examples in one order."""
        return [
            f"{n}-{hashlib.sha1(key.encode()).hexdigest()[:12]}" for n, key in enumerate(self._test_keys())
        ]

    def _test_keys(self) -> list[str]:
        """The content of every test example as one string (what its id digests)."""
        raise NotImplementedError

    def collator(self) -> Callable[[list[Any]], Any]:
        raise NotImplementedError

    def _loader(self, split: str, *, train: bool = False) -> StatefulDataLoader:
        sampler = None
        if train:  # this process's share of one seeded permutation per epoch (all rows in one process)
            world, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer else (1, 0)
            sampler = self.sampler_class(
                self.datasets[split], num_replicas=world, rank=rank, shuffle=True, seed=self.shuffle_seed
            )
        return StatefulDataLoader(
            self.datasets[split],
            batch_size=self.batch_size if train else self.eval_batch_size,
            sampler=sampler,
            collate_fn=self.collator(),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> StatefulDataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> StatefulDataLoader:
        return self._loader("val")

    def test_dataloader(self) -> StatefulDataLoader:
        return self._loader("test")
