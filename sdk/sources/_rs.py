"""What the RealSense camera and recording sources share: the lazy pyrealsense2 import, calibration
conversion, and turning single frames into paired framesets.

librealsense's syncer repeats frames (each 15 fps colour frame comes out twice next to 30 fps depth,
docs/design.md §5) and may pair a colour frame with a depth frame that is not the nearest. So each frame of
each stream is taken once (repeats recognised by frame number and timestamp), copied out of the
librealsense frame pool, handed to the frame listeners, and paired by
:class:`~mutualsense.sources.NearestPairer`.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from mutualsense.errors import MissingDependencyError, SourceError
from mutualsense.sources.base import Source, SourceEnded
from mutualsense.sources.frameset import Extrinsics, FrameSet, Intrinsics, StreamFrame
from mutualsense.sources.pairing import NearestPairer, Pair

__all__ = ["RsSource", "describe_profile", "enum_name", "extrinsics_of", "import_rs", "intrinsics_of"]

logger = logging.getLogger(__name__)

_POLL_MS = 50
# Colour formats we turn into RGB, and how (None: already RGB).
COLOR_CONVERSIONS: dict[str, int | None] = {
    "rgb8": None,
    "bgr8": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "yuyv": cv2.COLOR_YUV2RGB_YUYV,
    "uyvy": cv2.COLOR_YUV2RGB_UYVY,
}


def import_rs() -> ModuleType:
    """pyrealsense2, or a :class:`MissingDependencyError` saying how to install it."""
    try:
        import pyrealsense2 as rs
    except ImportError as exc:
        if "libusb" in str(exc):
            raise SourceError(
                f"pyrealsense2 is installed but cannot load libusb ({exc}).",
                "install it: `sudo apt-get install libusb-1.0-0`.",
            ) from exc
        raise MissingDependencyError("pyrealsense2", "realsense", "for RealSense cameras and recordings") from exc
    return rs


def enum_name(value: object) -> str:
    """``format.rgb8`` -> ``rgb8``; ``timestamp_domain.global_time`` -> ``global_time``."""
    return str(value).rsplit(".", 1)[-1]


def intrinsics_of(profile: Any) -> Intrinsics:
    """Our :class:`Intrinsics` from a pyrealsense2 video stream profile."""
    i = profile.as_video_stream_profile().get_intrinsics()
    return Intrinsics(i.width, i.height, i.fx, i.fy, i.ppx, i.ppy, enum_name(i.model), tuple(i.coeffs))


def extrinsics_of(depth_profile: Any, color_profile: Any) -> Extrinsics:
    """Depth-to-colour extrinsics of two stream profiles (identity, with a warning, when unknown)."""
    try:
        e = depth_profile.get_extrinsics_to(color_profile)
    except RuntimeError as exc:
        logger.warning("no depth-to-colour extrinsics (%s): assuming identity", exc)
        return Extrinsics.identity()
    # librealsense stores the rotation column-major; Extrinsics holds it row-major.
    return Extrinsics(tuple(np.asarray(e.rotation, dtype=np.float64).reshape(3, 3).T.reshape(-1)), tuple(e.translation))


def rs_rotation(extrinsics: Extrinsics) -> list[float]:
    """``Extrinsics.rotation`` (row-major) as librealsense's column-major list."""
    return [float(v) for v in np.asarray(extrinsics.rotation, dtype=np.float64).reshape(3, 3).T.reshape(-1)]


def describe_profile(profile: Any) -> str:
    """``color 640x480 rgb8 @30``."""
    kind, fmt = enum_name(profile.stream_type()), enum_name(profile.format())
    if not profile.is_video_stream_profile():
        return f"{kind} {fmt} @{profile.fps()}"
    v = profile.as_video_stream_profile()
    return f"{kind} {v.width()}x{v.height()} {fmt} @{profile.fps()}"


