"""Scoring a checkpoint or a bundle: :func:`evaluate_model` (what ``mutualsense evaluate`` runs).

This module imports without torch: a bundle is scored with ONNX Runtime (on a robot, without the export
extra); torch is loaded only to score a checkpoint.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from mutualsense.errors import DataError
from mutualsense.evaluation.data import EVAL_SEED, labelled_frames, parse_data_spec
from mutualsense.evaluation.metrics import Scores
from mutualsense.evaluation.scoring import Predictor, backend_predictor, evaluate_predictor
from mutualsense.preprocess import InputSpec

if TYPE_CHECKING:
    from mutualsense.export.model import MutualSenseNet

__all__ = ["DEFAULT_SYNTHETIC_COUNT", "checkpoint_predictor", "evaluate_model", "model_predictor"]

#: Generated scenes scored when no count is given.
DEFAULT_SYNTHETIC_COUNT = 500

Subset = Literal["all", "camouflaged", "normal"]


def model_predictor(model: MutualSenseNet) -> Predictor:
    """Wrap a model (put in eval mode) as a numpy-in, numpy-out predictor."""
    import torch

    model.eval()

    def predict(rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(rgb), torch.from_numpy(depth)).numpy()

    return predict


def checkpoint_predictor(path: str | os.PathLike[str]) -> tuple[Predictor, InputSpec]:
    """Load a checkpoint and return its predictor with the input spec it was trained on."""
    from mutualsense.export.model import load_checkpoint

    loaded = load_checkpoint(path)
    return model_predictor(loaded.model), loaded.config.input


def evaluate_model(
    model: str | os.PathLike[str],
    data: str = "synthetic",
    count: int | None = None,
    seed: int | None = None,
    subset: Subset = "all",
    blank_depth: bool = False,
) -> Scores:
    """Score a model's saliency maps (S-measure, max F, max E, MAE) on labelled data.

    Args:
        model: a bundle folder (run with ONNX Runtime) or a checkpoint file (run with PyTorch).
        data: a data spec (generated scenes or a dataset folder; see :mod:`mutualsense.evaluation.data`).
        count: samples (default: 500 generated scenes, or the whole folder).
        seed: of the generated scenes (default: the standard held-out seed ``EVAL_SEED``).
        subset: ``all``, ``camouflaged`` or ``normal`` (generated scenes only).
        blank_depth: feed invalid depth everywhere (the RGB-only ablation).
    """
    if subset not in ("all", "camouflaged", "normal"):
        raise DataError(f"unknown subset {subset!r}.", "use all, camouflaged or normal.")
    parsed = parse_data_spec(data)
    if count is None and parsed.kind == "synthetic" and parsed.count is None:
        count = DEFAULT_SYNTHETIC_COUNT
    with contextlib.ExitStack() as stack:
        if Path(model).is_dir():
            from mutualsense.backends import OnnxRuntimeBackend
            from mutualsense.bundle import Bundle

            bundle = Bundle.load(model)
            backend = stack.enter_context(OnnxRuntimeBackend(bundle))
            predictor, spec = backend_predictor(backend, bundle.batch), bundle.input_spec
        else:
            predictor, spec = checkpoint_predictor(model)
        frames = labelled_frames(parsed, spec, count, EVAL_SEED if seed is None else seed)
        return evaluate_predictor(predictor, frames, spec, blank_depth=blank_depth, subset=subset)
