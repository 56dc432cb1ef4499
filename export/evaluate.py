"""Predictors backed by PyTorch checkpoints, for :func:`mutualsense.evaluation.evaluate_predictor`."""

from __future__ import annotations

import os

import numpy as np
import torch

from mutualsense.evaluation import Predictor
from mutualsense.export.model import MutualSenseNet, load_checkpoint
from mutualsense.preprocess import InputSpec

__all__ = ["checkpoint_predictor", "model_predictor"]


def model_predictor(model: MutualSenseNet) -> Predictor:
    """Wrap a model (put in eval mode) as a numpy-in, numpy-out predictor."""
    model.eval()

    def predict(rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(rgb), torch.from_numpy(depth)).numpy()

    return predict


def checkpoint_predictor(path: str | os.PathLike[str]) -> tuple[Predictor, InputSpec]:
    """Load a checkpoint and return its predictor with the input spec it was trained on."""
    loaded = load_checkpoint(path)
    return model_predictor(loaded.model), loaded.config.input
