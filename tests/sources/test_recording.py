"""Recording to real RealSense .db3 files and replaying .db3/.bag through pyrealsense2."""

from __future__ import annotations

import importlib.util
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import single_stream_db3

from mutualsense.errors import SourceError
from mutualsense.sources import FrameSet, Recording, Source, SourceEnded, StreamFrame, SyntheticSource, record

pytest.importorskip("pyrealsense2")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY_BAG = FIXTURES / "tiny.bag"


def _fixture_module() -> Any:
    spec = importlib.util.spec_from_file_location("make_bag_fixture", FIXTURES / "make_bag_fixture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread; fail (instead of hanging) when it takes longer than ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"did not finish within {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def replay(path: Path, **kw: Any) -> tuple[list[FrameSet], Recording]:
    rec = Recording(path, **kw)
    with rec:
        out = []
        while True:
            try:
                fs = rec.read(5000)
            except SourceEnded:
                break
            assert fs is not None, "timed out mid-recording"
            out.append(fs)
        with pytest.raises(SourceEnded):  # and it stays ended
            rec.read(100)
    return out, rec


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[tuple[str, int], StreamFrame], Any]:
    """20 synthetic framesets, colour 640x480 @15 fps and depth 424x240 @30 fps, depth 7 ms late."""
    out = tmp_path_factory.mktemp("rec") / "synthetic.db3"
    src = SyntheticSource(color_fps=15, depth_fps=30, depth_offset_ms=7.0, seed=2, frames=20)
    raw: dict[tuple[str, int], StreamFrame] = {}
    src.add_frame_listener(lambda f: raw.setdefault((f.stream, f.frame_number), f))
    info = record(src, out)
    return out, raw, info


def test_record_writes_a_complete_db3_atomically(recorded) -> None:
    path, _, info = recorded
    assert info.path == path and path.is_file() and info.size_bytes == path.stat().st_size
    assert info.method == "software_device" and info.framesets == 20
    assert info.color_frames == 20 and info.depth_frames == 39  # every depth frame, paired or not
    assert info.color_size == (640, 480) and info.depth_size == (424, 240)
    assert info.duration_s == pytest.approx((38 * 1000 / 30 + 7) / 1000)  # colour 0 to depth 38
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary leftovers


def test_replay_is_lossless_and_pairs_each_colour_frame_once(recorded) -> None:
    path, raw, _ = recorded
    t0 = time.monotonic()
    sets, rec = within(60, lambda: replay(path))
    assert time.monotonic() - t0 < 30
    # Each colour frame once, in order, none lost, not even at the ends (the pipeline's syncer loses
    # one or two there; the sensor-level replay does not).
    assert [fs.color_frame_number for fs in sets] == list(range(20))
    for fs in sets:
        assert np.array_equal(fs.color, raw["color", fs.color_frame_number].data)
        assert np.array_equal(fs.depth, raw["depth", fs.depth_frame_number].data)
        assert fs.skew_ms == pytest.approx(-7.0, abs=1.0)
        assert fs.depth_frame_number == 2 * fs.color_frame_number
    fs = sets[0]
    src = SyntheticSource()  # the calibration it was recorded with
    for got, want in ((fs.color_intrinsics, src.color_intrinsics), (fs.depth_intrinsics, src.depth_intrinsics)):
        assert (got.width, got.height, got.model) == (want.width, want.height, "none")
        assert (got.fx, got.fy, got.ppx, got.ppy) == pytest.approx((want.fx, want.fy, want.ppx, want.ppy), rel=1e-6)
    assert fs.depth_scale == pytest.approx(0.001, rel=1e-6)
    assert fs.depth_to_color.translation == pytest.approx((0.015, 0.0, 0.0), abs=1e-7)
    assert fs.clock_domain == "recording" and fs.source == "synthetic.db3"
    assert rec.counters.as_dict() == {
        "framesets": 20,
        "color_frames": 20,
        "depth_frames": 39,
        "frame_gaps": 0,
        "unpaired_color": 0,
    }
    assert rec.stream_fps == (15.0, 30.0)


def test_stopping_mid_file_does_not_hang(recorded) -> None:
    path = recorded[0]

    def two() -> list[FrameSet | None]:
        with Recording(path) as rec:
            return [rec.read(5000), rec.read(5000)]

    assert all(fs is not None for fs in within(30, two))


def test_loop_starts_over(recorded) -> None:
    def read(n: int) -> list[int]:
        with Recording(TINY_BAG, loop=True) as rec:
            return [rec.read(5000).color_frame_number for _ in range(n)]  # type: ignore[union-attr]

    assert within(30, lambda: read(14)) == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1]


def test_limits_by_frames_and_by_seconds(tmp_path: Path) -> None:
    small = {"color": (64, 48), "depth": (64, 48)}
    info = record(SyntheticSource(fps=30, **small), tmp_path / "a.db3", frames=5)
    assert (info.framesets, info.color_frames, info.depth_frames) == (5, 5, 5)
    info = record(SyntheticSource(fps=30, **small), tmp_path / "b.db3", seconds=0.5)
    assert info.framesets == 15  # colour timestamps 0 ... 466.7 ms
    sets, _ = replay(tmp_path / "b.db3")
    assert len(sets) == 15


class _FramesetsOnly(Source):
    """A third-party source: framesets only, no raw frames; fails on request."""

    def __init__(self, fail_after: int | None = None, error: BaseException | None = None) -> None:
        super().__init__("framesets-only")
        self.inner = SyntheticSource(color_fps=30, depth_fps=15, frames=6, color=(64, 48), depth=(32, 24))
        self.fail_after, self.n, self.error = fail_after, 0, error or SourceError("camera unplugged.")

    def _start(self) -> None:
        self.inner.start()

    def _stop(self) -> None:
        self.inner.stop()

    def _read(self, timeout_ms: int) -> FrameSet | None:
        if self.fail_after is not None and self.n >= self.fail_after:
            raise self.error
        self.n += 1
        return self.inner.read(timeout_ms)


