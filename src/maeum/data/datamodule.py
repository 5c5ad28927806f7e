"""What every maeum DataModule shares: datasets per split and the loaders over them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset


class SplitDataModule(LightningDataModule):
    """Loaders over `self.datasets[split]`, batched by `self.collator()`; the train loader shuffles.

    Subclasses set `batch_size`, `eval_batch_size`, `num_workers` and `pin_memory`, fill `datasets` in
    `setup`, and return their batch padder from `collator`.
    """

    batch_size: int
    eval_batch_size: int
    num_workers: int
    pin_memory: bool
    datasets: dict[str, Dataset]

    def collator(self) -> Callable[[list[Any]], Any]:
        raise NotImplementedError

    def _loader(self, split: str, *, train: bool = False) -> DataLoader:
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            collate_fn=self.collator(),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