class RsSource(Source):
    """Base of the pyrealsense2 sources: each new frame goes through :meth:`_ingest` into the pairer.

    Subclasses open the device, call :meth:`_begin` with the chosen stream profiles, and implement
    :meth:`_poll` (ingest what arrives within a timeout) and, for finite streams,
    :meth:`_end_of_stream`.
    """

    emits_raw_frames = True

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._fps: tuple[float, float] | None = None
        self.color_intrinsics: Intrinsics | None = None
        self.depth_intrinsics: Intrinsics | None = None
        self.depth_to_color: Extrinsics | None = None
        self.depth_scale: float | None = None

    @property
    def stream_fps(self) -> tuple[float, float] | None:
        """(colour, depth) frame rates of the streams, once started."""
        return self._fps

    def _begin(
        self, color: Any, depth: Any, depth_scale: float | None, clock_domain: str | None, max_pending: int
    ) -> None:
        """Take calibration from the chosen stream profiles and reset the reading state."""
        self._color_conversion = COLOR_CONVERSIONS[enum_name(color.format())]
        self.color_intrinsics = intrinsics_of(color)
        self.depth_intrinsics = intrinsics_of(depth)
        self.depth_to_color = extrinsics_of(depth, color)
        if depth_scale is None or not depth_scale > 0:
            logger.warning("%s: no depth scale; assuming 1 mm per unit", self.name)
            depth_scale = 0.001
        self.depth_scale = float(depth_scale)
        self._fps = (float(color.fps()), float(depth.fps()))
        self._pairer: NearestPairer[StreamFrame, StreamFrame] = NearestPairer(
            depth_period_ms=1000.0 / depth.fps(), max_pending=max_pending
        )
        self._last: dict[str, tuple[int, float]] = {}
        self._pair_ts: dict[str, float] = {}
        self._clock_domain = clock_domain  # None: from each colour frame
        self._frame_domain = "hardware_clock"
        self._finished = False

    def _restart_streams(self) -> None:
        """The streams start over (a looping recording): pair what is left, then forget the past."""
        self._pairer.restart()
        self._last.clear()
        self._pair_ts.clear()

    def _end_of_stream(self) -> bool:
        """Whether the stream is over once :meth:`_poll` finds nothing (recordings only)."""
        return False

    @abstractmethod
    def _poll(self, timeout_ms: int) -> bool:
        """Ingest what arrives within ``timeout_ms``; False when nothing did."""

    def _convert(self, stream: str, frame: Any) -> tuple[str, np.ndarray, float, int, str]:
        """Copy a pyrealsense2 frame out of the frame pool: (stream, data, timestamp, number, domain)."""
        data = np.asanyarray(frame.get_data())
        if stream == "color" and self._color_conversion is not None:
            data = cv2.cvtColor(data, self._color_conversion)
        else:
            data = data.copy()
        domain = enum_name(frame.get_frame_timestamp_domain())
        return stream, data, float(frame.get_timestamp()), int(frame.get_frame_number()), domain

    # ----------------------------------------------------------------------------- reading
    def _read(self, timeout_ms: int) -> FrameSet | None:
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            pair = self._pairer.pop()
            if pair is not None:
                return self._frameset(pair)
            if self._finished:
                self.counters.unpaired_color = self._pairer.dropped
                raise SourceEnded(self.name, f"source {self.name} ended (end of recording).")
            remaining_ms = int((deadline - time.monotonic()) * 1000.0)
            if self._poll(max(1, min(_POLL_MS, remaining_ms))):
                continue
            if self._end_of_stream():
                self._pairer.finish()
                self._finished = True
            elif remaining_ms <= _POLL_MS:
                return None

    def _frameset(self, pair: Pair[StreamFrame, StreamFrame]) -> FrameSet:
        self.counters.unpaired_color = self._pairer.dropped
        assert self.depth_scale is not None and self.depth_to_color is not None
        return FrameSet.from_frames(
            pair.color,
            pair.depth,
            depth_scale=self.depth_scale,
            depth_to_color=self.depth_to_color,
            clock_domain=self._clock_domain or self._frame_domain,
            arrival_time=time.monotonic(),
            source=self.name,
        )

    def _ingest(self, stream: str, data: np.ndarray, ts: float, number: int, domain: str) -> None:
        """Count, hand to the listeners and pair one frame (repeats of the last frame are ignored)."""
        if not self._is_new(stream, number, ts):
            return
        if stream == "color":
            intrinsics = self.color_intrinsics
            self.counters.color_frames += 1
            self._frame_domain = domain
        else:
            intrinsics = self.depth_intrinsics
            self.counters.depth_frames += 1
        assert intrinsics is not None
        item = StreamFrame(stream, data, ts, number, intrinsics)
        self._emit(item)
        # The pairer needs each stream's timestamps in order; a live clock may step back a little.
        key_ts = max(ts, self._pair_ts.get(stream, ts))
        self._pair_ts[stream] = key_ts
        if stream == "color":
            self._pairer.push_color(key_ts, item)
        else:
            self._pairer.push_depth(key_ts, item)

    def _is_new(self, stream: str, number: int, ts: float) -> bool:
        """False for a repeat of the stream's last frame; counts frame-number gaps; notices restarts."""
        last = self._last.get(stream)
        self._last[stream] = (number, ts)
        if last is None:
            return True
        if (number, ts) == last:
            return False
        if number < last[0] or ts < last[1] - 1000.0:  # the device or file started over
            logger.info("%s: %s stream restarted (frame %d after %d)", self.name, stream, number, last[0])
            self._restart_streams()
            self._last[stream] = (number, ts)
            return True
        if number > last[0] + 1:
            self.counters.frame_gaps += number - last[0] - 1
        return True