def test_sources_without_raw_frames_record_each_depth_frame_once(tmp_path: Path) -> None:
    info = record(_FramesetsOnly(), tmp_path / "c.db3")
    assert (info.color_frames, info.depth_frames) == (6, 3)
    sets, _ = replay(tmp_path / "c.db3")
    assert [fs.depth_frame_number for fs in sets] == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("error", [SourceError("camera unplugged."), KeyboardInterrupt()])
def test_a_failure_or_ctrl_c_leaves_no_file(tmp_path: Path, error: BaseException) -> None:
    source = _FramesetsOnly(fail_after=3, error=error)
    with pytest.raises(type(error)):
        record(source, tmp_path / "d.db3")
    assert list(tmp_path.iterdir()) == []
    assert not source.started


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("x.bag", {}, "writes only rosbag2 .db3"),
        ("missing/x.db3", {}, "does not exist"),
        ("x.db3", {"seconds": 0}, "seconds must be"),
        ("x.db3", {"frames": 0}, "frames must be"),
    ],
)
def test_record_argument_errors(tmp_path: Path, name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        record(SyntheticSource(frames=1), tmp_path / name, **kwargs)


def test_transcoding_the_bag_fixture_to_db3(tmp_path: Path) -> None:
    info = record(Recording(TINY_BAG), tmp_path / "tiny.db3")
    assert (info.color_frames, info.depth_frames) == (6, 12)
    a, _ = replay(TINY_BAG)
    b, _ = replay(tmp_path / "tiny.db3")
    assert [(x.color_frame_number, x.depth_frame_number) for x in a] == [
        (x.color_frame_number, x.depth_frame_number) for x in b
    ]
    assert all(np.array_equal(x.color, y.color) and np.array_equal(x.depth, y.depth) for x, y in zip(a, b, strict=True))


def test_bag_fixture_from_an_older_librealsense_plays() -> None:
    m = _fixture_module()
    sets, rec = within(30, lambda: replay(TINY_BAG))
    assert [fs.color_frame_number for fs in sets] == list(range(m.COLOR_FRAMES))
    for fs in sets:
        assert np.array_equal(fs.color, m.expected_color(fs.color_frame_number))
        assert np.array_equal(fs.depth, m.expected_depth(fs.depth_frame_number))
        assert fs.color_timestamp_ms == pytest.approx(m.color_timestamp(fs.color_frame_number))
        assert fs.skew_ms == pytest.approx(-m.DEPTH_OFFSET_MS)
    assert sets[0].color_intrinsics.fx == pytest.approx(m.COLOR_FOCAL)
    assert sets[0].depth_intrinsics.size == m.DEPTH_SIZE
    assert sets[0].depth_to_color.translation == pytest.approx(m.TRANSLATION, abs=1e-7)
    assert rec.counters.depth_frames == m.DEPTH_FRAMES
    assert TINY_BAG.stat().st_size <= 2 * 1024 * 1024


def test_a_misspelt_recording_name_gets_a_suggestion(tmp_path: Path) -> None:
    shutil.copy(TINY_BAG, tmp_path / "run_01.bag")
    with pytest.raises(SourceError, match="not found") as info:
        Recording(tmp_path / "run_1.bag").start()
    assert "did you mean" in info.value.remedy and "run_01.bag" in info.value.remedy


def _broken(kind: str, tmp_path: Path, good: Path) -> Path:
    if kind == "missing":
        return tmp_path / "nope.db3"
    if kind == "extension":
        path = tmp_path / "clip.mp4"
        path.write_bytes(b"\0" * 100)
        return path
    if kind == "empty":
        path = tmp_path / "empty.db3"
        path.touch()
        return path
    if kind == "folder":
        (tmp_path / "rosbag").mkdir()
        shutil.copy(good, tmp_path / "rosbag" / "rosbag_0.db3")
        return tmp_path / "rosbag"
    if kind == "truncated":
        path = tmp_path / "truncated.db3"
        data = good.read_bytes()
        path.write_bytes(data[: int(len(data) * 0.9)])
        return path
    if kind == "random":
        path = tmp_path / "random.db3"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
        return path
    if kind == "random-bag":
        path = tmp_path / "random.bag"
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 5_000, dtype=np.uint8).tobytes())
        return path
    if kind == "truncated-bag":
        path = tmp_path / "truncated.bag"
        path.write_bytes(TINY_BAG.read_bytes()[:2000])
        return path
    path = tmp_path / "depth_only.db3"
    single_stream_db3(path, "depth")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "not found"),
        ("extension", "not a RealSense recording"),
        ("empty", "is empty"),
        ("folder", "is a folder"),
        ("truncated", "cannot open recording"),
        ("random", "cannot open recording"),
        ("random-bag", "cannot open recording"),
        ("truncated-bag", "cannot open recording"),
        ("depth-only", "has no colour stream"),
    ],
)
def test_bad_recordings_fail_fast_with_a_remedy(tmp_path: Path, recorded, kind: str, message: str) -> None:
    path = _broken(kind, tmp_path, recorded[0])
    rec = Recording(path)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=message) as info:
        within(20, rec.start)
    assert time.monotonic() - t0 < 5
    assert info.value.remedy and str(path.name) in info.value.what
    assert not rec.started
