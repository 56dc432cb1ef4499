"""Training: structure loss (weighted BCE + weighted IoU, as in F3Net), on CPUs or GPUs, one or several.

One process, or several started by torchrun (DistributedDataParallel, rank 0 writes), each reading
its share of a deterministic sample stream (:mod:`mutualsense.export.training.loader`); AdamW or SGD
with a warm-up + cosine or triangular schedule; optional autocast (bf16/fp16, fp16 with loss
scaling). After every epoch rank 0 writes the checkpoint, the optimizer state beside it, and the
metrics logs; resuming from them gives the weights an uninterrupted run would have.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from mutualsense import __version__
from mutualsense.errors import CheckpointError
from mutualsense.evaluation import EVAL_SEED, evaluate_predictor, labelled_frames, parse_data_spec
from mutualsense.export.data import TrainingData
from mutualsense.export.evaluate import model_predictor
from mutualsense.export.model import MutualSenseNet, get_config, load_checkpoint, load_weights_only, save_checkpoint
from mutualsense.export.training.backbone import load_backbone_weights
from mutualsense.export.training.device import Precision, resolve_device, resolve_precision
from mutualsense.export.training.distributed import Ranks, init_distributed, read_ranks, shutdown_distributed
from mutualsense.export.training.loader import epoch_loader
from mutualsense.export.training.logs import plot_curves, write_metrics
from mutualsense.export.training.options import TrainOptions, check_options

__all__ = ["TrainOptions", "TrainProgress", "lr_at", "optimizer_path", "structure_loss", "train"]

log = logging.getLogger(__name__)
_SYNTHETIC_STEPS = 100


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


@dataclass
class TrainProgress:
    """Handed to the progress callback after every step (rank 0 only)."""

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


def lr_at(step: int, total: int, base: float, schedule: str = "cosine") -> float:
    """The learning rate of ``step`` of ``total``: warm-up + cosine, or F3Net's triangle."""
    if schedule == "triangle":
        return base * (1 - abs((step + 1) / (total + 1) * 2 - 1))
    warmup = min(200, total // 10 + 1)
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


@dataclass
class _Start:
    """Where a run starts: the model, its epoch and history, saved optimizer state, what was loaded."""

    model: MutualSenseNet
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    optim_state: dict[str, Any] | None = None
    loaded_from: dict[str, Any] = field(default_factory=dict)


def _with_input(model: MutualSenseNet, size: tuple[int, int] | None) -> MutualSenseNet:
    if size is not None:
        model.config = replace(model.config, input=replace(model.config.input, height=size[0], width=size[1]))
    return model


def _start(opts: TrainOptions) -> _Start:
    torch.manual_seed(opts.seed)
    if opts.resume is not None:
        loaded = load_checkpoint(opts.resume)
        epoch = int(loaded.training.get("epoch", 0))
        if epoch >= opts.epochs:
            raise CheckpointError(
                f"--resume {opts.resume} already finished {epoch} of {opts.epochs} epochs.",
                "pass a larger --epochs to continue training.",
            )
        sidecar = optimizer_path(opts.resume)
        state = load_weights_only(sidecar, "optimizer state") if sidecar.exists() else None
        history = list(loaded.training.get("history", []))
        return _Start(loaded.model, epoch, history, state, {"resume": str(opts.resume)})
    if opts.init is not None:
        loaded = load_checkpoint(opts.init)
        return _Start(_with_input(loaded.model, opts.input_size), loaded_from={"init": str(opts.init)})
    cfg = get_config(opts.config or "tiny")
    model = _with_input(MutualSenseNet(cfg), opts.input_size)
    if opts.backbone_weights is None:
        return _Start(model)
    report = load_backbone_weights(model, opts.backbone_weights)
    return _Start(model, loaded_from={"backbone_weights": str(opts.backbone_weights), "backbone": report.summary()})


def _optimizer(model: nn.Module, opts: TrainOptions) -> torch.optim.Optimizer:
    named = list(model.named_parameters())
    backbone = [p for n, p in named if n.startswith(("rgb_backbone.", "depth_backbone."))]
    rest = [p for n, p in named if not n.startswith(("rgb_backbone.", "depth_backbone."))]
    groups: list[dict[str, Any]] = [
        {"params": backbone, "lr_scale": opts.backbone_lr_scale},
        {"params": rest, "lr_scale": 1.0},
    ]
    if opts.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=opts.lr, momentum=0.9, nesterov=True, weight_decay=opts.weight_decay)
    return torch.optim.AdamW(groups, lr=opts.lr, weight_decay=opts.weight_decay)


