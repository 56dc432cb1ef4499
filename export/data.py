"""Training batches: generated RGB-D scenes or an RGB-D SOD dataset folder, augmented.

Every sample goes through :func:`mutualsense.preprocess.preprocess`, the runtime's own code path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mutualsense.errors import DataError
from mutualsense.evaluation import LabelledFrame
from mutualsense.evaluation.synthetic import SceneGenerator
from mutualsense.preprocess import InputSpec, preprocess

__all__ = ["Batch", "to_batch", "training_batches"]


@dataclass(frozen=True)
class Batch:
    """Preprocessed model inputs and the mask at model resolution (float 0/1)."""

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray


def _augment(f: LabelledFrame, rng: np.random.Generator) -> LabelledFrame:
    rgb, depth, mask = f.rgb, f.depth, f.mask
    if rng.random() < 0.5:
        rgb, depth, mask = rgb[:, ::-1], depth[:, ::-1], mask[:, ::-1]
    if rng.random() < 0.5:  # random crop of 80–100 % of each side
        h, w = mask.shape
        ch, cw = int(h * rng.uniform(0.8, 1.0)), int(w * rng.uniform(0.8, 1.0))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        rgb, depth, mask = rgb[y : y + ch, x : x + cw], depth[y : y + ch, x : x + cw], mask[y : y + ch, x : x + cw]
    gain, bias = rng.uniform(0.8, 1.2), rng.uniform(-20, 20)
    rgb = np.clip(rgb.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    return LabelledFrame(rgb, np.ascontiguousarray(depth), f.depth_scale, f.encoding, np.ascontiguousarray(mask))


def to_batch(frames: list[LabelledFrame], spec: InputSpec) -> Batch:
    """Preprocess frames into stacked model inputs and masks resized to the model grid."""
    rgbs, depths, masks = [], [], []
    for f in frames:
        r, d = preprocess(np.ascontiguousarray(f.rgb), f.depth, f.depth_scale, spec, f.encoding)
        rgbs.append(r[0])
        depths.append(d[0])
        m = f.mask
        if m.shape != (spec.height, spec.width):
            m = cv2.resize(np.ascontiguousarray(m), (spec.width, spec.height), interpolation=cv2.INTER_NEAREST)
        masks.append((m > 127).astype(np.float32)[None])
    return Batch(np.stack(rgbs), np.stack(depths), np.stack(masks))


def training_batches(data: str, batch_size: int, seed: int, spec: InputSpec, augment: bool = True) -> Iterator[Batch]:
    """An endless stream of augmented training batches."""
    rng = np.random.default_rng(seed)
    if data == "synthetic":
        gen = SceneGenerator(height=spec.height, width=spec.width, seed=seed)
        while True:
            frames = []
            for _ in range(batch_size):
                s = gen.sample()
                frames.append(LabelledFrame(s.rgb, s.depth, s.depth_scale, "metric", s.mask, s.camouflaged))
            yield to_batch([_augment(f, rng) if augment else f for f in frames], spec)
    from mutualsense.evaluation.datasets import RgbdSodDataset

    dataset = RgbdSodDataset(Path(data))
    if len(dataset) < batch_size:
        raise DataError(
            f"{data} holds {len(dataset)} samples, fewer than the batch size {batch_size}.", "lower --batch-size."
        )
    while True:
        order = rng.permutation(len(dataset))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            frames = []
            for i in order[start : start + batch_size]:
                sample = dataset[int(i)]
                frames.append(LabelledFrame(sample.rgb, sample.depth, None, "normalized", sample.mask))
            yield to_batch([_augment(f, rng) if augment else f for f in frames], spec)
