"""What ``mutualsense train`` takes, the paper's recipe, and the checks run before any work.

``--recipe paper`` (sources: the MutualFormer paper's RGB-D SOD setting — two ImageNet ResNet-50
streams, 352×352 inputs, trained on the NJU2K + NLPR training splits — and, for what the paper
leaves to its F3Net-style decoder and loss, F3Net's public training script (Wei et al., AAAI 2020):
SGD with Nesterov momentum 0.9, weight decay 5e-4, peak learning rate 0.05 for the new layers and
0.005 (×0.1) for the pretrained backbone, a triangular schedule (linear rise to the peak at half
the run, linear fall), batch 32, 32 epochs, random flips and crops, and multi-scale training on
224–352 px squares. bf16 autocast replaces F3Net's apex fp16.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mutualsense.errors import DataError
from mutualsense.evaluation.labelled import labelled_data_spec
from mutualsense.export.data import check_data
from mutualsense.export.training.device import check_amp, resolve_device

__all__ = ["OPTIMIZERS", "RECIPES", "SCHEDULES", "TrainOptions", "check_options", "with_recipe"]

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "triangle")


@dataclass(frozen=True)
class TrainOptions:
    """What ``mutualsense train`` takes (defaults: the CPU demo).

    ``batch_size`` is the *global* batch: under torchrun each of the K processes takes
    ``batch_size / K`` samples of every step. ``data`` is one or more ``--data`` values (a string is
    taken as one). ``steps_per_epoch`` None: one pass over the folders, or 100 steps of generated scenes.
    """

    config: str | None = None
    data: tuple[str, ...] = ("synthetic",)
    epochs: int = 10
    steps_per_epoch: int | None = None
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    backbone_lr_scale: float = 1.0
    schedule: str = "cosine"
    scales: tuple[int, ...] = ()
    seed: int = 0
    input_size: tuple[int, int] | None = None
    threads: int | None = None
    resume: Path | None = None
    init: Path | None = None
    backbone_weights: Path | None = None
    device: str = "auto"
    amp: str = "off"
    channels_last: bool | None = None
    freeze_bn: bool = False
    workers: int | None = None
    val: str | None = None
    val_count: int = 64
    recipe: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.data, str):
            object.__setattr__(self, "data", (self.data,))
        else:
            object.__setattr__(self, "data", tuple(self.data))
        object.__setattr__(self, "scales", tuple(self.scales))


RECIPES: dict[str, dict[str, Any]] = {
    "paper": {
        "config": "paper",
        "input_size": (352, 352),
        "batch_size": 32,
        "epochs": 32,
        "steps_per_epoch": None,
        "optimizer": "sgd",
        "lr": 0.05,
        "backbone_lr_scale": 0.1,
        "weight_decay": 5e-4,
        "schedule": "triangle",
        "scales": (224, 256, 288, 320, 352),
        "amp": "bf16",
    },
}


def with_recipe(recipe: str | None, given: dict[str, Any]) -> TrainOptions:
    """TrainOptions from a recipe's values overridden by the options the user gave (non-None)."""
    base: dict[str, Any] = {}
    if recipe is not None:
        if recipe not in RECIPES:
            raise DataError(f"--recipe {recipe!r} is not a recipe.", f"use --recipe {' or --recipe '.join(RECIPES)}.")
        base = dict(RECIPES[recipe])
    known = {f.name for f in fields(TrainOptions)}
    base.update({k: v for k, v in given.items() if v is not None and k in known and k != "recipe"})
    return TrainOptions(**base, recipe=recipe)


def _positive(name: str, value: int | float | None) -> None:
    if value is not None and value <= 0:
        raise DataError(f"{name} must be positive (got {value}).", f"pass {name} 1 or more.")


def check_options(opts: TrainOptions, world_size: int = 1, local_rank: int = 0) -> None:
    """Every usage mistake, in the option names the user typed, before any work starts."""
    for name, value in (
        ("--epochs", opts.epochs),
        ("--steps-per-epoch", opts.steps_per_epoch),
        ("--batch", opts.batch_size),
        ("--lr", opts.lr),
        ("--val-count", opts.val_count),
        ("--threads", opts.threads),
    ):
        _positive(name, value)
    if opts.weight_decay < 0 or (opts.workers or 0) < 0 or opts.backbone_lr_scale < 0:
        raise DataError("--weight-decay and --workers must not be negative.", "pass 0 or more.")
    check_amp(opts.amp, resolve_device(opts.device, local_rank, world_size))
    if opts.optimizer not in OPTIMIZERS:
        raise DataError(f"--optimizer {opts.optimizer!r} is not known.", "use --optimizer adamw or --optimizer sgd.")
    if opts.schedule not in SCHEDULES:
        raise DataError(f"--schedule {opts.schedule!r} is not known.", "use --schedule cosine or --schedule triangle.")
    if opts.batch_size % world_size:
        raise DataError(
            f"--batch {opts.batch_size} (the global batch) does not split over the {world_size} torchrun processes.",
            f"pass a multiple of {world_size}, e.g. --batch {world_size * max(1, opts.batch_size // world_size)}.",
        )
    sizes = [*(opts.input_size or ()), *opts.scales]
    bad = [s for s in sizes if s < 32 or s % 32]
    if bad:
        flag = "--input-size" if opts.input_size and bad[0] in opts.input_size else "--scales"
        example = "--input-size 352 352" if flag == "--input-size" else "--scales 224,288,352"
        raise DataError(f"{flag} {bad[0]} is not a positive multiple of 32.", f"use multiples of 32, e.g. {example}.")
    sources = (("--resume", opts.resume), ("--init", opts.init), ("--backbone-weights", opts.backbone_weights))
    starts = [name for name, path in sources if path is not None]
    if len(starts) > 1:
        raise DataError(
            f"{' and '.join(starts)} both say where the weights start from.",
            "pass one: --resume continues a run, --init fine-tunes a checkpoint, "
            "--backbone-weights starts from ImageNet.",
        )
    for name, path in sources:
        if path is not None and not Path(path).is_file():
            raise DataError(f"{name} {path} is not a file.", f"check the path given to {name}.")
    if (opts.resume or opts.init) and opts.config is not None and opts.recipe is None:
        raise DataError(
            f"--config {opts.config} cannot be combined with {starts[0]}: the checkpoint's config is used.",
            f"drop --config (the architecture comes from the {starts[0]} checkpoint).",
        )
    if opts.backbone_weights and (opts.config or "tiny") != "paper":
        raise DataError(
            f"--backbone-weights holds ResNet-50 weights, "
            f"but --config {opts.config or 'tiny'} has no ResNet-50 streams.",
            "add --config paper (or --recipe paper).",
        )
    if opts.recipe == "paper" and not starts:
        raise DataError(
            "--recipe paper starts from ImageNet weights, but no --backbone-weights was given.",
            "pass --backbone-weights resnet50-11ad3fa6.pth (torchvision's ResNet50_Weights.IMAGENET1K_V2; "
            "see the README, 'Train on your GPUs').",
        )
    if opts.recipe == "paper" and opts.data == ("synthetic",):
        raise DataError(
            "--recipe paper trains on RGB-D SOD dataset folders, but --data is synthetic.",
            "pass the training splits, e.g. --data NJU2K_train --data NLPR_train.",
        )
    if opts.val is not None:
        labelled_data_spec(opts.val, "--val")
    check_data(opts.data)
