"""Accuracy: the SOD metrics, RGB-D SOD dataset folders, the generated scenes, and scoring a predictor.

* :mod:`~mutualsense.evaluation.metrics`: S-measure, F-/E-measure curves, MAE (the authors' formulas).
* :mod:`~mutualsense.evaluation.datasets`: ``RGB/``, ``depth/``, ``GT/`` dataset folders.
* :mod:`~mutualsense.evaluation.synthetic`: the generated RGB-D scenes (training, evaluation, the
  synthetic camera).
* :mod:`~mutualsense.evaluation.scoring`: scoring any predictor (checkpoint or bundle) on them.

Names are loaded on first use, so the synthetic camera can import the scene generator without the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mutualsense.evaluation.scoring import (
        EVAL_SEED,
        LabelledFrame,
        Predictor,
        backend_predictor,
        evaluate_predictor,
        iter_frames,
        sigmoid,
    )

__all__ = [
    "EVAL_SEED",
    "LabelledFrame",
    "Predictor",
    "backend_predictor",
    "evaluate_predictor",
    "iter_frames",
    "sigmoid",
]


def __getattr__(name: str) -> object:
    if name in __all__:
        return getattr(importlib.import_module("mutualsense.evaluation.scoring"), name)
    raise AttributeError(f"module 'mutualsense.evaluation' has no attribute {name!r}")
