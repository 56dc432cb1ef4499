"""The parts of ``mutualsense train`` beyond the loop: options and the paper recipe, device and precision,
torchrun processes, the per-process batch loader, ImageNet backbone weights, and the metrics logs."""

from mutualsense.export.training.backbone import BackboneReport, load_backbone_weights
from mutualsense.export.training.device import Precision, resolve_device, resolve_precision
from mutualsense.export.training.distributed import Ranks, read_ranks
from mutualsense.export.training.options import RECIPES, TrainOptions, check_options, with_recipe

__all__ = [
    "RECIPES",
    "BackboneReport",
    "Precision",
    "Ranks",
    "TrainOptions",
    "check_options",
    "load_backbone_weights",
    "read_ranks",
    "resolve_device",
    "resolve_precision",
    "with_recipe",
]
