"""RealSenseCamera: fails fast and clearly without a camera; messages from a fake librealsense; live test."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import mutualsense.sources.realsense as realsense
from mutualsense.errors import SourceError
from mutualsense.sources import CameraInfo, RealSenseCamera, Recording, list_cameras, open_source, record

rs = pytest.importorskip("pyrealsense2")
CAMERAS = list_cameras()
no_camera = pytest.mark.skipif(bool(CAMERAS), reason="a RealSense camera is connected")


@no_camera
def test_list_cameras_is_empty_without_a_camera() -> None:
    assert list_cameras() == []


@no_camera
@pytest.mark.parametrize("spec", ["camera", "camera:123456789012", "camera?color=1280x720@30&preset=high_accuracy"])
def test_no_camera_fails_within_two_seconds(spec: str) -> None:
    cam = open_source(spec)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="no RealSense camera found") as info, cam:
        pass
    assert time.monotonic() - t0 < 2.0  # pipeline.start() would block ~15 s
    assert "USB 3" in info.value.remedy and "synthetic" in info.value.remedy
    assert not cam.started


def test_argument_errors_name_the_value() -> None:
    with pytest.raises(SourceError, match="did you mean 'high_density'"):
        RealSenseCamera(preset="high_densty")
    with pytest.raises(SourceError, match=r"\(width, height, fps\)"):
        RealSenseCamera(color=(640, 480))
    with pytest.raises(SourceError, match="positive integers"):
        RealSenseCamera(depth=(848, 480, 29.97))


# --------------------------------------------------------------------------------- a fake librealsense
class _Profile:
    def __init__(self, stream: str, fmt: str, w: int, h: int, fps: int) -> None:
        self.stream, self.fmt, self.w, self.h, self._fps = stream, fmt, w, h, fps

    def stream_type(self) -> str:
        return self.stream

    def format(self) -> str:
        return self.fmt

    def fps(self) -> int:
        return self._fps

    def is_video_stream_profile(self) -> bool:
        return True

    def as_video_stream_profile(self) -> _Profile:
        return self

    def width(self) -> int:
        return self.w

    def height(self) -> int:
        return self.h


class _Device:
    def __init__(self, serial: str, usb: str = "3.2") -> None:
        self.info = {"name": "Intel RealSense D435", "serial_number": serial, "firmware_version": "5.16.0.1"}
        self.info |= {"usb_type_descriptor": usb, "product_line": "D400"}
        modes = [(640, 480, 30), (640, 480, 15), (1280, 720, 15)] if usb == "3.2" else [(640, 480, 15)]
        color = [_Profile("color", "rgb8", *m) for m in modes]
        depth = [_Profile("depth", "z16", *m) for m in [(848, 480, 30), (848, 480, 90), (640, 480, 15)]]
        self.sensors = [
            SimpleNamespace(get_stream_profiles=lambda: color),
            SimpleNamespace(get_stream_profiles=lambda: depth),
        ]

    def supports(self, key: str) -> bool:
        return key in self.info

    def get_info(self, key: str) -> str:
        return self.info[key]

    def query_sensors(self) -> list[Any]:
        return self.sensors


def fake_rs(devices: list[_Device]) -> Any:
    names = ["name", "serial_number", "firmware_version", "usb_type_descriptor", "product_line"]
    config = SimpleNamespace(
        enable_device=lambda s: None,
        enable_stream=lambda *a: None,
        enable_record_to_file=lambda p: None,
        can_resolve=lambda w: False,
    )
    return SimpleNamespace(
        context=lambda: SimpleNamespace(query_devices=lambda: devices),
        camera_info=SimpleNamespace(**{n: n for n in names}),
        stream=SimpleNamespace(color="color", depth="depth"),
        format=SimpleNamespace(rgb8="rgb8", z16="z16"),
        pipeline=lambda ctx: object(),
        pipeline_wrapper=lambda p: p,
        config=lambda: config,
    )


def test_messages_name_the_missing_camera_and_the_connected_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realsense, "import_rs", lambda: fake_rs([_Device("111"), _Device("222")]))
    assert [c.serial for c in realsense.list_cameras()] == ["111", "222"]
    with pytest.raises(SourceError) as info:
        RealSenseCamera(serial="333").start()
    assert "camera 333 not found; connected: [Intel RealSense D435 111, Intel RealSense D435 222]" in info.value.what
    assert "camera:111" in info.value.remedy


def test_messages_name_the_unsupported_mode_and_the_supported_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realsense, "import_rs", lambda: fake_rs([_Device("111")]))
    t0 = time.monotonic()
    with pytest.raises(SourceError) as info:
        RealSenseCamera(color=(1280, 720, 90)).start()
    assert time.monotonic() - t0 < 2.0
    what = info.value.what
    assert "cannot stream colour 1280x720@90: supported 1280x720@15, 640x480@15/30" in what
    with pytest.raises(SourceError, match="cannot stream colour 640x480@30 and depth 848x480@90 together"):
        RealSenseCamera(depth=(848, 480, 90)).start()


def test_usb2_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realsense, "import_rs", lambda: fake_rs([_Device("111", usb="2.1")]))
    with pytest.raises(SourceError, match="on USB 2.1, which offers only low resolutions") as info:
        RealSenseCamera().start()
    assert "640x480@15" in info.value.what
    assert not CameraInfo("D435", "1", "5", "2.1", "D400").usb3 and CameraInfo("D435", "1", "5", "3.2", "D400").usb3


# --------------------------------------------------------------------------------- a real camera
@pytest.mark.camera
@pytest.mark.slow
@pytest.mark.skipif(not CAMERAS, reason="no RealSense camera connected")
def test_live_camera_streams_and_records(tmp_path: Path) -> None:
    cam = RealSenseCamera()
    with cam:
        sets = [fs for fs in (cam.read(5000) for _ in range(30)) if fs is not None]
    assert len(sets) >= 25 and cam.info is not None
    assert sets[-1].clock_domain in ("global_time", "hardware_clock", "system_time")
    assert all(abs(fs.skew_ms) < 20 for fs in sets[5:])
    info = record(RealSenseCamera(), tmp_path / "live.db3", seconds=1.0)
    assert info.method == "camera" and info.framesets >= 20
    with Recording(info.path) as rec:
        assert sum(1 for _ in rec) >= info.framesets - 2
