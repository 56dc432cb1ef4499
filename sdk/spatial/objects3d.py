"""Where a salient object is in 3D: position, extent and points in metres from its mask and the aligned depth.

Frames. The *camera frame* is the colour camera's (RealSense convention: x right, y down, z forward,
origin at the optical centre). An optional 4×4 *camera-to-robot* transform ``T`` maps a camera-frame
point ``p`` to the robot frame: ``[p_robot, 1] = T @ [p, 1]``.

Grid. The runtime aligns depth straight into the model's input grid (:class:`~mutualsense.align.DepthAligner`),
an (H, W) grid covering the whole colour image, and finds objects on that grid. Grid pixel (col, row)
covers colour pixels ``[col / sx, (col + 1) / sx)`` with ``sx = W / colour_width`` (likewise rows), so
its centre is colour pixel ``u = (col + 0.5) / sx - 0.5``, deprojected with the colour intrinsics:
``x = (u - ppx) / fx * z``, ``y = (v - ppy) / fy * z``. The aligned value is the depth camera's z,
which equals the colour camera's z when the two optical axes are parallel and the baseline is
sideways (every D4xx); lens distortion is ignored, as in alignment.

Robust estimate (per object):

1. *Core*: the object's mask eroded by one grid pixel (3×3), which drops the edge pixels where
   depth mixes object and background (flying pixels, the aligner's nearest-wins footprint, a mask
   slightly larger than the object). Objects too thin to survive erosion keep their full mask.
2. *Valid depth*: core pixels with depth > 0 (holes, stereo shadows and out-of-range pixels are 0).
   ``valid_depth_share`` = valid core pixels / core pixels.
3. *Depth inliers*: valid pixels whose depth lies within ``max(3 × 1.4826 × MAD, 2 cm)`` of the
   median depth (median and MAD of an even subsample of at most 1024 pixels): what remains of the
   background seen through the mask's edge or a hole is cut off, the object's own relief is kept.
4. ``position_m`` = mean of the inliers' 3D points (the centroid of the visible surface);
   ``extent_m`` = the 2nd–98th percentile range of the inliers along each axis (a trimmed size
   that one stray pixel cannot inflate; a little smaller than the true size, and one grid pixel
   smaller on each side for the erosion).

Fewer than ``min_points`` inliers (default 8): no position (``None``), the share is still reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mutualsense.errors import MutualSenseError
from mutualsense.sources.frameset import Intrinsics

__all__ = ["ObjectLocator", "Placement", "TransformError", "grid_rays", "load_transform", "validate_transform"]

_KERNEL = np.ones((3, 3), np.uint8)
_MAD_TO_SIGMA = 1.4826
_BAND_SIGMAS = 3.0
_MIN_BAND_M = 0.02
_EXTENT_PERCENTILES = (2.0, 98.0)
_STAT_SAMPLES = 1024  # medians and percentiles use an even subsample of at most this many values

Vec3 = tuple[float, float, float]


class TransformError(MutualSenseError):
    """A camera-to-robot transform that is not a finite rigid 4×4 matrix."""


@dataclass(frozen=True, eq=False)
class Placement:
    """One object's 3D geometry (see the module docstring for frames and estimates).

    Attributes:
        position_m: centroid of the visible surface in the camera frame; None without enough depth.
        extent_m: trimmed size along the camera's x, y, z; None with the position.
        valid_depth_share: share of the object's (eroded) mask with valid depth, in [0, 1].
        position_robot_m / extent_robot_m: the same in the robot frame (None without a transform;
            the extent is that of the inlier points transformed, along the robot's axes).
        points_m: (N, 3) float32 inlier points in the camera frame, at most ``max_points`` (evenly
            subsampled); None unless points were requested.
    """

    position_m: Vec3 | None
    extent_m: Vec3 | None
    valid_depth_share: float
    position_robot_m: Vec3 | None = None
    extent_robot_m: Vec3 | None = None
    points_m: np.ndarray | None = field(default=None, repr=False)


def validate_transform(matrix: object, name: str = "camera-to-robot transform") -> np.ndarray:
    """A 4×4 rigid transform as float64 (rotation orthonormal within 1e-3, last row 0 0 0 1).

    Raises:
        TransformError: naming what is wrong.
    """
    remedy = "give a 4x4 matrix (rows of 4 numbers): a rotation R and translation t in metres as [[R, t], [0 0 0 1]]."
    try:
        m = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise TransformError(f"the {name} is not a matrix of numbers.", remedy) from None
    if m.shape != (4, 4):
        raise TransformError(f"the {name} must be 4x4, got shape {m.shape}.", remedy)
    if not np.all(np.isfinite(m)):
        raise TransformError(f"the {name} holds non-finite numbers.", remedy)
    if not np.allclose(m[3], (0.0, 0.0, 0.0, 1.0), atol=1e-9):
        raise TransformError(f"the last row of the {name} must be 0 0 0 1, got {m[3].tolist()}.", remedy)
    r = m[:3, :3]
    if not np.allclose(r @ r.T, np.eye(3), atol=1e-3) or np.linalg.det(r) < 0:
        raise TransformError(
            f"the upper-left 3x3 block of the {name} is not a rotation (orthonormal, determinant +1).",
            "check the matrix: rows of R must be unit vectors at right angles; scale and mirroring are not allowed.",
        )
    return m


def load_transform(path: str | Path, label: str | None = None) -> np.ndarray:
    """Read a 4×4 camera-to-robot transform from JSON or YAML: a 4×4 list, or ``{"matrix": [[...], ...]}``.

    ``label`` names the file in messages (default: its path; the CLI passes ``--robot-transform PATH``).

    Raises:
        TransformError: the file is missing, unreadable, or does not hold a rigid 4×4 matrix.
    """
    label = label or repr(str(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TransformError(f"cannot read {label}: {exc.strerror}.", "pass an existing JSON or YAML file.") from None
    try:
        data: object = json.loads(text)
    except json.JSONDecodeError as json_error:
        data = _yaml_or_raise(text, label, json_error)
    if isinstance(data, dict):
        data = data.get("matrix", data.get("camera_to_robot"))
    return validate_transform(data, f"matrix in {label}")


def _yaml_or_raise(text: str, label: str, json_error: json.JSONDecodeError) -> object:
    try:
        import yaml  # optional (PyYAML): JSON needs nothing
    except ImportError:
        raise TransformError(
            f"{label} is not valid JSON ({json_error.msg}, line {json_error.lineno}), and PyYAML is not installed "
            "to read it as YAML.",
            "write the matrix as JSON ([[1, 0, 0, 0], ...]) or `pip install pyyaml`.",
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TransformError(f"{label} is neither JSON nor YAML: {exc}.", "fix the file's syntax.") from None


@dataclass(frozen=True)
class _GridKey:
    color: Intrinsics
    grid: tuple[int, int]


def grid_rays(color: Intrinsics, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per grid column ``x / z`` and per grid row ``y / z`` (float32) for an (H, W) grid over the colour image."""
    h, w = grid
    sx, sy = w / color.width, h / color.height
    u = (np.arange(w, dtype=np.float64) + 0.5) / sx - 0.5
    v = (np.arange(h, dtype=np.float64) + 0.5) / sy - 0.5
    return ((u - color.ppx) / color.fx).astype(np.float32), ((v - color.ppy) / color.fy).astype(np.float32)


class ObjectLocator:
    """Callable: an object's mask and depth on the model grid → its :class:`Placement`.

    Args:
        color_intrinsics: the colour camera's intrinsics (full resolution).
        grid: (height, width) of the grid masks and depth are on.
        camera_to_robot: optional 4×4 rigid transform (validated); adds the robot-frame fields.
        max_points: return up to this many points per object (0: none, and no cost for them).
        min_points: fewest depth inliers that give a position.
    """

    def __init__(
        self,
        color_intrinsics: Intrinsics,
        grid: tuple[int, int],
        camera_to_robot: np.ndarray | None = None,
        max_points: int = 0,
        min_points: int = 8,
    ) -> None:
        if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 0:
            raise MutualSenseError(f"max_points must be a non-negative integer, got {max_points!r}.", "pass 0 or 2048.")
        self.key = _GridKey(color_intrinsics, (int(grid[0]), int(grid[1])))
        self.rx, self.ry = grid_rays(color_intrinsics, self.key.grid)
        self.camera_to_robot = None if camera_to_robot is None else validate_transform(camera_to_robot)
        self.max_points = int(max_points)
        self.min_points = max(1, int(min_points))

    def matches(self, color_intrinsics: Intrinsics, grid: tuple[int, int]) -> bool:
        """Whether this locator was built for these intrinsics and grid."""
        return self.key == _GridKey(color_intrinsics, (int(grid[0]), int(grid[1])))

    def __call__(self, region: np.ndarray, x0: int, y0: int, depth_m: np.ndarray) -> Placement:
        """Locate one object.

        Args:
            region: (h, w) bool mask of the object inside its grid bounding box.
            x0, y0: the box's top-left grid pixel.
            depth_m: (h, w) float32 aligned depth in metres in the same box (0 = invalid).
        """
        core = region
        if region.shape[0] > 2 and region.shape[1] > 2:
            eroded = cv2.erode(region.view(np.uint8), _KERNEL, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            if int(np.count_nonzero(eroded)) >= self.min_points:
                core = eroded.view(bool)
        rows, cols = np.nonzero(core & (depth_m > 0))
        n_core = int(np.count_nonzero(core))
        share = rows.size / n_core if n_core else 0.0
        if rows.size < self.min_points:
            return Placement(None, None, share)
        z = depth_m[rows, cols]
        # Robust statistics on an even subsample (at most _STAT_SAMPLES values): as good, and the
        # cost stays flat for objects filling the image.
        stride = -(-z.size // _STAT_SAMPLES)
        sample = z[::stride]
        med = _median(sample)
        band = max(_BAND_SIGMAS * _MAD_TO_SIGMA * _median(np.abs(sample - med)), _MIN_BAND_M)
        keep = np.abs(z - np.float32(med)) <= np.float32(band)
        if int(np.count_nonzero(keep)) < self.min_points:
            return Placement(None, None, share)
        z = z[keep]
        pts = np.empty((3, z.size), np.float32)  # x, y, z rows: contiguous reductions
        np.multiply(self.rx[cols[keep] + x0], z, out=pts[0])
        np.multiply(self.ry[rows[keep] + y0], z, out=pts[1])
        pts[2] = z
        position, extent = _centre_and_extent(pts)
        robot_pos = robot_ext = None
        if self.camera_to_robot is not None:
            t = self.camera_to_robot
            robot_pts = t[:3, :3].astype(np.float32) @ pts + t[:3, 3:].astype(np.float32)
            robot_pos, robot_ext = _centre_and_extent(robot_pts)
        points = None
        if self.max_points:
            step = -(-pts.shape[1] // self.max_points)  # ceil: at most max_points, spread over the object
            points = np.ascontiguousarray(pts[:, ::step].T)
        return Placement(position, extent, share, robot_pos, robot_ext, points)


def _median(a: np.ndarray) -> float:
    """The (upper) median of a 1-D array, by one partial sort."""
    k = a.size // 2
    return float(np.partition(a, k)[k])


def _centre_and_extent(pts: np.ndarray) -> tuple[Vec3, Vec3]:
    """(3, N) points → mean point and the 2nd–98th percentile range per axis (on at most _STAT_SAMPLES points)."""
    mean = pts.sum(axis=1, dtype=np.float64) / pts.shape[1]
    sample = pts[:, :: -(-pts.shape[1] // _STAT_SAMPLES)]
    n = sample.shape[1]
    lo, hi = int(_EXTENT_PERCENTILES[0] / 100 * (n - 1)), int(round(_EXTENT_PERCENTILES[1] / 100 * (n - 1)))
    part = np.partition(sample, (lo, hi), axis=1)
    size = part[:, hi].astype(np.float64) - part[:, lo]
    return (float(mean[0]), float(mean[1]), float(mean[2])), (float(size[0]), float(size[1]), float(size[2]))
