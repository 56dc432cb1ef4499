"""Replaying RealSense recordings: rosbag2 ``.db3`` (librealsense 2.58+) and ROS1 ``.bag`` (older).

The file is opened as a playback device (``context.load_device``) and its colour and depth sensors
are started with callbacks, without a pipeline: the pipeline's syncer repeats colour frames when
the streams' rates differ and may drop a frame at either end (design §5), while the sensors deliver
every recorded frame exactly once. Two details make that hold from the first frame to the last:

* the playback reads the file as soon as the first sensor starts and drops the frames of sensors
  not started yet, so the device is paused while the sensors start and resumed afterwards;
* the callbacks copy each frame into a small bounded queue and wait while it is full; the
  playback (not in real-time mode) waits for them, so a slow reader loses nothing. (Not while the
  device is being resumed: ``resume()`` waits for the playback thread, so a callback waiting for
  the reader then would stall it for librealsense's 10 s flush timeout.)

Replay is as fast as possible unless ``real_time``.

The end of the file is the playback's status changing to ``stopped`` after it played; librealsense
reports that only once every frame's callback has returned, so the queue then holds the rest.
"""

from __future__ import annotations

import difflib
import logging
import os
import threading
from collections import deque
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mutualsense.errors import SourceError
from mutualsense.sources._rs import COLOR_CONVERSIONS, RsSource, describe_profile, enum_name, import_rs
from mutualsense.sources.spec import RECORDING_SUFFIXES

__all__ = ["Recording"]

logger = logging.getLogger(__name__)

_QUEUE_FRAMES = 8  # frames copied ahead of the reader
_PUT_WAIT_S = 0.05  # a blocked callback checks this often whether the source is stopping


def _reason(exc: Exception) -> str:
    return str(exc).split("Reason: ", 1)[-1].strip().rstrip(".")


def _depth_scale(rs: ModuleType, sensor: Any) -> float | None:
    """Metres per depth unit recorded for the depth sensor, if any."""
    try:
        if sensor.is_depth_sensor():
            return float(sensor.as_depth_sensor().get_depth_scale())
        if sensor.supports(rs.option.depth_units):
            return float(sensor.get_option(rs.option.depth_units))
    except RuntimeError as exc:
        logger.debug("depth scale: %s", exc)
    return None


