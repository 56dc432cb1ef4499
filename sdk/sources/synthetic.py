"""A fake RGB-D camera: synthetic scenes (:mod:`mutualsense.evaluation.synthetic`) as a live-like stream.

Geometry (chosen to be exactly consistent with the calibration the source reports):

* Colour: pinhole, ``fx = fy = 0.9609 * width`` (615 px at 640x480, a D435's colour camera),
  principal point at the image centre ``((w - 1) / 2, (h - 1) / 2)``, no distortion.
* Depth: pinhole with square pixels whose field of view covers the colour camera's (as on a D435,
  whose depth view is wider): ``f_depth = f_color / max(Wc / Wd, Hc / Hd)``; 307.5 px at 424x240 for
  640x480 colour. Depth pixels outside the colour view hold 0 (no data).
* ``depth_to_color``: no rotation, translation (+15 mm, 0, 0) — the colour camera sits 15 mm to the
  right of the depth camera, as on a D435.

Each scene is drawn on the colour grid (colour image, depth in mm, mask). The depth image is
rendered from it by reprojection: every depth pixel casts its ray, takes its distance Z from the
scene depth where that ray lands in the colour image (``u_c = fx_c (x/z + t_x / Z) + ppx_c``, solved
by two fixed-point steps), and keeps Z (depth along the optical axis is the same in both cameras
since R = I and t_z = 0). Aligning the depth image to colour with the reported intrinsics and
extrinsics therefore gives back the scene's depth up to resampling at depth edges.

Scenes change every ``scene_seconds`` of stream time; in between the view pans slowly (a few
pixels per second), identically for colour and depth. Colour frames come at ``color_fps`` with
timestamps ``i * 1000 / color_fps`` ms, depth frames at ``depth_fps`` with ``j * 1000 / depth_fps +
depth_offset_ms``; a :class:`~mutualsense.sources.NearestPairer` pairs each colour frame once with
the nearest depth frame, as the RealSense sources do. With equal rates and ``|depth_offset_ms|`` under
half a frame period, every frameset's ``skew_ms`` is exactly ``-depth_offset_ms``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any

import cv2
import numpy as np

from mutualsense.errors import DataError, SourceError
from mutualsense.evaluation.synthetic import SceneGenerator
from mutualsense.sources.base import Source, SourceEnded
from mutualsense.sources.frameset import Extrinsics, FrameSet, Intrinsics, StreamFrame
from mutualsense.sources.pairing import NearestPairer, Pair

__all__ = ["SyntheticSource"]

COLOR_FOCAL_PER_WIDTH = 615.0 / 640.0
DEPTH_TO_COLOR_M = (0.015, 0.0, 0.0)
_DEPTH_SCALE = 0.001  # the scene generator's millimetres
_PAN_PER_SECOND = 0.05  # largest pan speed, in colour image widths per second
_KEEP_MASKS = 32
_KEEP_SCENES = 3


def _check_size(name: str, value: Any, minimum: int) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value)
        ok = (w, h) == tuple(value) and w >= minimum and h >= minimum
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SourceError(
            f"synthetic {name} size must be (width, height) with both at least {minimum}, got {value!r}.",
            f"pass {name}=(640, 480) or similar.",
        )
    return w, h


def _check_rate(name: str, value: object) -> float:
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = math.nan
    if not (math.isfinite(rate) and 0 < rate <= 1000):
        raise SourceError(f"synthetic {name} must be a frame rate in (0, 1000], got {value!r}.", f"pass {name}=30.")
    return rate


class SyntheticSource(Source):
    """Generated RGB-D framesets with consistent calibration and a controllable clock.

    Args:
        fps: frame rate of both streams unless ``color_fps`` / ``depth_fps`` say otherwise.
        seed: same seed, same stream.
        color: colour image (width, height); at least 32 each.
        depth: depth image (width, height); at least 16 each.
        depth_offset_ms: added to every depth timestamp (positive: depth frames are later).
        color_fps, depth_fps: per-stream rates.
        real_time: deliver framesets at the stream's pace (sleeping); default as fast as possible.
        frames: end (``SourceEnded``) after this many framesets; None = endless.
        scene_seconds: stream time between scene changes.
        camouflage_ratio: share of scenes whose salient object wears the background's texture.
        sensor_noise: scale of the colour sensor noise (1.0 = a typical camera).
        name: the source's name (default ``synthetic``).

    Raises:
        SourceError: on an invalid argument.
    """

    emits_raw_frames = True

    def __init__(
        self,
        fps: float = 30.0,
        seed: int = 0,
        color: tuple[int, int] = (640, 480),
        depth: tuple[int, int] = (424, 240),
        depth_offset_ms: float = 0.0,
        color_fps: float | None = None,
        depth_fps: float | None = None,
        real_time: bool = False,
        frames: int | None = None,
        scene_seconds: float = 1.0,
        camouflage_ratio: float = 0.3,
        sensor_noise: float = 1.0,
        name: str = "synthetic",
    ) -> None:
        super().__init__(name)
        fps = _check_rate("fps", fps)
        self.color_fps = _check_rate("color_fps", fps if color_fps is None else color_fps)
        self.depth_fps = _check_rate("depth_fps", fps if depth_fps is None else depth_fps)
        self.color_size = _check_size("color", color, 32)
        self.depth_size = _check_size("depth", depth, 16)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SourceError(f"synthetic seed must be a non-negative integer, got {seed!r}.", "pass seed=0.")
        self.seed = int(seed)
        offset = float(depth_offset_ms)
        if not math.isfinite(offset):
            raise SourceError(f"depth_offset_ms must be finite, got {depth_offset_ms!r}.", "pass a value in ms.")
        self.depth_offset_ms = offset
        if frames is not None and (isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1):
            raise SourceError(f"frames must be a positive integer or None, got {frames!r}.", "pass frames=300.")
        self.frames = None if frames is None else int(frames)
        if not (isinstance(scene_seconds, (int, float)) and scene_seconds > 0):
            raise SourceError(f"scene_seconds must be positive, got {scene_seconds!r}.", "pass scene_seconds=1.0.")
        self.scene_ms = 1000.0 * float(scene_seconds)
        self.real_time = bool(real_time)
        self.camouflage_ratio = camouflage_ratio
        self.sensor_noise = sensor_noise
        try:
            SceneGenerator(self.color_size[1], self.color_size[0], 0, self.camouflage_ratio, sensor_noise=sensor_noise)
        except DataError as exc:
            raise SourceError(f"synthetic source: {exc.what}", exc.remedy) from exc

        wc, hc = self.color_size
        wd, hd = self.depth_size
        fc = COLOR_FOCAL_PER_WIDTH * wc
        fd = fc / max(wc / wd, hc / hd)
        self.color_intrinsics = Intrinsics(wc, hc, fc, fc, (wc - 1) / 2.0, (hc - 1) / 2.0)
        self.depth_intrinsics = Intrinsics(wd, hd, fd, fd, (wd - 1) / 2.0, (hd - 1) / 2.0)
        self.depth_to_color = Extrinsics(translation=DEPTH_TO_COLOR_M)
        self.depth_scale = _DEPTH_SCALE
        # Where each depth pixel's ray lands in the colour image, for a point at infinity.
        xn = (np.arange(wd, dtype=np.float64) - self.depth_intrinsics.ppx) / fd
        yn = (np.arange(hd, dtype=np.float64) - self.depth_intrinsics.ppy) / fd
        self._u_inf = np.broadcast_to((fc * xn + self.color_intrinsics.ppx)[None, :], (hd, wd)).astype(np.float32)
        self._v = np.broadcast_to((fc * yn + self.color_intrinsics.ppy)[:, None], (hd, wd)).astype(np.float32)
        # u_c = u_inf + fc * t_x / Z: with Z in mm, the shift in pixels is this over Z.
        self._shift_mm = np.float32(fc * DEPTH_TO_COLOR_M[0] * 1000.0)
        self._reset()

    @property
    def stream_fps(self) -> tuple[float, float]:
        """(colour, depth) frame rates."""
        return self.color_fps, self.depth_fps

    def ground_truth(self, frameset: FrameSet) -> np.ndarray | None:
        """The salient-object mask (H, W uint8, 255 = salient) of a recent frameset's colour image."""
        return self._masks.get(frameset.color_frame_number)

    # ----------------------------------------------------------------------------- source
    def _reset(self) -> None:
        self._ci = 0
        self._dj = 0
        self._delivered = 0
        self._pairer: NearestPairer[StreamFrame, StreamFrame] = NearestPairer(depth_period_ms=1000.0 / self.depth_fps)
        self._scenes: OrderedDict[int, tuple[np.ndarray, np.ndarray, np.ndarray, float, float]] = OrderedDict()
        self._masks: OrderedDict[int, np.ndarray] = OrderedDict()
        self._next: tuple[Pair[StreamFrame, StreamFrame], float] | None = None
        self._event_ts = 0.0
        self._origin_ts = min(0.0, self.depth_offset_ms)
        self._t0 = time.monotonic()

    def _start(self) -> None:
        self._reset()

    def _stop(self) -> None:
        self._next = None

    def _read(self, timeout_ms: int) -> FrameSet | None:
        if self.frames is not None and self._delivered >= self.frames:
            raise SourceEnded(self.name, f"source {self.name} ended after {self.frames} framesets.")
        if self._next is None:
            self._next = self._produce()
        pair, due_ts = self._next
        if self.real_time:
            wait = self._t0 + (due_ts - self._origin_ts) / 1000.0 - time.monotonic()
            if wait > timeout_ms / 1000.0:
                time.sleep(timeout_ms / 1000.0)
                return None
            if wait > 0:
                time.sleep(wait)
        self._next = None
        self._delivered += 1
        return FrameSet.from_frames(
            pair.color,
            pair.depth,
            depth_scale=self.depth_scale,
            depth_to_color=self.depth_to_color,
            clock_domain="synthetic",
            arrival_time=time.monotonic(),
            source=self.name,
        )

    def _produce(self) -> tuple[Pair[StreamFrame, StreamFrame], float]:
        """Generate frames in timestamp order until a pair is decided; also when it was decided."""
        while True:
            pair = self._pairer.pop()
            if pair is not None:
                return pair, self._event_ts
            tc = self._ci * 1000.0 / self.color_fps
            td = self._dj * 1000.0 / self.depth_fps + self.depth_offset_ms
            if td <= tc:
                frame = StreamFrame("depth", self._render_depth(td), td, self._dj, self.depth_intrinsics)
                self._dj += 1
                self.counters.depth_frames += 1
                self._emit(frame)
                self._pairer.push_depth(td, frame)
                self._event_ts = td
            else:
                rgb, mask = self._render_color(tc)
                frame = StreamFrame("color", rgb, tc, self._ci, self.color_intrinsics)
                self._masks[self._ci] = mask
                while len(self._masks) > _KEEP_MASKS:
                    self._masks.popitem(last=False)
                self._ci += 1
                self.counters.color_frames += 1
                self._emit(frame)
                self._pairer.push_color(tc, frame)
                self._event_ts = tc

    # ----------------------------------------------------------------------------- rendering
    def _scene(self, t_ms: float) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, float, float], float]:
        """The scene shown at stream time ``t_ms`` and the pan (dx, dy) in colour pixels then."""
        k = max(0, math.floor(t_ms / self.scene_ms))
        if k not in self._scenes:
            state = int(np.random.SeedSequence([self.seed, k]).generate_state(1)[0])
            wc, hc = self.color_size
            scene = SceneGenerator(hc, wc, state, self.camouflage_ratio, sensor_noise=self.sensor_noise).sample()
            rng = np.random.default_rng([self.seed, k, 1])
            speed = rng.uniform(0.0, _PAN_PER_SECOND) * wc
            angle = rng.uniform(0.0, 2.0 * math.pi)
            self._scenes[k] = (scene.rgb, scene.depth, scene.mask, speed * math.cos(angle), speed * math.sin(angle))
            while len(self._scenes) > _KEEP_SCENES:
                self._scenes.popitem(last=False)
        return self._scenes[k], (t_ms - k * self.scene_ms) / 1000.0

    @staticmethod
    def _pan(image: np.ndarray, dx: float, dy: float, interpolation: int) -> np.ndarray:
        if dx == 0.0 and dy == 0.0:
            return image.copy()
        m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
        h, w = image.shape[:2]
        return cv2.warpAffine(image, m, (w, h), flags=interpolation, borderMode=cv2.BORDER_REFLECT_101)

    def _render_color(self, t_ms: float) -> tuple[np.ndarray, np.ndarray]:
        (rgb, _, mask, vx, vy), dt = self._scene(t_ms)
        return self._pan(rgb, vx * dt, vy * dt, cv2.INTER_LINEAR), self._pan(mask, vx * dt, vy * dt, cv2.INTER_NEAREST)

    def _render_depth(self, t_ms: float) -> np.ndarray:
        (_, depth_c, _, vx, vy), dt = self._scene(t_ms)
        depth_c = self._pan(depth_c, vx * dt, vy * dt, cv2.INTER_NEAREST)
        # Fixed-point reprojection: start from a point at 2 m, then use the depth found there.
        shift = np.full(self._u_inf.shape, self._shift_mm / 2000.0, np.float32)
        z: np.ndarray = np.zeros(self._u_inf.shape, np.uint16)
        for _ in range(3):
            z = cv2.remap(
                depth_c, self._u_inf + shift, self._v, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
            )
            zf = z.astype(np.float32)
            np.divide(self._shift_mm, zf, out=shift, where=zf > 0)
        return z
