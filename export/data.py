"""Training samples: generated RGB-D scenes or RGB-D SOD dataset folders, augmented.

Sample ``i`` of a training run is a pure function of (seed, i): the scene generator is seeded from
both for generated scenes; for dataset folders (several are pooled into one) pass ``c`` of the pool
is shuffled by a permutation seeded from (seed, c), and the augmentation of every sample by
(seed, i). So several processes can each read their share of a global batch, and a resumed run reads
exactly the samples an uninterrupted one would. Every sample goes through
:func:`mutualsense.preprocess.preprocess`, the runtime's own code path. numpy + OpenCV only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mutualsense.errors import DataError
from mutualsense.evaluation.data import LabelledFrame
from mutualsense.evaluation.datasets import RgbdSodDataset
from mutualsense.evaluation.labelled import labelled_data_spec
from mutualsense.evaluation.synthetic import SceneGenerator
from mutualsense.preprocess import InputSpec, preprocess

__all__ = ["Batch", "TrainingData", "check_data", "to_batch"]


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


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def check_data(data: Sequence[str], option: str = "--data") -> None:
    """Reject values that name no training data (before any work starts), in the option's name.

    Values are data specs (:func:`~mutualsense.evaluation.data.parse_data_spec`); training takes
    ``synthetic`` (seeded by ``--seed``) or dataset folders — recordings carry no masks to learn from.
    """
    if not data:
        raise DataError("no training data given.", f"pass {option} synthetic or {option} FOLDER (repeatable).")
    if "synthetic" in data and len(data) > 1:
        raise DataError(
            f"{option} synthetic cannot be combined with dataset folders.",
            f"train on generated scenes ({option} synthetic) or on folders ({option} A {option} B), not both.",
        )
    for item in data:
        spec = labelled_data_spec(item, option)
        if spec.kind == "synthetic" and item != "synthetic":
            raise DataError(
                f"{option} {item!r}: training draws its own endless stream of generated scenes.",
                f"pass plain {option} synthetic; --seed sets the scenes and --steps-per-epoch their number.",
            )


class TrainingData:
    """The deterministic training sample stream of one or several ``--data`` values.

    Args:
        data: ``["synthetic"]`` or one or more RGB-D SOD dataset folders (pooled).
        seed: the run's seed.
        augment: flip, crop and brightness jitter (on by default).

    Raises:
        DataError: for a missing folder, a malformed dataset, or ``synthetic`` mixed with folders.
    """

    def __init__(self, data: Sequence[str], seed: int, augment: bool = True) -> None:
        check_data(data)
        self.seed = seed
        self.augment = augment
        self.synthetic = list(data) == ["synthetic"]
        self.datasets: list[RgbdSodDataset] = []
        if self.synthetic:
            return
        self.datasets = [RgbdSodDataset(Path(item)) for item in data]
        self._offsets = np.cumsum([0] + [len(d) for d in self.datasets])
        self._perm: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        """Samples in one pass over the pooled folders (0 for generated scenes: endless)."""
        return int(self._offsets[-1]) if self.datasets else 0

    def frame(self, index: int, size: tuple[int, int]) -> LabelledFrame:
        """Sample ``index`` of the stream, augmented; generated scenes are drawn at ``size`` (h, w)."""
        if self.synthetic:
            s = SceneGenerator(height=size[0], width=size[1], seed=_seed(self.seed, index)).sample()
            frame = LabelledFrame(s.rgb, s.depth, s.depth_scale, "metric", s.mask, s.camouflaged)
        else:
            n = len(self)
            cycle, pos = divmod(index, n)
            if self._perm is None or self._perm[0] != cycle:
                self._perm = (cycle, np.random.default_rng(_seed(self.seed, cycle, 1)).permutation(n))
            item = int(self._perm[1][pos])
            which = int(np.searchsorted(self._offsets, item, side="right")) - 1
            sample = self.datasets[which][item - int(self._offsets[which])]
            frame = LabelledFrame(sample.rgb, sample.depth, None, "normalized", sample.mask)
        if self.augment:
            frame = _augment(frame, np.random.default_rng(_seed(self.seed, index, 2)))
        return frame

    def batch(self, indices: Sequence[int], spec: InputSpec) -> Batch:
        """The preprocessed samples ``indices`` at the size of ``spec``."""
        return to_batch([self.frame(i, (spec.height, spec.width)) for i in indices], spec)
