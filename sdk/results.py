"""What a robot gets back: the saliency map, a mask, salient objects with their distance, timing."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from mutualsense.cpu_kernels import object_stats
from mutualsense.sources.frameset import FrameSet
from mutualsense.spatial.objects3d import Placement

_NO_DEPTH = np.zeros((0, 0), np.float32)

__all__ = ["SalientObject", "SaliencyResult", "find_objects", "postprocess", "saliency_map", "sigmoid"]


@dataclass(frozen=True)
class SalientObject:
    """One connected salient region, in colour-image pixels; in 3D when the stream locates objects.

    The 3D fields (see :mod:`mutualsense.spatial.objects3d`; camera frame: x right, y down, z forward, metres)
    are None when the object has too little valid depth or 3D is off; ``track_id`` and
    ``velocity_mps`` (m/s, camera frame) come from :class:`~mutualsense.spatial.tracking.Tracker3D`;
    ``velocity_mps`` is None on a track's first frameset. ``points_m``: (N, 3) float32 camera-frame
    points, only when requested.
    """

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), colour image pixels
    score: float  # mean saliency inside the region
    area_fraction: float  # of the whole image
    median_distance_m: float | None  # median valid depth inside the region; None without valid depth
    valid_depth_fraction: float
    position_m: tuple[float, float, float] | None = None
    extent_m: tuple[float, float, float] | None = None
    position_robot_m: tuple[float, float, float] | None = None
    extent_robot_m: tuple[float, float, float] | None = None
    track_id: int | None = None
    velocity_mps: tuple[float, float, float] | None = None
    points_m: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def valid_depth_share(self) -> float:
        """Share of the object's mask with valid depth (that of its eroded core when located in 3D)."""
        return self.valid_depth_fraction


@dataclass(frozen=True, eq=False)
class SaliencyResult:
    """The outcome of one frameset.

    Attributes:
        model_saliency: (h, w) float32 in [0, 1] on the model's grid, as inferred.
        saliency: (H, W) float32 in [0, 1] at colour resolution: ``model_saliency`` resized (bilinear) to
            ``color_size`` on first access, then kept (most consumers never need it at full resolution).
        objects: salient regions at ``threshold``, largest first.
        color_frame_number / depth_frame_number, color_timestamp_ms / depth_timestamp_ms: from the source.
        clock_domain: the timestamps' clock.
        skew_ms: colour − depth sensor timestamp; skew_flagged when it exceeded the policy's limit.
        latency_ms: per stage (wait, align, preprocess, queue, inference, postprocess) and ``total``
            (delivery → result), in ms; the stages add up to the total.
        source: which source delivered the frameset (camera serial, recording, synthetic).
        frameset: the frameset the result was computed from (colour, raw depth, calibration).
        color_size: (W, H) of the colour image ``saliency`` is resized to; None: ``model_saliency`` as is.
        camera_to_robot: the 4×4 transform the robot-frame object fields used (None without one).
    """

    model_saliency: np.ndarray
    objects: tuple[SalientObject, ...]
    threshold: float
    color_frame_number: int
    depth_frame_number: int
    color_timestamp_ms: float
    depth_timestamp_ms: float
    clock_domain: str
    skew_ms: float
    skew_flagged: bool
    arrival_time: float
    result_time: float
    latency_ms: dict[str, float] = field(default_factory=dict)
    source: str = ""
    frameset: FrameSet | None = None  # the input, for overlays and for robots that need the images
    color_size: tuple[int, int] | None = None
    camera_to_robot: np.ndarray | None = None

    @functools.cached_property
    def saliency(self) -> np.ndarray:
        """(H, W) float32 saliency at colour resolution (computed on first access)."""
        prob = self.model_saliency
        if self.color_size is None or prob.shape[::-1] == tuple(self.color_size):
            return prob
        return cv2.resize(prob, tuple(self.color_size), interpolation=cv2.INTER_LINEAR)

    def mask(self, threshold: float | None = None) -> np.ndarray:
        """Boolean salient-object mask at colour resolution."""
        return self.saliency > (self.threshold if threshold is None else threshold)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function (logits → probabilities), float32: 0.5 · (1 + tanh(x / 2))."""
    out = np.multiply(x, 0.5, dtype=np.float32)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def saliency_map(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One [h, w] logit map → (H, W) float32 probabilities at colour resolution (``size`` = (W, H))."""
    prob = sigmoid(logits)
    if prob.shape[::-1] != size:
        prob = cv2.resize(prob, size, interpolation=cv2.INTER_LINEAR)
    return prob


