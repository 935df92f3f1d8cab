"""The LightningDataModule: given a training stream and a validation set, it only builds the loaders."""

from __future__ import annotations

import signal

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset


def _mixing_worker(worker_id: int) -> None:
    """One thread (mixing is NumPy work; leave the cores to the training step), and deaf to Ctrl-C, which the
    terminal sends to the whole process group: the trainer stops on it and ends its workers itself. (SIGTERM
    stays fatal: at exit Python's multiprocessing ends daemonic workers with it and waits for them.)"""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class MixtureDataModule(pl.LightningDataModule):
    """Batches of ``(noisy, clean)`` pairs; training examples are mixed in ``num_workers`` background workers."""

    def __init__(
        self,
        train: IterableDataset,
        val: Dataset,
        *,
        batch_size: int,
        val_batch_size: int = 4,
        num_workers: int = 1,
    ) -> None:
        super().__init__()
        self.train_set, self.val_set = train, val
        self.batch_size, self.val_batch_size, self.num_workers = batch_size, val_batch_size, num_workers

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            prefetch_factor=4 if self.num_workers > 0 else None,
            worker_init_fn=_mixing_worker,
            pin_memory=torch.cuda.is_available(),
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.val_batch_size)
