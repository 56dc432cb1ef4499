"""Source specs (docs/design.md §8): valid forms, and errors that name the spec, the forms and a likely fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mutualsense.errors import MissingDependencyError, SourceError
from mutualsense.sources import (
    SOURCE_SPEC_HELP,
    RealSenseCamera,
    Recording,
    SyntheticSource,
    open_source,
    parse_source_spec,
)


@pytest.mark.parametrize(
    ("spec", "kind", "options"),
    [
        ("camera", "camera", {}),
        ("camera:123456789012", "camera", {"serial": "123456789012"}),
        (
            "camera?color=640x480@30&depth=848x480@90",
            "camera",
            {"color": (640, 480, 30.0), "depth": (848, 480, 90.0)},
        ),
        (
            "camera:f0211?color=1280x720&preset=high_accuracy",
            "camera",
            {"serial": "f0211", "color": (1280, 720, 30.0), "preset": "high_accuracy"},
        ),
        ("synthetic", "synthetic", {"real_time": True}),
        (
            "synthetic?fps=30&seed=1&noise=0.5",
            "synthetic",
            {"fps": 30.0, "seed": 1, "real_time": True, "sensor_noise": 0.5},
        ),
        ("synthetic?real_time=0", "synthetic", {"real_time": False}),
        (
            "synthetic?color=320x240@15&depth=212x120@30&offset_ms=-7.5&frames=10&real_time=yes",
            "synthetic",
            {
                "color": (320, 240),
                "color_fps": 15.0,
                "depth": (212, 120),
                "depth_fps": 30.0,
                "depth_offset_ms": -7.5,
                "frames": 10,
                "real_time": True,
            },
        ),
        ("Synthetic?FPS=15", "synthetic", {"fps": 15.0, "real_time": True}),
        ("run.db3", "recording", {"path": Path("run.db3")}),
        (
            "/data/old.BAG?loop=1&real_time=0",
            "recording",
            {"path": Path("/data/old.BAG"), "loop": True, "real_time": False},
        ),
    ],
)
def test_valid_specs(spec: str, kind: str, options: dict) -> None:
    parsed = parse_source_spec(spec)
    assert parsed.kind == kind
    assert parsed.options == options


def test_path_objects_are_recordings(tmp_path: Path) -> None:
    assert parse_source_spec(tmp_path / "a.db3").options == {"path": tmp_path / "a.db3"}


@pytest.mark.parametrize(
    ("spec", "message", "suggestion"),
    [
        ("camra", "unknown source kind 'camra'", "did you mean 'camera'?"),
        ("cmaera:123", "unknown source kind", "did you mean 'camera:123'?"),
        ("synthetc?fps=30", "unknown source kind", "did you mean 'synthetic'?"),
        ("realsense", "unknown source kind", "did you mean 'camera'?"),
        ("synthetic?fsp=30", "unknown synthetic option 'fsp'", "did you mean 'fps'?"),
        ("camera?colour=640x480", "unknown camera option 'colour'", "did you mean 'color'?"),
        ("camera?preset=high_acuracy", "unknown depth preset", "did you mean 'high_accuracy'?"),
        ("run.db", "'.db' files are not RealSense recordings", "did you mean 'run.db3'?"),
        ("video.mp4", "'.mp4' files are not RealSense recordings", None),
        ("synthetic?fps=0", "must be positive", None),
        ("synthetic?fps=fast", "is not a number", None),
        ("synthetic?seed=-1", "must be at least 0", None),
        ("synthetic?frames=0", "must be at least 1", None),
        ("camera?color=640by480", "is not WIDTHxHEIGHT", None),
        ("camera?color=", "has no value", None),
        ("synthetic?fps=30&fps=15", "given twice", None),
        ("synthetic?real_time=maybe", "yes/no", None),
        ("camera:", "camera serial", None),
        ("synthetic:3", "after '?'", None),
        ("", "it is empty", None),
        ("clips/run", "must end in .db3 or .bag", None),
    ],
)
def test_bad_specs_say_what_and_how(spec: str, message: str, suggestion: str | None) -> None:
    with pytest.raises(SourceError) as info:
        parse_source_spec(spec)
    err = info.value
    assert f"bad source spec {spec!r}" in err.what
    assert message in err.what
    assert "camera:SERIAL" in err.remedy and "PATH.db3" in err.remedy  # the valid forms
    if suggestion:
        assert suggestion in err.remedy


def test_a_folder_holding_a_recording_is_pointed_at_it(tmp_path: Path) -> None:
    (tmp_path / "bag").mkdir()
    (tmp_path / "bag" / "bag_0.db3").write_bytes(b"x")
    with pytest.raises(SourceError, match="is a folder") as info:
        parse_source_spec(str(tmp_path / "bag"))
    assert "bag_0.db3" in info.value.remedy


def test_open_source_builds_the_right_class_without_touching_devices(tmp_path: Path) -> None:
    assert isinstance(open_source("camera:123?depth=640x480@15"), RealSenseCamera)
    cam = open_source("camera:123?depth=640x480@15")
    assert cam.serial == "123" and cam.depth_mode == (640, 480, 15)
    rec = open_source(str(tmp_path / "x.db3"), loop=True)
    assert isinstance(rec, Recording) and rec.loop and not rec.started
    syn = open_source("synthetic?fps=15&seed=4", frames=3)
    assert isinstance(syn, SyntheticSource) and (syn.frames, syn.seed, syn.color_fps) == (3, 4, 15.0)
    assert open_source(syn) is syn
    with pytest.raises(SourceError, match="cannot be applied"):
        open_source(syn, frames=4)


def test_help_text_lists_every_form_and_option() -> None:
    for word in ("camera:SERIAL", "synthetic", ".db3", ".bag", "color=", "depth=", "preset=", "offset_ms", "loop"):
        assert word in SOURCE_SPEC_HELP


def test_the_package_imports_without_pyrealsense2_or_torch() -> None:
    code = (
        "import sys, mutualsense.sources as s; s.open_source('camera'); s.open_source('x.db3'); "
        "assert 'pyrealsense2' not in sys.modules and 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_pyrealsense2_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyrealsense2", None)  # import fails
    for source in (RealSenseCamera(), Recording(Path(__file__).parents[1] / "fixtures" / "tiny.bag")):
        with pytest.raises(MissingDependencyError, match="pyrealsense2 is not installed") as info:
            source.start()
        assert 'pip install "mutualsense[realsense]"' in info.value.remedy