class Recording(RsSource):
    """A RealSense recording (``.db3`` or ``.bag``) with colour and depth streams.

    Args:
        path: the recording.
        real_time: replay at the recorded pace; default as fast as possible.
        loop: start over at the end instead of ending.
        name: the source's name (default: the file name).

    Timestamps are the recorded ones (``clock_domain == "recording"``): there is no live sensor
    clock, so latency is measured from delivery.
    """

    def __init__(
        self, path: str | os.PathLike[str], real_time: bool = False, loop: bool = False, name: str | None = None
    ) -> None:
        self.path = Path(path).expanduser()
        super().__init__(name or self.path.name)
        self.real_time = bool(real_time)
        self.loop = bool(loop)
        self._rs: Any = None
        self._ctx: Any = None
        self._playback: Any = None
        self._sensors: list[Any] = []
        self._frames: deque[tuple[str, np.ndarray, float, int, str]] = deque()
        self._cond = threading.Condition()
        self._backpressure = False  # off while librealsense calls of ours may wait for the callbacks
        self._stopping = threading.Event()
        self._ended = threading.Event()
        self._played = threading.Event()
        self._duration_s: float | None = None
        self._generation = 0  # callbacks of an earlier opening (before a loop) are ignored

    @property
    def duration_s(self) -> float | None:
        """Length of the recording in seconds (known once started)."""
        return self._duration_s

    # ----------------------------------------------------------------------------- opening
    def _check_file(self) -> None:
        path = self.path
        if path.is_dir():
            inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in RECORDING_SUFFIXES)
            hint = f"pass {path / inside[0]}" if inside else "pass the recording file inside it"
            raise SourceError(f"recording {path} is a folder, not a file.", f"{hint}.")
        if path.suffix.lower() not in RECORDING_SUFFIXES:
            raise SourceError(
                f"{path} is not a RealSense recording "
                f"(expected a .db3 or .bag file, got {path.suffix or 'no suffix'!r}).",
                "pass the recording's .db3/.bag path; record one with `mutualsense record` (writes .db3).",
            )
        if not path.exists():
            near = []
            if path.parent.is_dir():
                names = [p.name for p in path.parent.iterdir() if p.suffix.lower() in RECORDING_SUFFIXES]
                near = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
            hint = f"did you mean {path.parent / near[0]}? " if near else ""
            raise SourceError(
                f"recording {path} not found.",
                f"{hint}check the path (relative paths start in the working directory).",
            )
        if path.stat().st_size == 0:
            raise SourceError(
                f"recording {path} is empty (0 bytes).", "record it again; an interrupted recording is lost."
            )

    def _open_error(self, exc: Exception) -> SourceError:
        if self.path.suffix.lower() == ".bag":
            remedy = (
                "it is not a ROS1 bag written by librealsense, or it is truncated; "
                "record a new one (`mutualsense record` writes .db3)."
            )
        else:
            remedy = (
                "it is truncated, corrupt or not a librealsense rosbag2 recording (a recording that was "
                "interrupted before it was closed is unreadable); record it again."
            )
        return SourceError(f"cannot open recording {self.path}: {_reason(exc)}.", remedy)

    def _start(self) -> None:
        self._check_file()
        self._rs = import_rs()
        self._ctx = self._rs.context()
        self._open(first=True)

    def _open(self, first: bool) -> None:
        """Load the file as a playback device and start its colour and depth sensors."""
        rs = self._rs
        try:
            device = self._ctx.load_device(str(self.path))
        except RuntimeError as exc:
            raise self._open_error(exc) from exc
        try:
            playback = device.as_playback()
            self._duration_s = playback.get_duration().total_seconds()
            chosen = self._choose_streams(rs, device, log=first)
            playback.set_real_time(self.real_time)  # before the sensors start: no frame lost
            self._ended.clear()
            self._played.clear()
            self._stopping.clear()
            self._generation += 1
            generation = self._generation
            playback.set_status_changed_callback(lambda status: self._on_status(generation, status))
            self._playback = playback
            labels = {profile.unique_id(): stream for stream, (_, profile) in chosen.items()}
            by_sensor: dict[int, tuple[Any, list[Any]]] = {}
            for sensor, profile in chosen.values():
                by_sensor.setdefault(id(sensor), (sensor, []))[1].append(profile)
            for sensor, profiles in by_sensor.values():
                sensor.open(profiles)
                self._sensors.append(sensor)
            if first:
                scale = _depth_scale(rs, chosen["depth"][0])
                self._begin(chosen["color"][1], chosen["depth"][1], scale, clock_domain="recording", max_pending=64)
            # Start paused: the file is read as soon as one sensor starts, and frames of a sensor not
            # started yet are dropped (that is what loses the first frames of a replay).
            # No back-pressure until then: resume() waits for the playback thread, which waits for
            # our callbacks, which would wait for a reader that is still in here (a 10 s stall).
            playback.pause()
            self._backpressure = False
            for sensor in self._sensors:
                sensor.start(lambda frame: self._on_frame(generation, labels, frame))
            playback.resume()
            with self._cond:
                self._backpressure = True
        except BaseException:
            self._close()
            raise

    def _choose_streams(self, rs: ModuleType, device: Any, log: bool) -> dict[str, tuple[Any, Any]]:
        found: dict[str, tuple[Any, Any]] = {}
        held = []
        for sensor in device.query_sensors():
            for profile in sensor.get_stream_profiles():
                held.append(describe_profile(profile))
                for stream, kind in (("color", rs.stream.color), ("depth", rs.stream.depth)):
                    if profile.stream_type() == kind and stream not in found and profile.is_video_stream_profile():
                        found[stream] = (sensor, profile)
        for stream, label in (("color", "colour"), ("depth", "depth")):
            if stream not in found:
                raise SourceError(
                    f"recording {self.path} has no {label} stream (it holds: {', '.join(held) or 'nothing'}).",
                    "record colour and depth together (`mutualsense record` does).",
                )
        color_format = enum_name(found["color"][1].format())
        if color_format not in COLOR_CONVERSIONS:
            raise SourceError(
                f"recording {self.path} has colour in {color_format}, which is not supported "
                f"(supported: {', '.join(COLOR_CONVERSIONS)}).",
                "record colour as rgb8.",
            )
        if enum_name(found["depth"][1].format()) != "z16":
            raise SourceError(
                f"recording {self.path} has depth in {enum_name(found['depth'][1].format())}, not z16.",
                "record depth as z16.",
            )
        if log:
            logger.info(
                "%s: replaying %s (%s)",
                self.name,
                ", ".join(describe_profile(p) for _, p in found.values()),
                "real time" if self.real_time else "as fast as possible",
            )
        return found

    def _close(self) -> None:
        """Stop and close the sensors (unblocking their callbacks) and unload the file."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for sensor in self._sensors:
            for call in (sensor.stop, sensor.close):
                try:
                    call()
                except RuntimeError as exc:
                    logger.debug("%s: %s: %s", self.name, call.__name__, exc)
        self._sensors.clear()
        self._playback = None
        if self._ctx is not None:
            try:
                self._ctx.unload_device(str(self.path))
            except RuntimeError as exc:
                logger.debug("%s: unload_device: %s", self.name, exc)
        with self._cond:
            self._frames.clear()

    def _stop(self) -> None:
        self._close()
        self._ctx = None

    # ----------------------------------------------------------------------------- callbacks
    def _on_status(self, generation: int, status: Any) -> None:
        if generation != self._generation:
            return
        name = enum_name(status)
        if name == "playing":
            self._played.set()
        elif name == "stopped" and self._played.is_set():
            self._ended.set()

    def _on_frame(self, generation: int, labels: dict[int, str], frame: Any) -> None:
        """Runs on librealsense's threads: copy the frame out and queue it (waiting while full)."""
        if self._stopping.is_set() or generation != self._generation:
            return
        stream = labels.get(frame.get_profile().unique_id())
        if stream is None:
            return
        item = self._convert(stream, frame)
        with self._cond:
            while self._backpressure and len(self._frames) >= _QUEUE_FRAMES and not self._stopping.is_set():
                self._cond.wait(_PUT_WAIT_S)
            self._frames.append(item)
            self._cond.notify_all()

    # ----------------------------------------------------------------------------- reading
    def _poll(self, timeout_ms: int) -> bool:
        with self._cond:
            if not self._frames:
                self._cond.wait(timeout_ms / 1000.0)
            item = self._frames.popleft() if self._frames else None
            self._cond.notify_all()
        if item is not None:
            self._ingest(*item)
            return True
        if self.loop and self._ended.is_set() and not self._frames:
            logger.debug("%s: looping", self.name)
            self._close()
            self._restart_streams()
            self._open(first=False)
            return True
        return False

    def _end_of_stream(self) -> bool:
        return not self.loop and self._ended.is_set() and not self._frames
