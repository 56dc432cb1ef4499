"""Turn a colour image and a depth image into the model's input tensors, as an ``InputSpec`` says.

One code path for training, evaluation, calibration and the runtime, so the deployed model sees
exactly the inputs it was trained on. numpy + OpenCV only.

Depth encoding: the network sees *nearness* in [0, 1] — 1 at ``depth_min_m`` or closer, 0 at
``depth_max_m`` or farther, and 0 where depth is invalid (raw value 0). This matches the
convention of the RGB-D SOD datasets (near = bright), whose 8/16-bit depth images are read as
nearness directly (``encoding="normalized"``).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any, Literal

import cv2
import numpy as np

from mutualsense.cpu_kernels import normalise_rgb

__all__ = [
    "DepthEncoding",
    "InputSpec",
    "depth_table",
    "preprocess",
    "preprocess_depth",
    "preprocess_rgb",
    "rgb_table",
]

DepthEncoding = Literal["metric", "normalized"]


@dataclass(frozen=True)
class InputSpec:
    """How raw frames become model inputs (stored in checkpoints and bundle manifests)."""

    height: int = 192
    width: int = 192
    color_order: Literal["RGB"] = "RGB"
    rgb_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    rgb_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    depth_min_m: float = 0.3
    depth_max_m: float = 5.0
    depth_mean: float = 0.5
    depth_std: float = 0.25

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for JSON manifests and ``torch.load(weights_only=True)`` checkpoints."""
        d = asdict(self)
        d["rgb_mean"] = list(self.rgb_mean)
        d["rgb_std"] = list(self.rgb_std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError``."""
        d = dict(d)
        for key in ("rgb_mean", "rgb_std"):
            if key in d:
                d[key] = tuple(float(v) for v in d[key])
        return cls(**d)


def preprocess_rgb(rgb: np.ndarray, spec: InputSpec, out: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB → (3, h, w) float32, resized and normalised.

    ``out`` (a (3, h, w) float32 array, e.g. one image of a batch tensor) receives the result
    instead of a new array. The resize stays in uint8 (OpenCV, bilinear); one compiled pass then writes
    each channel's levels through a 256-entry table straight into its plane of the output (no float
    image, no transpose; :func:`mutualsense.cpu_kernels.normalise_rgb`).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"colour must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    out = _output(out, (3, spec.height, spec.width))
    if rgb.shape[:2] != (spec.height, spec.width):
        rgb = cv2.resize(rgb, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
    normalise_rgb(rgb, rgb_table(spec).reshape(3, 256), out)
    return out


def preprocess_depth(
    depth: np.ndarray,
    depth_scale: float | None,
    spec: InputSpec,
    encoding: DepthEncoding = "metric",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """(H, W) raw depth → (1, h, w) float32 nearness, standardised.

    Args:
        depth: raw depth image (uint16 camera units, or an 8/16-bit dataset image).
        depth_scale: metres per raw unit (``encoding="metric"``); ignored for ``"normalized"``.
        encoding: ``"metric"`` for cameras and recordings, ``"normalized"`` for dataset images that
            already store nearness (near = bright).
        out: a (1, h, w) float32 array to write into instead of a new one.

    8- and 16-bit images go through a table of every raw value (built once per depth scale and
    spec); the nearest-neighbour resize commutes with the per-pixel map, so it runs first, on the
    raw values.
    """
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got {depth.shape}")
    _check_encoding(depth_scale, encoding)
    out = _output(out, (1, spec.height, spec.width))
    size = (spec.width, spec.height)
    if depth.dtype in (np.uint8, np.uint16):
        if depth.shape != (spec.height, spec.width):
            depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
        np.take(depth_table(depth.dtype.str, depth_scale, spec, encoding), depth, out=out[0])
        return out
    near = _standardised_nearness(depth, depth_scale, spec, encoding)
    out[0] = near if near.shape == out.shape[1:] else cv2.resize(near, size, interpolation=cv2.INTER_NEAREST)
    return out


def _output(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if out is None:
        return np.empty(shape, np.float32)
    if out.shape != shape or out.dtype != np.float32:
        raise ValueError(f"out must be {shape} float32, got {out.shape} {out.dtype}")
    return out


def _check_encoding(depth_scale: float | None, encoding: str) -> None:
    if encoding == "metric":
        if depth_scale is None or depth_scale <= 0:
            raise ValueError(f"metric depth needs a positive depth_scale, got {depth_scale}")
    elif encoding != "normalized":
        raise ValueError(f"encoding must be 'metric' or 'normalized', got {encoding!r}")


def _standardised_nearness(
    depth: np.ndarray, depth_scale: float | None, spec: InputSpec, encoding: DepthEncoding
) -> np.ndarray:
    """The per-pixel map raw depth → standardised nearness (float32), the definition the tables hold."""
    valid = depth > 0
    if encoding == "metric":
        metres = depth.astype(np.float32) * np.float32(depth_scale)
        near = (spec.depth_max_m - np.clip(metres, spec.depth_min_m, spec.depth_max_m)) / (
            spec.depth_max_m - spec.depth_min_m
        )
    else:
        top = 255.0 if depth.dtype == np.uint8 else float(np.iinfo(depth.dtype).max) if depth.dtype.kind == "u" else 1.0
        near = depth.astype(np.float32) / np.float32(top)
    near = np.where(valid, near, np.float32(0.0)).astype(np.float32)
    return ((near - spec.depth_mean) / spec.depth_std).astype(np.float32)


@functools.lru_cache(maxsize=16)
def depth_table(
    dtype: str, depth_scale: float | None, spec: InputSpec, encoding: DepthEncoding = "metric"
) -> np.ndarray:
    """Standardised nearness of every raw value of ``dtype`` (``"<u2"``: 65536 entries), read-only, cached."""
    values = np.arange(np.iinfo(np.dtype(dtype)).max + 1, dtype=np.dtype(dtype))
    table = _standardised_nearness(values, depth_scale, spec, encoding)
    table.flags.writeable = False
    return table


@functools.lru_cache(maxsize=16)
def rgb_table(spec: InputSpec) -> np.ndarray:
    """(3, 1, 256) float32: the normalised value of every uint8 level, per channel (read-only, cached)."""
    levels = np.arange(256, dtype=np.float32)[:, None]
    scale = np.asarray(spec.rgb_std, np.float32) * 255.0
    table = (levels - np.asarray(spec.rgb_mean, np.float32) * 255.0) / scale
    table = np.ascontiguousarray(table.T.reshape(3, 1, 256).astype(np.float32))
    table.flags.writeable = False
    return table


def preprocess(
    rgb: np.ndarray,
    depth: np.ndarray,
    depth_scale: float | None,
    spec: InputSpec,
    encoding: DepthEncoding = "metric",
) -> tuple[np.ndarray, np.ndarray]:
    """One frame → (rgb [1,3,h,w], depth [1,1,h,w]) float32, ready for the model."""
    return preprocess_rgb(rgb, spec)[None], preprocess_depth(depth, depth_scale, spec, encoding)[None]
