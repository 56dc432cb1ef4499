"""Live Intel RealSense cameras through pyrealsense2 (imported only when a camera is used).

``pipeline.start()`` blocks about 15 s when no camera matches the request (docs/design.md §5), so
:meth:`RealSenseCamera.start` first asks the context for devices and ``config.can_resolve`` for the
streams, and fails within a fraction of a second with a message saying which camera or mode is
missing and what is available.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mutualsense.errors import SourceError
from mutualsense.sources._rs import RsSource, import_rs

__all__ = ["DEPTH_PRESETS", "CameraInfo", "RealSenseCamera", "list_cameras"]

logger = logging.getLogger(__name__)

#: Depth presets (``rs.rs400_visual_preset`` names) accepted by ``preset=``.
DEPTH_PRESETS = (
    "default",
    "high_accuracy",
    "high_density",
    "medium_density",
    "hand",
    "custom",
    "remove_ir_pattern",
)
_NO_CAMERA_REMEDY = (
    "connect the camera to a USB 3 port with a data cable (`lsusb` should list an 8086: Intel device); "
    "on Linux install librealsense's udev rules (99-realsense-libusb.rules) and close other programs using "
    "it (realsense-viewer, ROS nodes); or use --source synthetic or a recording."
)


@dataclass(frozen=True)
class CameraInfo:
    """A connected RealSense device.

    Attributes:
        name: e.g. "Intel RealSense D435".
        serial: serial number (what ``camera:SERIAL`` takes).
        firmware: firmware version.
        usb_type: USB type descriptor, e.g. "3.2" ("" when unknown); 2.x limits resolutions and rates.
        product_line: e.g. "D400".
    """

    name: str
    serial: str
    firmware: str
    usb_type: str
    product_line: str

    @property
    def usb3(self) -> bool:
        """True unless the camera reports a USB 2 connection."""
        return not self.usb_type.startswith("2")

    def __str__(self) -> str:
        usb = f", USB {self.usb_type}" if self.usb_type else ""
        return f"{self.name} (serial {self.serial}, firmware {self.firmware}{usb})"


def _info(rs: ModuleType, device: Any) -> CameraInfo:
    def get(key: Any) -> str:
        try:
            return str(device.get_info(key)) if device.supports(key) else ""
        except RuntimeError:
            return ""

    ci = rs.camera_info
    return CameraInfo(
        name=get(ci.name),
        serial=get(ci.serial_number),
        firmware=get(ci.firmware_version),
        usb_type=get(ci.usb_type_descriptor),
        product_line=get(ci.product_line),
    )


def list_cameras() -> list[CameraInfo]:
    """The connected RealSense cameras ([] when none; needs pyrealsense2)."""
    rs = import_rs()
    return [_info(rs, d) for d in rs.context().query_devices()]


def _mode(value: Any, name: str) -> tuple[int, int, int]:
    try:
        w, h, fps = (int(v) for v in value)
        ok = (w, h, fps) == tuple(value) and min(w, h, fps) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SourceError(
            f"camera {name} mode must be (width, height, fps) positive integers, got {value!r}.",
            f"pass {name}=(640, 480, 30).",
        )
    return w, h, fps


def _supported(rs: ModuleType, device: Any, stream: Any, fmt: Any) -> list[tuple[int, int, int]]:
    modes = set()
    for sensor in device.query_sensors():
        for p in sensor.get_stream_profiles():
            if p.stream_type() == stream and p.format() == fmt and p.is_video_stream_profile():
                v = p.as_video_stream_profile()
                modes.add((v.width(), v.height(), p.fps()))
    return sorted(modes, key=lambda m: (-m[0] * m[1], -m[2]))


def _summary(modes: list[tuple[int, int, int]]) -> str:
    by_size: dict[tuple[int, int], list[int]] = {}
    for w, h, fps in modes:
        by_size.setdefault((w, h), []).append(fps)
    return ", ".join(f"{w}x{h}@{'/'.join(str(f) for f in sorted(r))}" for (w, h), r in by_size.items()) or "none"


class RealSenseCamera(RsSource):
    """A live RealSense camera streaming colour (RGB8) and depth (Z16).

    Args:
        serial: the camera's serial number; None = the first camera found.
        color, depth: (width, height, fps) of each stream (D435 defaults).
        preset: a depth preset from :data:`DEPTH_PRESETS` (e.g. "high_accuracy"), or None.
        name: the source's name (default ``camera`` or ``camera:SERIAL``).

    Timestamps are the camera's, in its timestamp domain (``global_time`` by default on D400
    cameras: the device clock translated to the host clock, so sensor-to-result latency is real).
    """

    reconnectable = True  # the pipeline restarts it with back-off when it fails (unplugged, USB reset)

    def __init__(
        self,
        serial: str | None = None,
        color: tuple[int, int, int] = (640, 480, 30),
        depth: tuple[int, int, int] = (848, 480, 30),
        preset: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name or ("camera" if serial is None else f"camera:{serial}"))
        self.serial = None if serial is None else str(serial)
        self.color_mode = _mode(color, "color")
        self.depth_mode = _mode(depth, "depth")
        if preset is not None and preset not in DEPTH_PRESETS:
            close = difflib.get_close_matches(str(preset), DEPTH_PRESETS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SourceError(
                f"unknown depth preset {preset!r}; valid: {', '.join(DEPTH_PRESETS)}.", f"{hint}pass one of those."
            )
        self.preset = preset
        self.info: CameraInfo | None = None
        self._record_to: Path | None = None
        self._pipeline: Any = None

    def _start(self) -> None:
        rs = import_rs()
        ctx = rs.context()
        devices = list(ctx.query_devices())
        if not devices:
            raise SourceError("no RealSense camera found.", _NO_CAMERA_REMEDY)
        infos = [_info(rs, d) for d in devices]
        if self.serial is None:
            index = 0
        elif self.serial in [i.serial for i in infos]:
            index = [i.serial for i in infos].index(self.serial)
        else:
            connected = ", ".join(f"{i.name} {i.serial}" for i in infos)
            raise SourceError(
                f"camera {self.serial} not found; connected: [{connected}].",
                f"use --source camera:{infos[0].serial} (or plain `camera` for the first one).",
            )
        device, info = devices[index], infos[index]
        if not info.usb3:
            logger.warning(
                "%s is on USB %s: high resolutions and rates are unavailable; use a USB 3 port", info, info.usb_type
            )

        pipeline = rs.pipeline(ctx)
        config = rs.config()
        config.enable_device(info.serial)
        (cw, ch, cf), (dw, dh, df) = self.color_mode, self.depth_mode
        config.enable_stream(rs.stream.color, cw, ch, rs.format.rgb8, cf)
        config.enable_stream(rs.stream.depth, dw, dh, rs.format.z16, df)
        if self._record_to is not None:
            config.enable_record_to_file(str(self._record_to))
        if not config.can_resolve(rs.pipeline_wrapper(pipeline)):
            raise self._mode_error(rs, device, info)
        try:
            profile = pipeline.start(config)
        except RuntimeError as exc:
            raise SourceError(
                f"camera {info} failed to start: {exc}.",
                "unplug and replug it, check `dmesg`, and close other programs using it.",
            ) from exc
        self._pipeline = pipeline
        self.info = info
        try:
            self._apply_preset(rs, profile)
            depth_sensor = profile.get_device().first_depth_sensor()
            self._begin(
                profile.get_stream(rs.stream.color),
                profile.get_stream(rs.stream.depth),
                depth_sensor.get_depth_scale(),
                clock_domain=None,
                max_pending=4,
            )
        except BaseException:
            self._stop()
            raise
        logger.info("%s streaming colour %dx%d@%d, depth %dx%d@%d", info, cw, ch, cf, dw, dh, df)

    def _mode_error(self, rs: ModuleType, device: Any, info: CameraInfo) -> SourceError:
        usb = "" if info.usb3 else f" It is on USB {info.usb_type}, which offers only low resolutions and rates."
        for label, stream, fmt, (w, h, fps) in (
            ("colour", rs.stream.color, rs.format.rgb8, self.color_mode),
            ("depth", rs.stream.depth, rs.format.z16, self.depth_mode),
        ):
            modes = _supported(rs, device, stream, fmt)
            if (w, h, fps) not in modes:
                return SourceError(
                    f"camera {info.name} {info.serial} cannot stream {label} {w}x{h}@{fps}: "
                    f"supported {_summary(modes)}.{usb}",
                    f"pick a supported mode, e.g. ?{'color' if label == 'colour' else 'depth'}="
                    f"{modes[0][0]}x{modes[0][1]}@{modes[0][2]}."
                    if modes
                    else "use another camera.",
                )
        (cw, ch, cf), (dw, dh, df) = self.color_mode, self.depth_mode
        return SourceError(
            f"camera {info.name} {info.serial} cannot stream colour {cw}x{ch}@{cf} and depth {dw}x{dh}@{df} "
            f"together.{usb}",
            "lower a resolution or rate, or use the same rate for both streams.",
        )

    def _apply_preset(self, rs: ModuleType, profile: Any) -> None:
        if self.preset is None:
            return
        sensor = profile.get_device().first_depth_sensor()
        if not sensor.supports(rs.option.visual_preset):
            raise SourceError(
                f"camera {self.info} has no depth presets (asked for {self.preset!r}).", "leave preset unset."
            )
        sensor.set_option(rs.option.visual_preset, float(int(getattr(rs.rs400_visual_preset, self.preset))))
        logger.info("%s: depth preset %s", self.name, self.preset)

    def _poll(self, timeout_ms: int) -> bool:
        try:
            ok, frames = self._pipeline.try_wait_for_frames(timeout_ms)
        except RuntimeError as exc:
            raise SourceError(
                f"{self.name} stopped delivering: {exc}.", "check the cable and `dmesg`, then restart the source."
            ) from exc
        if not ok:
            return False
        for stream, frame in (("depth", frames.get_depth_frame()), ("color", frames.get_color_frame())):
            # Depth first: a colour frame pairs as soon as its depth frame is in. Skip the syncer's
            # repeats before copying.
            if frame and self._last.get(stream) != (int(frame.get_frame_number()), float(frame.get_timestamp())):
                self._ingest(*self._convert(stream, frame))
        return True

    def _stop(self) -> None:
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            try:
                pipeline.stop()
            except RuntimeError as exc:  # already stopped / device gone
                logger.debug("%s: pipeline.stop(): %s", self.name, exc)

    def _record_to_file(self, path: Path | None) -> None:
        """Used by :func:`~mutualsense.sources.record`: record the streams natively at the next start."""
        self._record_to = path
