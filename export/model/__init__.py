"""MutualFormer in PyTorch: the cross-diffusion block, the saliency network, configs and checkpoints."""

from mutualsense.export.model.block import MutualFormerBlock
from mutualsense.export.model.cda import cross_diffusion_attention
from mutualsense.export.model.checkpoint import LoadedCheckpoint, load_checkpoint, load_weights_only, save_checkpoint
from mutualsense.export.model.config import CONFIGS, ModelConfig, get_config
from mutualsense.export.model.net import MutualSenseNet

__all__ = [
    "CONFIGS",
    "LoadedCheckpoint",
    "ModelConfig",
    "MutualFormerBlock",
    "MutualSenseNet",
    "cross_diffusion_attention",
    "get_config",
    "load_checkpoint",
    "load_weights_only",
    "save_checkpoint",
]