def find_objects(
    prob: np.ndarray,
    depth_m: np.ndarray | None,
    color_size: tuple[int, int],
    threshold: float = 0.5,
    min_area_fraction: float = 0.002,
    locate: Callable[[np.ndarray, int, int, np.ndarray], Placement] | None = None,
) -> tuple[SalientObject, ...]:
    """Connected regions of ``prob > threshold`` on the model grid, with boxes scaled to ``color_size`` (W, H).

    ``depth_m`` is the aligned depth in metres on the same grid as ``prob`` (0 = invalid). ``locate``
    (an :class:`~mutualsense.spatial.objects3d.ObjectLocator`) adds each object's 3D fields from its region
    mask, the box's top-left grid pixel and the depth in the box.
    """
    mask = (prob > threshold).view(np.uint8)
    h, w = prob.shape
    # Grana's algorithm: with statistics and 32-bit labels 0.12 ms on the sample's 192×192 masks, against
    # 0.21 ms for OpenCV's default (Spaghetti) (benchmarks/results/host_stages_cpu.json)
    _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_GRANA)
    sx, sy = color_size[0] / w, color_size[1] / h
    # only the components large enough are looked at (a noisy map has thousands of specks)
    ids = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= min_area_fraction * h * w) + 1
    measured = np.empty((ids.size, 3))
    object_stats(labels, stats, ids, prob, _NO_DEPTH if depth_m is None else depth_m, measured)
    objects = []
    for i, (score, valid_fraction, distance) in zip(ids, measured, strict=True):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        box = (
            int(x * sx),
            int(y * sy),
            min(color_size[0], round((x + bw) * sx)),
            min(color_size[1], round((y + bh) * sy)),
        )
        obj = SalientObject(
            box,
            float(score),
            float(area) / (h * w),
            None if np.isnan(distance) else float(distance),
            float(valid_fraction),
        )
        if locate is not None and depth_m is not None:
            region = labels[y : y + bh, x : x + bw] == i
            obj = _located(obj, locate(region, int(x), int(y), depth_m[y : y + bh, x : x + bw]))
        objects.append(obj)
    objects.sort(key=lambda o: o.area_fraction, reverse=True)
    return tuple(objects)


def _located(obj: SalientObject, p: Placement) -> SalientObject:
    """``obj`` with the 3D fields of its placement."""
    return SalientObject(
        obj.box,
        obj.score,
        obj.area_fraction,
        obj.median_distance_m,
        p.valid_depth_share,
        position_m=p.position_m,
        extent_m=p.extent_m,
        position_robot_m=p.position_robot_m,
        extent_robot_m=p.extent_robot_m,
        points_m=p.points_m,
    )


def postprocess(
    logits: np.ndarray,
    aligned_depth: np.ndarray | None,
    depth_scale: float,
    color_size: tuple[int, int],
    threshold: float = 0.5,
    smooth: Callable[[np.ndarray], np.ndarray] | None = None,
    locate: Callable[[np.ndarray, int, int, np.ndarray], Placement] | None = None,
) -> tuple[np.ndarray, tuple[SalientObject, ...]]:
    """One [h, w] logit map → (probabilities on the model grid, salient objects with boxes in colour pixels).

    ``aligned_depth`` is the raw depth on the same grid (:class:`~mutualsense.align.DepthAligner`'s
    output); the full-resolution map is left to :attr:`SaliencyResult.saliency`, on demand. ``smooth``
    (temporal smoothing of the map) and ``locate`` (objects in 3D): see :mod:`mutualsense.spatial`.
    """
    prob = sigmoid(logits)
    if smooth is not None:
        prob = smooth(prob)
    depth_m = None if aligned_depth is None else np.multiply(aligned_depth, np.float32(depth_scale), dtype=np.float32)
    return prob, find_objects(prob, depth_m, color_size, threshold, locate=locate)
