"""Accuracy: the SOD metrics, RGB-D SOD dataset folders, the generated scenes, and scoring a predictor.

* :mod:`~mutualsense.evaluation.metrics`: S-measure, F-/E-measure curves, MAE (the authors' formulas).
* :mod:`~mutualsense.evaluation.datasets`: ``RGB/``, ``depth/``, ``GT/`` dataset folders.
* :mod:`~mutualsense.evaluation.synthetic`: the generated RGB-D scenes (training, evaluation, the
  synthetic camera).
* :mod:`~mutualsense.evaluation.data`: the data spec (``synthetic[?count&seed]``, dataset folder,
  recordings) every command reads its data through.
* :mod:`~mutualsense.evaluation.scoring`: scoring any predictor (checkpoint or bundle) on them.

Names are loaded on first use, so the synthetic camera can import the scene generator without the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mutualsense.evaluation.data import (
        DATA_SPEC_HELP,
        EVAL_SEED,
        DataSpec,
        LabelledFrame,
        iter_frames,
        labelled_frames,
        parse_data_spec,
    )
    from mutualsense.evaluation.scoring import Predictor, backend_predictor, evaluate_predictor, sigmoid

_LAZY = {
    "DATA_SPEC_HELP": "data",
    "EVAL_SEED": "data",
    "DataSpec": "data",
    "LabelledFrame": "data",
    "iter_frames": "data",
    "labelled_frames": "data",
    "parse_data_spec": "data",
    "Predictor": "scoring",
    "backend_predictor": "scoring",
    "evaluate_predictor": "scoring",
    "sigmoid": "scoring",
}
__all__ = [
    "DATA_SPEC_HELP",
    "EVAL_SEED",
    "DataSpec",
    "LabelledFrame",
    "Predictor",
    "backend_predictor",
    "evaluate_predictor",
    "iter_frames",
    "labelled_frames",
    "parse_data_spec",
    "sigmoid",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f"mutualsense.evaluation.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'mutualsense.evaluation' has no attribute {name!r}")
