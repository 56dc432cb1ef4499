"""Align + preprocess: the one implementation of the two stages between a frameset and the model.

The stream (in its capture threads), the profiler's recorded inputs, INT8 calibration sets and the
accuracy gate's recordings all prepare framesets with :class:`FramePreparer`, so what calibration and
the gate see is what the robot feeds the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mutualsense.align import DepthAligner
from mutualsense.preprocess import InputSpec, depth_table, preprocess_rgb
from mutualsense.results import postprocess
from mutualsense.sources.frameset import Extrinsics, FrameSet, Intrinsics

__all__ = ["FramePreparer", "Prepared"]


@dataclass(frozen=True)
class Prepared:
    """A frameset aligned and preprocessed, with its stage timings.

    Attributes:
        rgb / depth: model inputs with a batch axis of 1: [1, 3, h, w] and [1, 1, h, w] float32.
        aligned_depth: the raw depth aligned into the colour view on the model grid (h, w), in the
            frameset's depth units (for objects' distances).
        align_ms / preprocess_ms: how long each stage took.
        finished: ``time.monotonic()`` when preparation ended.
    """

    rgb: np.ndarray
    depth: np.ndarray
    aligned_depth: np.ndarray
    align_ms: float
    preprocess_ms: float
    finished: float


class FramePreparer:
    """Aligns a frameset's depth into the colour view on the model's grid, then preprocesses both images.

    One :class:`~mutualsense.align.DepthAligner` is kept per source name (its warp tables depend on the
    cameras' calibration and are rebuilt only when a frameset's calibration or size changes). Each
    source should be prepared from one thread at a time (the stream has one capture thread per source).

    Args:
        spec: the model's input spec (``Bundle.input_spec``).
    """

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self.grid = (spec.height, spec.width)
        self._aligners: dict[str, DepthAligner] = {}

    def _aligner(self, fs: FrameSet) -> DepthAligner:
        aligner = self._aligners.get(fs.source)
        if aligner is None or not aligner.matches_frameset(fs, self.grid):
            aligner = self._aligners[fs.source] = DepthAligner(
                fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color, self.grid
            )
        return aligner

    def align(self, fs: FrameSet) -> np.ndarray:
        """The frameset's raw depth aligned into the colour view on the model grid (same units)."""
        return self._aligner(fs)(fs.depth, fs.depth_scale)

    def prepare(self, fs: FrameSet) -> Prepared:
        """Align and preprocess one frameset, timing both stages.

        The depth input is written in the aligning pass (:mod:`mutualsense.cpu_kernels`), so its
        preprocessing is timed with the alignment.
        """
        t0 = time.monotonic()
        d = np.empty((1, 1, *self.grid), np.float32)
        table = depth_table(fs.depth.dtype.str, fs.depth_scale, self.spec)
        depth = self._aligner(fs)(fs.depth, fs.depth_scale, table=table, plane=d[0, 0])
        t1 = time.monotonic()
        rgb = preprocess_rgb(fs.color, self.spec)[None]
        t2 = time.monotonic()
        return Prepared(rgb, d, depth, 1000 * (t1 - t0), 1000 * (t2 - t1), t2)

    __call__ = prepare

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the host stages' kernels on a blank frameset, so a stream's
        first frameset is not delayed by it (a few seconds the first time after an install)."""
        h, w = self.grid
        color, depth = (
            Intrinsics(2 * w, 2 * h, 2.0 * w, 2.0 * w, w, h),
            Intrinsics(w, h, 1.0 * w, 1.0 * w, w / 2, h / 2),
        )
        blank = FrameSet(
            np.zeros((2 * h, 2 * w, 3), np.uint8), np.full((h, w), 1000, np.uint16), 0.001, color, depth,
            Extrinsics(), 0.0, 0.0, "synthetic", 0.0, source="warm-up",
        )  # fmt: skip
        prepared = self.prepare(blank)
        self._aligners.pop(blank.source, None)
        logits = np.full(self.grid, -10.0, np.float32)
        logits[: h // 2, : w // 2] = 10.0  # one object, so its statistics are computed too
        postprocess(logits, prepared.aligned_depth, blank.depth_scale, color.size, 0.5)
