"""Saliency accuracy of any predictor (PyTorch model, ONNX bundle) on generated scenes or a dataset.

Torch-free, so bundles are evaluated on the robot with the same code as checkpoints on a workstation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from mutualsense.backends.base import SupportsInfer
from mutualsense.errors import DataError
from mutualsense.evaluation.metrics import SaliencyEvaluator, Scores
from mutualsense.evaluation.synthetic import SceneGenerator
from mutualsense.preprocess import DepthEncoding, InputSpec, preprocess
from mutualsense.results import sigmoid

__all__ = [
    "EVAL_SEED",
    "LabelledFrame",
    "Predictor",
    "backend_predictor",
    "evaluate_predictor",
    "iter_frames",
    "sigmoid",
]

# Held-out generated scenes use this seed (training uses small seeds), so the sets never overlap.
EVAL_SEED = 1_000_003

Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(rgb [B,3,h,w], depth [B,1,h,w]) float32 → saliency logits [B,1,h,w]."""

Subset = Literal["all", "camouflaged", "normal"]


@dataclass(frozen=True)
class LabelledFrame:
    """One raw frame with its ground truth, before preprocessing."""

    rgb: np.ndarray
    depth: np.ndarray
    depth_scale: float | None
    encoding: DepthEncoding
    mask: np.ndarray
    camouflaged: bool = False


def iter_frames(data: str, count: int | None, seed: int, spec: InputSpec) -> Iterator[LabelledFrame]:
    """Frames from ``"synthetic"`` (``count`` generated scenes at the model's input size) or a dataset folder."""
    if data == "synthetic":
        if count is None or count < 1:
            raise DataError(f"synthetic evaluation needs a positive count (got {count}).", "pass --count N.")
        gen = SceneGenerator(height=spec.height, width=spec.width, seed=seed)
        for _ in range(count):
            s = gen.sample()
            yield LabelledFrame(s.rgb, s.depth, s.depth_scale, "metric", s.mask, s.camouflaged)
        return
    if not Path(data).is_dir():
        raise DataError(
            f"data {data!r} is neither 'synthetic' nor a folder.", "pass synthetic or an RGB-D SOD dataset folder."
        )
    from mutualsense.evaluation.datasets import RgbdSodDataset

    dataset = RgbdSodDataset(Path(data))
    n = len(dataset) if count is None else min(count, len(dataset))
    for i in range(n):
        sample = dataset[i]
        yield LabelledFrame(sample.rgb, sample.depth, None, "normalized", sample.mask)


def backend_predictor(backend: SupportsInfer, batch: int, output: str = "saliency") -> Predictor:
    """A predictor over a fixed-batch backend: splits larger batches and pads the last one."""

    def predict(rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        outs = []
        for i in range(0, len(rgb), batch):
            r, d = rgb[i : i + batch], depth[i : i + batch]
            n = len(r)
            if n < batch:
                r = np.concatenate([r, np.repeat(r[-1:], batch - n, axis=0)])
                d = np.concatenate([d, np.repeat(d[-1:], batch - n, axis=0)])
            outs.append(backend.infer({"rgb": r, "depth": d})[output][:n])
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