def _freeze_batchnorm(model: nn.Module) -> None:
    """Eval-mode BatchNorm: normalise with the running statistics and leave them unchanged."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def _prepare(
    model: MutualSenseNet, opts: TrainOptions, ranks: Ranks, precision: Precision
) -> tuple[MutualSenseNet, nn.Module]:
    """Move the model to its device and wrap it for several processes (SyncBatchNorm on CUDA).

    Returns the model (its BatchNorm layers converted where synchronised) and the module to call.
    """
    device = precision.device
    if ranks.distributed and device.type == "cuda" and not opts.freeze_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[assignment]
    elif ranks.distributed and not opts.freeze_bn:
        log.warning(
            "gloo has no synchronised BatchNorm: each process normalises with the statistics of its own share "
            "of the batch (pass --freeze-bn to train exactly as one process would)"
        )
    model.to(device)
    if precision.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    model.train()
    if opts.freeze_bn:
        _freeze_batchnorm(model)
    if not ranks.distributed:
        return model, model
    ids = [device.index] if device.type == "cuda" else None
    return model, nn.parallel.DistributedDataParallel(model, device_ids=ids, broadcast_buffers=True)


def _set_threads(opts: TrainOptions, ranks: Ranks) -> None:
    if opts.threads:
        torch.set_num_threads(opts.threads)
    elif ranks.local_world_size > 1:  # share the cores between the processes on this machine
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // ranks.local_world_size))


def _validate(model: MutualSenseNet, opts: TrainOptions, device: torch.device) -> dict[str, float]:
    assert opts.val is not None
    spec = model.config.input
    count = opts.val_count if parse_data_spec(opts.val).kind == "synthetic" else None
    frames = labelled_frames(opts.val, spec, count, EVAL_SEED)
    scores = evaluate_predictor(model_predictor(model, device), frames, spec)
    model.train()
    if opts.freeze_bn:
        _freeze_batchnorm(model)
    return {
        "val_s_measure": scores.s_measure,
        "val_max_f": scores.max_f,
        "val_max_e": scores.max_e,
        "val_mae": scores.mae,
    }


def _mean_over_ranks(value: float, ranks: Ranks, device: torch.device) -> float:
    if not ranks.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / ranks.world_size


def train(
    opts: TrainOptions,
    out: Path,
    on_step: Callable[[TrainProgress], None] | None = None,
    ranks: Ranks | None = None,
) -> dict[str, Any]:
    """Train a model and return its training facts (see the module docstring).

    ``ranks`` defaults to what torchrun put in the environment (one process without it).
    """
    ranks = ranks or read_ranks()
    check_options(opts, ranks.world_size, ranks.local_rank)
    device = resolve_device(opts.device, ranks.local_rank, ranks.world_size)
    precision = resolve_precision(opts.amp, device, opts.channels_last)
    data = TrainingData(opts.data, opts.seed)
    _set_threads(opts, ranks)
    init_distributed(ranks, device)
    try:
        return _run(opts, Path(out), on_step, ranks, precision, data)
    finally:
        shutdown_distributed()


def _run(
    opts: TrainOptions,
    out: Path,
    on_step: Callable[[TrainProgress], None] | None,
    ranks: Ranks,
    precision: Precision,
    data: TrainingData,
) -> dict[str, Any]:
    start = _start(opts)
    model, net = _prepare(start.model, opts, ranks, precision)
    optimizer = _optimizer(model, opts)
    scaler = precision.scaler()
    if start.optim_state is not None:
        _load_optim_state(optimizer, scaler, start.optim_state, opts)
    workers = opts.workers
    if workers is None:  # the GPU waits for decoding and augmentation unless they run beside it
        cuda = precision.device.type == "cuda"
        workers = min(8, max(1, (os.cpu_count() or 1) // ranks.local_world_size)) if cuda else 0
    steps = opts.steps_per_epoch or (max(1, len(data) // opts.batch_size) if len(data) else _SYNTHETIC_STEPS)
    total = opts.epochs * steps
    history, facts = start.history, {}
    log.info(
        "training on %s, amp %s, channels-last %s, %d processes, %d steps per epoch",
        precision.device, precision.amp, "on" if precision.channels_last else "off", ranks.world_size, steps,
    )  # fmt: skip
    t_start = time.perf_counter()
    for epoch in range(start.epoch, opts.epochs):
        loader = epoch_loader(
            data, epoch, steps, opts.batch_size, ranks, model.config.input, opts.scales, workers,
            pin_memory=precision.device.type == "cuda",
        )  # fmt: skip
        t_epoch, losses = time.perf_counter(), []
        for step, (rgb, depth, mask) in enumerate(loader):
            lr = lr_at(epoch * steps + step, total, opts.lr, opts.schedule)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]
            rgb, depth, mask = precision.inputs(rgb, depth, mask)
            with precision.autocast():
                logits = net(rgb, depth)
            loss = structure_loss(logits.float(), mask)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(loss.item())
            if on_step is not None and ranks.is_main:
                rate = (step + 1) * opts.batch_size / (time.perf_counter() - t_epoch)
                on_step(TrainProgress(epoch, step, steps, losses[-1], lr, rate, history))
        seconds = time.perf_counter() - t_epoch
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": _mean_over_ranks(float(np.mean(losses)), ranks, precision.device),
            "lr": lr,
            "seconds": seconds,
            "samples_per_s": steps * opts.batch_size / seconds,
        }
        if opts.val is not None and ranks.is_main:
            record.update(_validate(model, opts, precision.device))
        history.append(record)
        facts = _facts(opts, ranks, precision, steps, epoch + 1, history, start, time.perf_counter() - t_start)
        if ranks.is_main:
            _save(out, model, optimizer, scaler, facts)
        if ranks.distributed:
            dist.barrier()
    model.eval()
    return facts


def _load_optim_state(
    optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, state: dict[str, Any], opts: TrainOptions
) -> None:
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(
            f"the optimizer state beside --resume {opts.resume} does not fit this run ({exc}).",
            "resume with the --optimizer it was trained with, or start a fine-tuning run with --init instead.",
        ) from None
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])


def _save(
    out: Path,
    model: MutualSenseNet,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    facts: dict[str, Any],
) -> None:
    save_checkpoint(out, model, facts)
    sidecar = optimizer_path(out)
    tmp = sidecar.with_name(f".{sidecar.name}.tmp-{os.getpid()}")
    torch.save({"optimizer": optimizer.state_dict(), "scaler": scaler.state_dict()}, tmp)
    os.replace(tmp, sidecar)
    write_metrics(out, facts)
    plot_curves(out, facts["history"])


def _facts(
    opts: TrainOptions,
    ranks: Ranks,
    precision: Precision,
    steps: int,
    epoch: int,
    history: list[dict[str, Any]],
    start: _Start,
    seconds: float,
) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "epochs": opts.epochs,
        "steps_per_epoch": steps,
        "batch_size": opts.batch_size,
        "global_batch": opts.batch_size,
        "processes": ranks.world_size,
        "batch_per_process": opts.batch_size // ranks.world_size,
        "lr": opts.lr,
        "optimizer": opts.optimizer,
        "backbone_lr_scale": opts.backbone_lr_scale,
        "schedule": opts.schedule,
        "weight_decay": opts.weight_decay,
        "scales": list(opts.scales),
        "seed": opts.seed,
        "data": list(opts.data),
        "recipe": opts.recipe,
        "device": str(precision.device),
        "amp": precision.amp,
        "channels_last": precision.channels_last,
        "freeze_bn": opts.freeze_bn,
        "workers": opts.workers,
        **start.loaded_from,
        "loss": "structure (weighted BCE + weighted IoU)",
        "history": history,
        "seconds": seconds,
        "torch": str(torch.__version__),
        "mutualsense": __version__,
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
    }
