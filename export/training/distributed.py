"""Several processes through torchrun: the ranks from the environment and the process group.

``torchrun --nproc-per-node K $(which mutualsense) train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; every process trains a replica wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel` (gradients averaged across processes), reads its
share of each global batch through :class:`~torch.utils.data.DistributedSampler`, and rank 0 alone
writes checkpoints, logs and validation results. NCCL on CUDA, gloo on the CPU.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mutualsense.errors import DataError

__all__ = ["Ranks", "init_distributed", "read_ranks", "shutdown_distributed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, logs and validation results."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1


def read_ranks(environ: dict[str, str] | None = None) -> Ranks:
    """The ranks torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``)."""
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
        local_world = int(env.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError as exc:
        raise DataError(
            f"the torchrun variables RANK/WORLD_SIZE/LOCAL_RANK are not integers ({exc}).",
            "start several processes with `torchrun --nproc-per-node K $(which mutualsense) train ...`.",
        ) from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise DataError(
            f"inconsistent torchrun variables: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}.",
            "start several processes with `torchrun --nproc-per-node K $(which mutualsense) train ...`.",
        )
    return Ranks(rank, world, local, max(1, local_world))


def init_distributed(ranks: Ranks, device: torch.device) -> None:
    """Join the process group (NCCL for CUDA, gloo for the CPU); a no-op for one process."""
    if not ranks.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, init_method="env://", rank=ranks.rank, world_size=ranks.world_size)
    log.info("rank %d of %d joined the %s process group", ranks.rank, ranks.world_size, backend)


def shutdown_distributed() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
