"""Training: structure loss (weighted BCE + weighted IoU, as in F3Net), AdamW, cosine schedule."""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mutualsense import __version__
from mutualsense.errors import CheckpointError, DataError
from mutualsense.export.data import training_batches
from mutualsense.export.model import MutualSenseNet, get_config, load_checkpoint, load_weights_only, save_checkpoint

__all__ = ["TrainOptions", "TrainProgress", "structure_loss", "train"]


def structure_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Weighted BCE + weighted IoU; pixels near object boundaries weigh up to 6×."""
    weight = 1 + 5 * torch.abs(F.avg_pool2d(mask, kernel_size=31, stride=1, padding=15) - mask)
    bce = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    wbce = (weight * bce).sum(dim=(2, 3)) / weight.sum(dim=(2, 3))
    prob = torch.sigmoid(logits)
    inter = (prob * mask * weight).sum(dim=(2, 3))
    union = ((prob + mask) * weight).sum(dim=(2, 3))
    wiou = 1 - (inter + 1) / (union - inter + 1)
    return (wbce + wiou).mean()


@dataclass(frozen=True)
class TrainOptions:
    """What ``mutualsense train`` takes."""

    config: str = "tiny"
    data: str = "synthetic"
    epochs: int = 10
    steps_per_epoch: int = 100
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    input_size: tuple[int, int] | None = None
    threads: int | None = None
    resume: Path | None = None


@dataclass
class TrainProgress:
    """Handed to the progress callback after every step."""

    epoch: int
    step: int
    steps_total: int
    loss: float
    lr: float
    samples_per_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def optimizer_path(checkpoint: Path) -> Path:
    """Where the optimizer state for ``--resume`` lives: beside the checkpoint, which stays weights-only."""
    return checkpoint.with_name(checkpoint.name + ".optim")


def _lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def train(opts: TrainOptions, out: Path, on_step: Callable[[TrainProgress], None] | None = None) -> dict[str, Any]:
    """Train a model and return its training facts.

    After every epoch the checkpoint is written to ``out`` and the optimizer state to ``out.optim``
    (so ``resume`` continues where training stopped; the checkpoint alone is what export needs).
    """
    if opts.epochs < 1 or opts.steps_per_epoch < 1 or opts.batch_size < 1:
        raise DataError(
            "epochs, steps per epoch and batch size must be >= 1 "
            f"(got {opts.epochs}, {opts.steps_per_epoch}, {opts.batch_size}).",
            "pass positive values.",
        )
    if not (math.isfinite(opts.lr) and opts.lr > 0):
        raise DataError(f"the learning rate must be a number > 0, got {opts.lr}.", "pass e.g. --lr 2e-3.")
    if opts.data != "synthetic" and not Path(opts.data).is_dir():
        raise DataError(
            f"training data {opts.data!r} is neither 'synthetic' nor a folder.",
            "pass --data synthetic or a dataset folder.",
        )
    if opts.threads:
        torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed)
    start_epoch, history = 0, []
    optimizer_state = None
    if opts.resume is not None:
        loaded = load_checkpoint(opts.resume)
        model = loaded.model
        cfg = loaded.config
        start_epoch = int(loaded.training.get("epoch", 0))
        history = list(loaded.training.get("history", []))
        sidecar = optimizer_path(opts.resume)
        if sidecar.exists():
            optimizer_state = load_weights_only(sidecar, "optimizer state")
        if start_epoch >= opts.epochs:
            raise CheckpointError(
                f"{opts.resume} already finished {start_epoch} of {opts.epochs} epochs.",
                "pass a larger --epochs to continue training.",
            )
    else:
        cfg = get_config(opts.config)
        if opts.input_size is not None:
            h, w = opts.input_size
            if h % 32 or w % 32:
                raise DataError(f"input size {h}x{w} is not a multiple of 32.", "use e.g. 192 192 or 256 256.")
            cfg = replace(cfg, input=replace(cfg.input, height=h, width=w))
        model = MutualSenseNet(cfg)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    total = opts.epochs * opts.steps_per_epoch
    warmup = min(200, total // 10 + 1)
    batches = training_batches(opts.data, opts.batch_size, opts.seed + 7919 * start_epoch, cfg.input)
    facts: dict[str, Any] = {}
    t_start = time.perf_counter()
    for epoch in range(start_epoch, opts.epochs):
        losses = []
        t_epoch = time.perf_counter()
        for step in range(opts.steps_per_epoch):
            global_step = epoch * opts.steps_per_epoch + step
            lr = _lr_at(global_step, total, opts.lr, warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            b = next(batches)
            logits = model(torch.from_numpy(b.rgb), torch.from_numpy(b.depth))
            loss = structure_loss(logits, torch.from_numpy(b.mask))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if on_step is not None:
                rate = (step + 1) * opts.batch_size / (time.perf_counter() - t_epoch)
                on_step(TrainProgress(epoch, step, opts.steps_per_epoch, losses[-1], lr, rate, history))
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - t_epoch})
        facts = {
            "epoch": epoch + 1,
            "epochs": opts.epochs,
            "steps_per_epoch": opts.steps_per_epoch,
            "batch_size": opts.batch_size,
            "lr": opts.lr,
            "weight_decay": opts.weight_decay,
            "seed": opts.seed,
            "data": opts.data,
            "loss": "structure (weighted BCE + weighted IoU)",
            "history": history,
            "seconds": time.perf_counter() - t_start,
            "torch": str(torch.__version__),
            "mutualsense": __version__,
            "machine": platform.machine(),
            "threads": torch.get_num_threads(),
        }
        save_checkpoint(out, model, facts)
        torch.save(optimizer.state_dict(), optimizer_path(out))
    model.eval()
    return facts
