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
from collections.abc import Callable
from typing import Any

from pytorch_lightning import LightningDataModule
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import PreTrainedTokenizerBase

from maeum.backbones import load_tokenizer
from maeum.errors import DataError


class SplitDataModule(LightningDataModule):
    """Base of the task DataModules.

    Subclasses read and split their corpus in `_load_corpus` (called once, on first use of `corpus`; `reads`
    gives each split's `ReadResult`), fill `datasets` in `setup`, and return their batch padder from
    `collator`. The train loader shuffles, with `sampler_class` (a `DistributedSampler`).

    An official val or test split is read from `val_path` / `test_path` by `val_reader` / `test_reader`
    (`reader` when unset). A reader without a file reads its split from `path`: a corpus that holds its own
    test split in the one file (XPersona's `"split": "test"`) names a `test_reader` that selects it.
    """

    sampler_class: type[DistributedSampler] = DistributedSampler

    def __init__(
        self,
        *,
        reader: Callable[[str], Any],
        path: str,
        tokenizer: str,
        val_path: str | None,
        test_path: str | None,
        batch_size: int,
        eval_batch_size: int | None,
        val_fraction: float,
        test_fraction: float,
        seed: int,
        num_workers: int,
        pin_memory: bool,
        cache_dir: str | None,
        shuffle_seed: int | None = None,
        val_reader: Callable[[str], Any] | None = None,
        test_reader: Callable[[str], Any] | None = None,
    ) -> None:
        super().__init__()
        fractions_ok = 0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1
        if not fractions_ok:
            raise DataError(
                f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction}: each must be in "
                "[0, 1) and their sum below 1, so that something is left to train on."
            )
        if batch_size < 1 or (eval_batch_size is not None and eval_batch_size < 1):
            raise DataError(
                f"data.batch_size={batch_size} and data.eval_batch_size={eval_batch_size} must be >= 1"
            )
        self.reader = reader
        self.tokenizer_name = tokenizer
        # val/test: official split files, or `path` itself when only their reader is given
        self.paths = {
            "train": path,
            "val": val_path or (path if val_reader else None),
            "test": test_path or (path if test_reader else None),
        }
        self.readers = {"train": reader, "val": val_reader or reader, "test": test_reader or reader}
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.seed = seed
        self.shuffle_seed = seed if shuffle_seed is None else shuffle_seed
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.cache_dir = cache_dir
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
