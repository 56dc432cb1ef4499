"""Depth aligned to the colour camera, reprojected straight into the model's input grid.

``rs.align`` warps depth to the full colour resolution (3–5 ms per frameset at 640×480 on a
laptop CPU) and the runtime then shrinks it to the model's grid. Here each depth pixel is
deprojected with the depth intrinsics, moved by the depth→colour extrinsics, projected with the
colour intrinsics scaled to the output grid, and z-buffered (nearest wins): one vectorised pass
whose per-pixel rays are computed once per camera configuration.

Lens distortion is ignored (the D4xx depth stream reports none, and the colour stream's
Brown–Conrady terms are small at the model's resolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mutualsense.sources.frameset import Extrinsics, FrameSet, Intrinsics

__all__ = ["DepthAligner"]

_KERNEL = np.ones((3, 3), np.uint8)


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
        self._rays = np.einsum("ij,jhw->ihw", rot, rays).astype(np.float32)  # p_color = z * (R r) + t
        self._t = [np.float32(c) for c in depth_to_color.translation]
        # colour pixel (x, y) covers [x, x+1) × [y, y+1); the output grid covers the colour image
        self._fx, self._fy = np.float32(ci.fx * sx), np.float32(ci.fy * sy)
        self._cx, self._cy = np.float32((ci.ppx + 0.5) * sx), np.float32((ci.ppy + 0.5) * sy)
        self._shape = (h_out, w_out)
        self._depth_shape = (di.height, di.width)

    def matches_frameset(self, fs: FrameSet, out_size: tuple[int, int]) -> bool:
        """Whether this aligner was built for ``fs``'s cameras and this output grid."""
        return self.key == _Key(fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color, out_size)

    def __call__(self, depth: np.ndarray, depth_scale: float) -> np.ndarray:
        if depth.shape != self._depth_shape:
            raise ValueError(f"depth is {depth.shape}, the aligner was built for {self._depth_shape}")
        d = depth[:: self._step_y, :: self._step_x]
        z = d.astype(np.float32) * np.float32(depth_scale)
        pz = z * self._rays[2] + self._t[2]
        keep = (d > 0) & (pz > 1e-6)
        inv = np.divide(np.float32(1.0), pz, out=np.zeros_like(pz), where=keep)
        x = np.floor((z * self._rays[0] + self._t[0]) * inv * self._fx + self._cx).astype(np.int32)
        y = np.floor((z * self._rays[1] + self._t[1]) * inv * self._fy + self._cy).astype(np.int32)
        h, w = self._shape
        keep &= (x >= 0) & (x < w) & (y >= 0) & (y < h)
        out = np.full((h, w), np.iinfo(np.uint16).max, dtype=np.uint16)
        np.minimum.at(out.reshape(-1), (y * w + x)[keep], d[keep])
        if self._fill:
            nearness = np.iinfo(np.uint16).max - out  # 0 where nothing landed
            grown = cv2.dilate(nearness, _KERNEL)
            holes = (nearness == 0) & (grown > 0)
            out[holes] = np.iinfo(np.uint16).max - grown[holes]
        out[out == np.iinfo(np.uint16).max] = 0
        return out
