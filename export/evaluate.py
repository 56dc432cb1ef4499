"""Scoring a checkpoint or a bundle: :func:`open_predictor` picks how to run the model, :func:`evaluate_model`
scores it (what ``mutualsense evaluate`` runs).

This module imports without torch: a bundle is scored with ONNX Runtime (on a robot, without the export
extra); torch is loaded only to run a checkpoint.
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
    import torch

__all__ = [
    "DEFAULT_SYNTHETIC_COUNT",
    "checkpoint_predictor",
    "evaluate_model",
    "model_predictor",
    "open_predictor",
    "score_data",
]

#: Generated scenes scored when no count is given.
DEFAULT_SYNTHETIC_COUNT = 500

Subset = Literal["all", "camouflaged", "normal"]


def model_predictor(model: torch.nn.Module, device: torch.device | None = None) -> Predictor:
    """Wrap a model (put in eval mode) as a numpy-in, numpy-out predictor running on ``device``."""
    import torch

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
    import torch

    from mutualsense.export.model import load_checkpoint

    loaded = load_checkpoint(path)
    model = loaded.model.to(device or torch.device("cpu"))
    return model_predictor(model, device), loaded.config.input


def open_predictor(
    model: str | os.PathLike[str], stack: contextlib.ExitStack, device: str = "auto"
) -> tuple[Predictor, InputSpec]:
    """A predictor for a bundle folder (ONNX Runtime, no torch; closed with ``stack``) or a checkpoint file
    (PyTorch on ``device``: auto, cpu, cuda or cuda:N), with the input spec it expects."""
    if Path(model).is_dir():
        from mutualsense.backends import OnnxRuntimeBackend
        from mutualsense.bundle import Bundle

        bundle = Bundle.load(model)
        backend = stack.enter_context(OnnxRuntimeBackend(bundle))
        return backend_predictor(backend, bundle.batch), bundle.input_spec
    from mutualsense.export.training.device import resolve_device

    return checkpoint_predictor(model, resolve_device(device))


def evaluate_model(
    model: str | os.PathLike[str],
    data: str = "synthetic",
    count: int | None = None,
    seed: int | None = None,
    subset: Subset = "all",
    blank_depth: bool = False,
    device: str = "auto",
) -> Scores:
    """Score a model's saliency maps (S-measure, max F, max E, MAE) on labelled data.

    Args:
        model: a bundle folder (run with ONNX Runtime) or a checkpoint file (run with PyTorch on ``device``).
        data: a data spec (generated scenes or a dataset folder; see :mod:`mutualsense.evaluation.data`).
        count: samples (default: 500 generated scenes, or the whole folder).
        seed: of the generated scenes (default: the standard held-out seed ``EVAL_SEED``).
        subset: ``all``, ``camouflaged`` or ``normal`` (generated scenes only).
        blank_depth: feed invalid depth everywhere (the RGB-only ablation).
    """
    with contextlib.ExitStack() as stack:
        predictor, spec = open_predictor(model, stack, device)
        return score_data(predictor, spec, data, count, seed, subset, blank_depth)


def score_data(
    predictor: Predictor,
    spec: InputSpec,
    data: str = "synthetic",
    count: int | None = None,
    seed: int | None = None,
    subset: Subset = "all",
    blank_depth: bool = False,
) -> Scores:
    """Score an opened predictor on one data spec (arguments as for :func:`evaluate_model`)."""
    if subset not in ("all", "camouflaged", "normal"):
        raise DataError(f"unknown subset {subset!r}.", "use all, camouflaged or normal.")
    parsed = parse_data_spec(data)
    if count is None and parsed.kind == "synthetic" and parsed.count is None:
        count = DEFAULT_SYNTHETIC_COUNT
    frames = labelled_frames(parsed, spec, count, EVAL_SEED if seed is None else seed)
    return evaluate_predictor(predictor, frames, spec, blank_depth=blank_depth, subset=subset)
