"""Recording any source to a real RealSense ``.db3`` (rosbag2) file that :class:`Recording` and
librealsense's own tools replay.

* A live :class:`RealSenseCamera` that is not started yet records natively
  (``config.enable_record_to_file``): every frame of both streams, as the camera sent it.
* Any other source (synthetic, a recording being transcoded from ``.bag``, a started camera, your
  own :class:`Source`) goes through an ``rs.software_device`` with a colour and a depth sensor
  carrying the source's intrinsics, depth units and depth-to-colour extrinsics, and an
  ``rs.recorder``. Sources that emit raw frames are recorded stream by stream at their own rates
  (all depth frames, not just the paired ones); others frameset by frameset.

The file is written under a temporary name next to ``out`` and renamed when complete, so a failure
or Ctrl-C leaves no half-written recording. pyrealsense2 2.58+ writes only ``.db3`` (docs/design.md §5).

The recorder stamps each message with the wall-clock time of its arrival, and real-time replay
follows those stamps: record a fast source with ``real_time=True`` if it must later replay at its
own pace (frame timestamps are kept exactly either way).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mutualsense.errors import SourceError
from mutualsense.sources._rs import import_rs, rs_rotation
from mutualsense.sources.base import Source, SourceEnded
from mutualsense.sources.frameset import FrameSet, Intrinsics, StreamFrame
from mutualsense.sources.realsense import RealSenseCamera

__all__ = ["RecordingInfo", "record"]

logger = logging.getLogger(__name__)

_STALL_S = 10.0  # no frameset for this long: the source is stuck
_KEEP_BUFFERS = 32  # pyrealsense2 2.57+ copies pixels on assignment; this guards older bindings
_DOMAINS = ("global_time", "hardware_clock", "system_time")


@dataclass(frozen=True)
class RecordingInfo:
    """What :func:`record` wrote.

    Attributes:
        path: the recording.
        framesets: framesets read from the source while recording.
        color_frames, depth_frames: frames written per stream.
        duration_s: stream time from the first to the last frame written.
        size_bytes: file size.
        color_size, depth_size: (width, height) of the streams.
        method: "camera" (the camera's own recorder) or "software_device".
    """

    path: Path
    framesets: int
    color_frames: int
    depth_frames: int
    duration_s: float
    size_bytes: int
    color_size: tuple[int, int]
    depth_size: tuple[int, int]
    method: str


def _rs_intrinsics(rs: ModuleType, intr: Intrinsics) -> Any:
    i = rs.intrinsics()
    i.width, i.height = intr.width, intr.height
    i.fx, i.fy, i.ppx, i.ppy = intr.fx, intr.fy, intr.ppx, intr.ppy
    i.model = getattr(rs.distortion, intr.model, rs.distortion.none)
    i.coeffs = list(intr.coeffs[:5]) + [0.0] * (5 - len(intr.coeffs[:5]))
    return i


class _SoftwareWriter:
    """An ``rs.software_device`` with colour + depth sensors, recorded by an ``rs.recorder``."""

    def __init__(self, rs: ModuleType, path: Path, first: FrameSet, fps: tuple[float, float], source: str) -> None:
        self.rs = rs
        self.domain = getattr(
            rs.timestamp_domain, first.clock_domain if first.clock_domain in _DOMAINS else "hardware_clock"
        )
        self.depth_scale = first.depth_scale
        self.device = rs.software_device()
        with contextlib.suppress(RuntimeError):  # the name shows in librealsense's tools
            self.device.register_info(rs.camera_info.name, f"MutualSense recording of {source}")
        self.sensors: dict[str, Any] = {}
        self.profiles: dict[str, Any] = {}
        streams = (
            ("color", "RGB Camera", rs.stream.color, rs.format.rgb8, 3, first.color_intrinsics, fps[0]),
            ("depth", "Stereo Module", rs.stream.depth, rs.format.z16, 2, first.depth_intrinsics, fps[1]),
        )
        for uid, (key, sensor_name, stream, fmt, bpp, intr, rate) in enumerate(streams):
            sensor = self.device.add_sensor(sensor_name)
            vs = rs.video_stream()
            vs.type, vs.index, vs.uid = stream, 0, uid
            vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = intr.width, intr.height, max(1, round(rate)), bpp, fmt
            vs.intrinsics = _rs_intrinsics(rs, intr)
            self.profiles[key] = sensor.add_video_stream(vs).as_video_stream_profile()
            self.sensors[key] = sensor
        self.sensors["depth"].add_read_only_option(rs.option.depth_units, float(first.depth_scale))
        ext = rs.extrinsics()
        ext.rotation = rs_rotation(first.depth_to_color)
        ext.translation = list(first.depth_to_color.translation)
        self.profiles["depth"].register_extrinsics_to(self.profiles["color"], ext)
        self.recorder = rs.recorder(str(path), self.device)
        for key, sensor in self.sensors.items():
            sensor.open(self.profiles[key])
            sensor.start(lambda frame: None)
        self._buffers: deque[np.ndarray] = deque(maxlen=_KEEP_BUFFERS)
        self.counts = {"color": 0, "depth": 0}
        self.first_ts: float | None = None
        self.last_ts = -math.inf

    def write(self, frame: StreamFrame) -> None:
        data = np.ascontiguousarray(frame.data)
        profile = self.profiles[frame.stream]
        if data.shape[:2] != (profile.height(), profile.width()):
            raise SourceError(
                f"the {frame.stream} stream changed size mid-recording "
                f"({profile.width()}x{profile.height()} -> {data.shape[1]}x{data.shape[0]}).",
                "record one stream configuration per file.",
            )
        self._buffers.append(data)
        f = self.rs.software_video_frame()
        f.pixels = data
        f.bpp = data.itemsize * (data.shape[2] if data.ndim == 3 else 1)
        f.stride = data.strides[0]
        f.timestamp = float(frame.timestamp_ms)
        f.domain = self.domain
        f.frame_number = int(frame.frame_number)
        f.profile = profile
        if frame.stream == "depth":
            f.depth_units = float(self.depth_scale)
        self.sensors[frame.stream].on_video_frame(f)
        self.counts[frame.stream] += 1
        self.first_ts = frame.timestamp_ms if self.first_ts is None else min(self.first_ts, frame.timestamp_ms)
        self.last_ts = max(self.last_ts, frame.timestamp_ms)

    def close(self) -> None:
        """Stop the sensors and release the recorder: the file is complete afterwards."""
        for sensor in self.sensors.values():
            for call in (sensor.stop, sensor.close):
                try:
                    call()
                except RuntimeError as exc:
                    logger.debug("closing software sensor: %s", exc)
        self.sensors.clear()
        self.profiles.clear()
        del self.recorder, self.device
        self._buffers.clear()
        gc.collect()


def _check_args(out: Path, seconds: float | None, frames: int | None) -> None:
    if out.suffix.lower() != ".db3":
        raise SourceError(
            f"cannot record to {out}: pyrealsense2 2.58+ writes only rosbag2 .db3 recordings.",
            f"name the output {out.with_suffix('.db3').name}.",
        )
    if not out.parent.is_dir():
        raise SourceError(f"cannot record to {out}: folder {out.parent} does not exist.", f"mkdir -p {out.parent}")
    if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0 and math.isfinite(seconds)):
        raise SourceError(f"seconds must be a positive number, got {seconds!r}.", "pass seconds=10.")
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
        raise SourceError(f"frames must be a positive integer, got {frames!r}.", "pass frames=300.")


def record(
    source: Source,
    out: str | os.PathLike[str],
    seconds: float | None = None,
    frames: int | None = None,
    *,
    real_time: bool = False,
) -> RecordingInfo:
    """Record ``source`` to ``out`` (a ``.db3`` file).

    Args:
        source: any source; started here (and stopped again) unless already started.
        out: the recording to write (replaced if it exists).
        seconds: stop after this much stream time (colour timestamps); None = no limit.
        frames: stop after this many framesets; None = no limit. With neither limit, record
            until the source ends.
        real_time: inject frames at the pace of their timestamps (only matters for sources faster
            than real time; see the module docstring).

    Raises:
        SourceError: bad arguments, the source fails or stalls, or the file cannot be written.
    """
    out = Path(out).expanduser()
    _check_args(out, seconds, frames)
    rs = import_rs()
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.partial.db3")
    tmp.unlink(missing_ok=True)
    try:
        if isinstance(source, RealSenseCamera) and not source.started:
            info = _record_camera(source, tmp, out, seconds, frames)
        else:
            info = _record_software(rs, source, tmp, out, seconds, frames, real_time)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise SourceError(f"recording {out} was not written (no frames arrived).", "check the source.")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("recorded %s: %d colour + %d depth frames", out, info.color_frames, info.depth_frames)
    return info


def _done(fs: FrameSet, first_ts: float, count: int, seconds: float | None, frames: int | None) -> bool:
    """Whether ``fs`` is beyond the limits (it is not recorded then)."""
    return (frames is not None and count >= frames) or (
        seconds is not None and fs.color_timestamp_ms - first_ts >= seconds * 1000.0
    )


def _read(source: Source, last_ok: list[float]) -> FrameSet | None:
    fs = source.read(timeout_ms=500)
    now = time.monotonic()
    if fs is not None:
        last_ok[0] = now
    elif now - last_ok[0] > _STALL_S:
        raise SourceError(f"source {source.name} delivered nothing for {_STALL_S:.0f} s while recording.", "check it.")
    return fs


def _record_camera(
    camera: RealSenseCamera, tmp: Path, out: Path, seconds: float | None, frames: int | None
) -> RecordingInfo:
    before = camera.counters.as_dict()
    camera._record_to_file(tmp)
    count, first_ts, last_ts = 0, math.nan, math.nan
    last_ok = [time.monotonic()]
    try:
        camera.start()
        while True:
            try:
                fs = _read(camera, last_ok)
            except SourceEnded:
                break
            if fs is None:
                continue
            first_ts = fs.color_timestamp_ms if count == 0 else first_ts
            if _done(fs, first_ts, count, seconds, frames):
                break
            count, last_ts = count + 1, fs.color_timestamp_ms
    finally:
        camera.stop()
        camera._record_to_file(None)
        gc.collect()  # the pipeline's recorder closes the file when released
    after = camera.counters.as_dict()
    assert camera.color_intrinsics is not None and camera.depth_intrinsics is not None
    return RecordingInfo(
        path=out,
        framesets=count,
        color_frames=after["color_frames"] - before["color_frames"],
        depth_frames=after["depth_frames"] - before["depth_frames"],
        duration_s=0.0 if count < 2 else (last_ts - first_ts) / 1000.0,
        size_bytes=tmp.stat().st_size if tmp.exists() else 0,
        color_size=camera.color_intrinsics.size,
        depth_size=camera.depth_intrinsics.size,
        method="camera",
    )


def _record_software(
    rs: ModuleType,
    source: Source,
    tmp: Path,
    out: Path,
    seconds: float | None,
    frames: int | None,
    real_time: bool,
) -> RecordingInfo:
    raw: list[StreamFrame] = []
    use_raw = source.emits_raw_frames
    listener = raw.append
    writer: _SoftwareWriter | None = None
    started_here = not source.started
    count, first_ts, last_depth = 0, math.nan, None
    pace: tuple[float, float] | None = None  # (monotonic, stream ms) at the first frame
    last_ok = [time.monotonic()]
    first: FrameSet | None = None
    if use_raw:
        source.add_frame_listener(listener)

    def inject(todo: list[StreamFrame]) -> None:
        nonlocal pace
        assert writer is not None
        for frame in todo:
            if real_time:
                pace = pace or (time.monotonic(), frame.timestamp_ms)
                wait = pace[0] + (frame.timestamp_ms - pace[1]) / 1000.0 - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            writer.write(frame)

    try:
        source.start()
        while True:
            try:
                fs = _read(source, last_ok)
            except SourceEnded:
                if writer is not None and raw:  # the end of the stream: its last frames too
                    inject(list(raw))
                break
            if fs is None:
                continue
            if first is None:
                first, first_ts = fs, fs.color_timestamp_ms
            if _done(fs, first_ts, count, seconds, frames):
                break
            if writer is None:
                writer = _SoftwareWriter(rs, tmp, fs, source.stream_fps or _estimate_fps(fs), source.name)
            if use_raw:  # every raw frame up to this frameset, in arrival order
                cutoff = max(fs.color_timestamp_ms, fs.depth_timestamp_ms)
                inject([f for f in raw if f.timestamp_ms <= cutoff])
                raw[:] = [f for f in raw if f.timestamp_ms > cutoff]
            else:
                if last_depth != (fs.depth_frame_number, fs.depth_timestamp_ms):
                    last_depth = (fs.depth_frame_number, fs.depth_timestamp_ms)
                    inject(
                        [
                            StreamFrame(
                                "depth", fs.depth, fs.depth_timestamp_ms, fs.depth_frame_number, fs.depth_intrinsics
                            )
                        ]
                    )
                inject(
                    [StreamFrame("color", fs.color, fs.color_timestamp_ms, fs.color_frame_number, fs.color_intrinsics)]
                )
            count += 1
    finally:
        if use_raw:
            source.remove_frame_listener(listener)
        if started_here:
            source.stop()
        if writer is not None:
            writer.close()
    if writer is None or first is None:
        raise SourceError(
            f"source {source.name} delivered no frameset; nothing recorded to {out}.", "check the source."
        )
    return RecordingInfo(
        path=out,
        framesets=count,
        color_frames=writer.counts["color"],
        depth_frames=writer.counts["depth"],
        duration_s=(writer.last_ts - (writer.first_ts or 0.0)) / 1000.0,
        size_bytes=tmp.stat().st_size if tmp.exists() else 0,
        color_size=first.color_intrinsics.size,
        depth_size=first.depth_intrinsics.size,
        method="software_device",
    )


def _estimate_fps(fs: FrameSet) -> tuple[float, float]:
    logger.warning("source %s does not report its frame rates; recording them as 30 fps", fs.source)
    return 30.0, 30.0
