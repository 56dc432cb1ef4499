"""Saliency accuracy of any predictor (PyTorch model, ONNX bundle) on labelled frames (:mod:`.data`).

Torch-free, so bundles are evaluated on the robot with the same code as checkpoints on a workstation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

import cv2
import numpy as np

from mutualsense.backends.base import SupportsInfer
from mutualsense.backends.batching import pad_batch
from mutualsense.evaluation.data import LabelledFrame
from mutualsense.evaluation.metrics import SaliencyEvaluator, Scores
from mutualsense.preprocess import InputSpec, preprocess
from mutualsense.results import sigmoid

__all__ = ["Predictor", "Subset", "backend_predictor", "evaluate_predictor", "sigmoid"]

Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(rgb [B,3,h,w], depth [B,1,h,w]) float32 → saliency logits [B,1,h,w]."""

Subset = Literal["all", "camouflaged", "normal"]


def backend_predictor(backend: SupportsInfer, batch: int, output: str = "saliency") -> Predictor:
    """A predictor over a fixed-batch backend: splits larger batches and pads the last one."""

    def predict(rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        outs = []
        for i in range(0, len(rgb), batch):
            r, d = rgb[i : i + batch], depth[i : i + batch]
            outs.append(backend.infer({"rgb": pad_batch(r, batch), "depth": pad_batch(d, batch)})[output][: len(r)])
        return np.concatenate(outs)

    return predict


def evaluate_predictor(
    predict: Predictor,
    frames: Iterator[LabelledFrame],
    spec: InputSpec,
    blank_depth: bool = False,
    subset: Subset = "all",
    batch_size: int = 8,
) -> Scores:
    """Run ``predict`` on every frame (in batches) and score the saliency maps against the masks.

    Maps are resized back to each mask's resolution before scoring. ``blank_depth`` feeds an all-invalid
    depth image (the RGB-only ablation); ``subset`` keeps only camouflaged or normal generated scenes.
    """
    evaluator = SaliencyEvaluator()
    pending: list[LabelledFrame] = []

    def flush() -> None:
        if not pending:
            return
        inputs = [
            preprocess(f.rgb, np.zeros_like(f.depth) if blank_depth else f.depth, f.depth_scale, spec, f.encoding)
            for f in pending
        ]
        logits = predict(np.concatenate([r for r, _ in inputs]), np.concatenate([d for _, d in inputs]))
        for f, logit in zip(pending, logits, strict=True):
            prob = sigmoid(logit[0])
            if prob.shape != f.mask.shape:
                prob = cv2.resize(prob, (f.mask.shape[1], f.mask.shape[0]), interpolation=cv2.INTER_LINEAR)
            evaluator.update(prob, f.mask)
        pending.clear()

    for frame in frames:
        if subset == "camouflaged" and not frame.camouflaged or subset == "normal" and frame.camouflaged:
            continue
        pending.append(frame)
        if len(pending) == batch_size:
            flush()
    flush()
    return evaluator.result()
