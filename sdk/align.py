"""Depth aligned to the colour camera, reprojected straight into the model's input grid.

``rs.align`` warps depth to the full colour resolution (3–5 ms per frameset at 640×480 on a
laptop CPU) and the runtime then shrinks it to the model's grid. Here each depth pixel is
deprojected with the depth intrinsics, moved by the depth→colour extrinsics, projected with the
colour intrinsics scaled to the output grid, and z-buffered (nearest wins): one compiled pass
(:mod:`mutualsense.cpu_kernels`) whose per-pixel rays are computed once per camera configuration,
which can also write the model's depth input plane as it goes.

Only the depth pixels that can land in the colour view are processed: a D4xx depth stream sees
wider than its colour stream (87° vs 69° across), so at 848×480 depth into a 640×480 colour view
about half the columns and a third of the rows never land. The window is computed once per
calibration for every depth from ``_GUARD_M`` outwards (a point's projection moves monotonically
with its depth, so the range at ``_GUARD_M`` and at infinity bounds it); outside the window only a
valid depth nearer than that is projected (it may land anywhere), so the result never changes.

Lens distortion is ignored (the D4xx depth stream reports none, and the colour stream's
Brown–Conrady terms are small at the model's resolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mutualsense.cpu_kernels import align_depth
from mutualsense.sources.frameset import Extrinsics, FrameSet, Intrinsics

__all__ = ["AlignTables", "DepthAligner"]

_FAR = np.iinfo(np.uint16).max
_NO_TABLE = np.zeros(1, np.float32)
_NO_PLANE = np.zeros((0, 0), np.float32)
_GUARD_M = 0.1  # depths nearer than this may land anywhere: checked per frame (D4xx minimum range ≈ 0.1–0.3 m)


@dataclass(frozen=True)
class AlignTables:
    """What a device implementation of :class:`DepthAligner` needs (``export/plugin/frame_math.h``).

    Attributes:
        rays: [3, rows, cols] float32, R·(normalised ray) of the sampled depth pixels depth[r·step_y, c·step_x].
        step_x, step_y: the depth image's sampling steps.
        translation: depth→colour translation (metres), float32.
        fx, fy, cx, cy: colour intrinsics on the output grid (cx, cy with the half-pixel shift), float32.
        out_size: (height, width) of the output grid.
        fill: whether empty output pixels take their nearest 3×3 neighbour.
    """

    rays: np.ndarray
    step_x: int
    step_y: int
    translation: tuple[float, float, float]
    fx: float
    fy: float
    cx: float
    cy: float
    out_size: tuple[int, int]
    fill: bool


@dataclass(frozen=True)
class _Key:
    depth: Intrinsics
    color: Intrinsics
    extrinsics: Extrinsics
    out: tuple[int, int]


class DepthAligner:
    """Callable: raw depth (depth camera grid) → raw depth in the colour camera's view on an (H, W) grid.

    Args:
        depth_intrinsics / color_intrinsics: the two cameras.
        depth_to_color: rigid transform from the depth to the colour camera.
        out_size: (height, width) of the output grid, which covers the whole colour image.
    """

    def __init__(
        self,
        depth_intrinsics: Intrinsics,
        color_intrinsics: Intrinsics,
        depth_to_color: Extrinsics,
        out_size: tuple[int, int],
    ) -> None:
        self.key = _Key(depth_intrinsics, color_intrinsics, depth_to_color, out_size)
        di, ci = depth_intrinsics, color_intrinsics
        h_out, w_out = out_size
        sx, sy = w_out / ci.width, h_out / ci.height
        # Depth pixels per output pixel along each axis; sample the depth image no denser than
        # one point per output pixel (a 848×480 depth image into a 192×192 grid needs half its columns).
        density_x, density_y = di.fx / (ci.fx * sx), di.fy / (ci.fy * sy)
        self._step_x = max(1, int(density_x))
        self._step_y = max(1, int(density_y))
        # Where there are fewer than ~2 samples per output pixel, forward-warping leaves pinholes:
        # close them with the nearest neighbour (a 3×3 max filter over "nearness").
        self._fill = min(density_x / self._step_x, density_y / self._step_y) < 2.0
        u, v = np.meshgrid(
            np.arange(0, di.width, self._step_x, dtype=np.float64),
            np.arange(0, di.height, self._step_y, dtype=np.float64),
        )
        rays = np.stack([(u - di.ppx) / di.fx, (v - di.ppy) / di.fy, np.ones_like(u)])
        rot = np.asarray(depth_to_color.rotation, dtype=np.float64).reshape(3, 3)
        rays = np.einsum("ij,jhw->ihw", rot, rays).astype(np.float32)  # p_color = z * (R r) + t
        self._t = [np.float32(c) for c in depth_to_color.translation]
        # colour pixel (x, y) covers [x, x+1) × [y, y+1); the output grid covers the colour image
        self._fx, self._fy = np.float32(ci.fx * sx), np.float32(ci.fy * sy)
        self._cx, self._cy = np.float32((ci.ppx + 0.5) * sx), np.float32((ci.ppy + 0.5) * sy)
        self._shape = (h_out, w_out)
        self._depth_shape = (di.height, di.width)
        self._window = self._landing_window(rays)
        self._window_array = np.array(self._window, np.int64)
        self._rays_all = np.ascontiguousarray(rays)

    def _landing_window(self, rays: np.ndarray) -> tuple[int, int, int, int]:
        """Rows r0:r1, columns c0:c1 of the sampled grid holding every pixel that can land at depth ≥ _GUARD_M."""
        rx, ry, rz = (r.astype(np.float64) for r in rays)
        tx, ty, tz = (float(t) for t in self._t)
        h, w = self._shape
        ahead = (rz > 0) & (_GUARD_M * rz + tz > 0)  # in front of the colour camera for every depth ≥ guard
        with np.errstate(divide="ignore", invalid="ignore"):
            near = [
                float(self._fx) * (_GUARD_M * rx + tx) / (_GUARD_M * rz + tz) + float(self._cx),
                float(self._fy) * (_GUARD_M * ry + ty) / (_GUARD_M * rz + tz) + float(self._cy),
            ]
            far = [float(self._fx) * rx / rz + float(self._cx), float(self._fy) * ry / rz + float(self._cy)]
        # x(z) = (a z + b) / (c z + d) is monotonic where c z + d > 0: its range is between the two ends
        inside_x = (np.minimum(near[0], far[0]) < w + 1) & (np.maximum(near[0], far[0]) >= -1)
        inside_y = (np.minimum(near[1], far[1]) < h + 1) & (np.maximum(near[1], far[1]) >= -1)
        can = ~ahead | (inside_x & inside_y)  # behind or straddling: keep (never happens with real cameras)
        rows, cols = np.flatnonzero(can.any(axis=1)), np.flatnonzero(can.any(axis=0))
        if rows.size == 0:
            return 0, 0, 0, 0
        return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1

    @property
    def tables(self) -> AlignTables:
        """The per-calibration tables, for a device implementation (the same numbers this aligner uses)."""
        t0, t1, t2 = (float(t) for t in self._t)
        return AlignTables(
            rays=self._rays_all,
            step_x=self._step_x,
            step_y=self._step_y,
            translation=(t0, t1, t2),
            fx=float(self._fx),
            fy=float(self._fy),
            cx=float(self._cx),
            cy=float(self._cy),
            out_size=self._shape,
            fill=self._fill,
        )

    def matches_frameset(self, fs: FrameSet, out_size: tuple[int, int]) -> bool:
        """Whether this aligner was built for ``fs``'s cameras and this output grid."""
        return self.key == _Key(fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color, out_size)

    def _frame_params(self, depth_scale: float) -> tuple[np.ndarray, int]:
        """frame_math.h's ``AlignParams`` for this depth scale, and the guard depth in raw units."""
        params = np.array([*self._t, self._fx, self._fy, self._cx, self._cy, depth_scale], np.float32)
        return params, int(np.ceil(_GUARD_M / depth_scale)) if depth_scale > 0 else _FAR + 1

    def __call__(
        self,
        depth: np.ndarray,
        depth_scale: float,
        table: np.ndarray | None = None,
        plane: np.ndarray | None = None,
    ) -> np.ndarray:
        """The aligned raw depth on the output grid (uint16, 0 where nothing landed).

        With ``table`` (the value of every raw depth, :func:`~mutualsense.preprocess.depth_table`) and
        ``plane`` (an (h, w) float32 array, e.g. the depth plane of the model's input tensor), also writes
        ``plane[:] = table[aligned]`` in the same pass.
        """
        if depth.shape != self._depth_shape:
            raise ValueError(f"depth is {depth.shape}, the aligner was built for {self._depth_shape}")
        if depth.dtype != np.uint16:
            raise ValueError(f"depth must be raw uint16 (z16), got {depth.dtype}")
        params, guard_raw = self._frame_params(depth_scale)
        out = np.empty(self._shape, np.uint16)
        if plane is None or table is None:
            table, plane = _NO_TABLE, _NO_PLANE
        elif plane.shape != self._shape or plane.dtype != np.float32 or table.dtype != np.float32 or table.size <= _FAR:
            raise ValueError(f"plane must be {self._shape} float32 and table 65536 float32 values")
        align_depth(
            depth,
            self._step_y,
            self._step_x,
            self._window_array,
            guard_raw,
            self._rays_all,
            params,
            self._fill,
            np.empty(self._shape, np.uint16),
            out,
            table,
            plane,
        )
        return out
