"""Batches for one process: its share of every global batch of the deterministic sample stream.

Epoch ``e`` covers stream samples ``[e·S·G, (e+1)·S·G)`` (S steps of G = global batch samples).
:class:`~torch.utils.data.DistributedSampler` (no shuffling: the stream is already shuffled) hands
rank ``r`` of ``W`` the samples ``r, r+W, r+2W, ...`` of the epoch, so step ``k`` of all ranks
together reads exactly samples ``[k·G, (k+1)·G)`` — the batch one process with ``--batch G`` reads.
With several training sizes (``--scales``) the size of step ``k`` is drawn from (seed, k), the
same on every rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from mutualsense.export.data import TrainingData
from mutualsense.export.training.distributed import Ranks
from mutualsense.preprocess import InputSpec

__all__ = ["EpochWindow", "epoch_loader"]


@dataclass(frozen=True)
class EpochWindow(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Stream samples ``[start, start + length)`` as (rgb, depth, mask) tensors."""

    data: TrainingData
    start: int
    length: int
    global_batch: int
    spec: InputSpec
    scales: tuple[int, ...] = ()

    def __len__(self) -> int:
        return self.length

    def spec_at(self, step: int) -> InputSpec:
        """The input size of global step ``step`` (one of ``scales``, or the model's own)."""
        if not self.scales:
            return self.spec
        rng = np.random.default_rng(np.random.SeedSequence([self.data.seed, step, 3]))
        size = int(self.scales[int(rng.integers(len(self.scales)))])
        return replace(self.spec, height=size, width=size)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not 0 <= i < self.length:
            raise IndexError(i)
        index = self.start + i
        b = self.data.batch([index], self.spec_at(index // self.global_batch))
        return torch.from_numpy(b.rgb[0]), torch.from_numpy(b.depth[0]), torch.from_numpy(b.mask[0])


def epoch_loader(
    data: TrainingData,
    epoch: int,
    steps: int,
    global_batch: int,
    ranks: Ranks,
    spec: InputSpec,
    scales: Sequence[int] = (),
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """This process's batches of epoch ``epoch`` (``global_batch / world_size`` samples each)."""
    length = steps * global_batch
    window = EpochWindow(data, epoch * length, length, global_batch, spec, tuple(scales))
    sampler: DistributedSampler[int] = DistributedSampler(
        window, num_replicas=ranks.world_size, rank=ranks.rank, shuffle=False
    )
    return DataLoader(
        window,
        batch_size=global_batch // ranks.world_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=True,
        persistent_workers=False,
    )
