"""What a synthetic scene is made of: the scene with its ground truth, and the objects placed in it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Scene", "SceneObject", "boxes_overlap", "moved", "radius"]


@dataclass(frozen=True, eq=False)
class Scene:
    """One RGB-D frame with its ground truth.

    Attributes:
        rgb: (H, W, 3) uint8, RGB order.
        depth: (H, W) uint16 in units of ``depth_scale`` (millimetres); 0 = no depth.
        mask: (H, W) uint8, 255 on the salient object, 0 elsewhere.
        camouflaged: True when the salient object wears the background's texture.
        depth_scale: metres per depth unit.
        true_depth: (H, W) float32 metres, the noise-free depth along the optical axis (no holes):
            the ground truth of the 3D geometry, with ``mask`` giving the salient object's pixels.
    """

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    camouflaged: bool
    depth_scale: float = 0.001
    true_depth: np.ndarray | None = None


@dataclass(frozen=True)
class SceneObject:
    """Where an object goes: its polygon in pixels, centre, bounding radius and depth."""

    points: np.ndarray  # (N, 2) float64 pixel coordinates (x, y)
    cx: float
    cy: float
    radius: float
    z: float


def moved(obj: SceneObject, dx: float, dy: float, dz: float) -> SceneObject:
    """The object shifted by (dx, dy) pixels and dz metres in depth (its image scaled by old depth / new depth)."""
    z = obj.z + dz
    scale = obj.z / z
    cx, cy = obj.cx + dx, obj.cy + dy
    return SceneObject((obj.points - (obj.cx, obj.cy)) * scale + (cx, cy), cx, cy, obj.radius * scale, z)


def radius(pts: np.ndarray) -> float:
    """Largest distance of a centred polygon's vertices from its centre."""
    return float(np.sqrt((pts * pts).sum(axis=1).max()))


def boxes_overlap(a: np.ndarray, b: np.ndarray, margin: float = 4.0) -> bool:
    """Whether the bounding boxes of two polygons, the first grown by ``margin`` pixels, intersect."""
    a_lo, a_hi = a.min(axis=0) - margin, a.max(axis=0) + margin
    b_lo, b_hi = b.min(axis=0), b.max(axis=0)
    return bool(np.all(a_lo < b_hi) and np.all(b_lo < a_hi))
