"""Predictors backed by PyTorch checkpoints, for :func:`mutualsense.evaluation.evaluate_predictor`."""

from __future__ import annotations

import os

import numpy as np
import torch

from mutualsense.evaluation import Predictor
from mutualsense.export.model import MutualSenseNet, load_checkpoint
from mutualsense.preprocess import InputSpec

__all__ = ["checkpoint_predictor", "model_predictor"]


def model_predictor(model: torch.nn.Module, device: torch.device | None = None) -> Predictor:
    """Wrap a model (put in eval mode) as a numpy-in, numpy-out predictor running on ``device``."""
    model.eval()
    device = device or torch.device("cpu")

    def predict(rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model(torch.from_numpy(rgb).to(device), torch.from_numpy(depth).to(device))
            return out.float().cpu().numpy()

    return predict


def checkpoint_predictor(
    path: str | os.PathLike[str], device: torch.device | None = None
) -> tuple[Predictor, InputSpec]:
    """Load a checkpoint and return its predictor with the input spec it was trained on."""
    loaded = load_checkpoint(path)
    model: MutualSenseNet = loaded.model.to(device or torch.device("cpu"))
    return model_predictor(model, device), loaded.config.input
