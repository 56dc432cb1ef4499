"""SyntheticSource: valid framesets, an exact clock, nearest pairing, consistent calibration."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mutualsense.errors import SourceError
from mutualsense.sources import FrameSet, SourceEnded, StreamFrame, SyntheticSource

SMALL = {"color": (160, 120), "depth": (106, 60)}


def test_framesets_are_valid_and_the_clock_is_exact() -> None:
    src = SyntheticSource(fps=30, seed=1, frames=8)
    with src:
        sets = [src.read() for _ in range(8)]
        with pytest.raises(SourceEnded):
            src.read()
    assert all(isinstance(fs, FrameSet) for fs in sets)
    fs = sets[0]
    assert fs.color.shape == (480, 640, 3) and fs.color.dtype == np.uint8
    assert fs.depth.shape == (240, 424) and fs.depth.dtype == np.uint16
    assert fs.clock_domain == "synthetic" and fs.source == "synthetic" and fs.depth_scale == 0.001
    assert (fs.depth > 0).mean() > 0.4  # mostly valid inside the colour camera's view
    assert [s.color_frame_number for s in sets] == list(range(8))
    assert [s.color_timestamp_ms for s in sets] == pytest.approx([i * 1000 / 30 for i in range(8)], abs=1e-9)
    assert all(s.skew_ms == 0.0 for s in sets)
    arrivals = [s.arrival_time for s in sets]
    assert arrivals == sorted(arrivals)
    assert src.counters.framesets == 8 and src.counters.frame_gaps == 0
    with pytest.raises(ValueError):
        fs.color[0, 0, 0] = 1  # framesets are read-only


@pytest.mark.parametrize("offset", [7.0, -7.0, 12.5])
def test_depth_offset_gives_exactly_that_skew(offset: float) -> None:
    src = SyntheticSource(fps=30, depth_offset_ms=offset, frames=6, **SMALL)
    skews = [fs.skew_ms for fs in src]
    assert skews == pytest.approx([-offset] * 6, abs=1e-9)


def test_colour_15_depth_30_pairs_each_colour_frame_once_with_the_nearest_depth() -> None:
    src = SyntheticSource(color_fps=15, depth_fps=30, depth_offset_ms=7.0, frames=10, **SMALL)
    sets = list(src)
    assert [fs.color_frame_number for fs in sets] == list(range(10))
    assert [fs.depth_frame_number for fs in sets] == list(range(0, 20, 2))
    assert [fs.skew_ms for fs in sets] == pytest.approx([-7.0] * 10)
    assert np.diff([fs.color_timestamp_ms for fs in sets]) == pytest.approx([1000 / 15] * 9)
    assert src.counters.depth_frames >= 19  # the unpaired depth frames were generated too


def test_colour_30_depth_15_reuses_the_most_recent_depth_frame() -> None:
    sets = list(SyntheticSource(color_fps=30, depth_fps=15, frames=8, **SMALL))
    assert [fs.color_frame_number for fs in sets] == list(range(8))
    assert [fs.depth_frame_number for fs in sets] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert sets[0].depth is sets[1].depth  # shared, hence read-only


def test_raw_frame_listener_sees_every_frame_of_both_streams_in_time_order() -> None:
    seen: list[StreamFrame] = []
    src = SyntheticSource(color_fps=15, depth_fps=30, frames=4, **SMALL)
    src.add_frame_listener(seen.append)
    list(src)
    assert [f.frame_number for f in seen if f.stream == "color"] == [0, 1, 2, 3]
    assert [f.frame_number for f in seen if f.stream == "depth"] == list(range(7))
    ts = [f.timestamp_ms for f in seen]
    assert ts == sorted(ts)


def test_same_seed_same_stream_and_the_scene_pans_slowly() -> None:
    a = list(SyntheticSource(seed=5, frames=3, **SMALL))
    b = list(SyntheticSource(seed=5, frames=3, **SMALL))
    c = list(SyntheticSource(seed=6, frames=1, **SMALL))
    assert all(np.array_equal(x.color, y.color) and np.array_equal(x.depth, y.depth) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0].color, c[0].color)
    # Within a scene consecutive frames differ only by a small pan.
    diff = np.abs(a[1].color.astype(int) - a[0].color.astype(int)).mean()
    assert diff < 20


def test_new_scene_every_scene_seconds() -> None:
    src = SyntheticSource(fps=10, scene_seconds=0.2, frames=4, **SMALL)
    sets = list(src)
    same = np.abs(sets[1].color.astype(int) - sets[0].color.astype(int)).mean()
    changed = np.abs(sets[2].color.astype(int) - sets[1].color.astype(int)).mean()
    assert changed > same


def test_ground_truth_mask_follows_the_colour_frame() -> None:
    src = SyntheticSource(frames=2, **SMALL)
    with src:
        fs = src.read()
        mask = src.ground_truth(fs)
    assert mask is not None and mask.shape == fs.color.shape[:2] and mask.dtype == np.uint8
    assert 0 < (mask > 0).mean() < 1


def test_calibration_is_consistent_with_the_rendered_depth() -> None:
    """Aligning depth to colour with the reported calibration gives back the scene's own depth."""
    src = SyntheticSource(frames=1, seed=3)
    with src:
        fs = src.read()
        scene_depth = src._scenes[0][1]  # the colour-grid depth the frame was rendered from
    di, ci, t = fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color.translation
    assert ci.fx == pytest.approx(615.0) and di.fx == pytest.approx(307.5) and t == (0.015, 0.0, 0.0)
    v, u = np.nonzero(fs.depth)
    z = fs.depth[v, u] * fs.depth_scale
    x, y = (u - di.ppx) / di.fx * z + t[0], (v - di.ppy) / di.fy * z + t[1]
    uc = np.rint(ci.fx * x / z + ci.ppx).astype(int)
    vc = np.rint(ci.fy * y / z + ci.ppy).astype(int)
    inside = (uc >= 0) & (uc < ci.width) & (vc >= 0) & (vc < ci.height)
    assert inside.mean() > 0.99
    ref = scene_depth[vc[inside], uc[inside]].astype(float)
    got = fs.depth[v[inside], u[inside]].astype(float)
    ok = ref > 0
    assert (np.abs(got[ok] - ref[ok]) <= 0.02 * ref[ok]).mean() > 0.95


def test_real_time_paces_and_times_out() -> None:
    src = SyntheticSource(fps=20, real_time=True, frames=4, **SMALL)
    with src:
        t0 = time.monotonic()
        for _ in range(4):
            assert src.read(1000) is not None
        elapsed = time.monotonic() - t0
    assert 0.1 <= elapsed < 1.0  # 3 frame periods of 50 ms after the first
    slow = SyntheticSource(fps=1, real_time=True, **SMALL)
    with slow:
        assert slow.read(1000) is not None
        t0 = time.monotonic()
        assert slow.read(50) is None  # the next frameset is due in 1 s
        assert time.monotonic() - t0 < 0.5


def test_reading_before_start_says_how() -> None:
    with pytest.raises(SourceError, match="not started"):
        SyntheticSource(**SMALL).read()


def test_iteration_starts_and_stops_and_a_restart_replays() -> None:
    src = SyntheticSource(frames=2, **SMALL)
    first = [fs.color_frame_number for fs in src]
    assert first == [0, 1] and not src.started
    assert [fs.color_frame_number for fs in src] == [0, 1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fps": 0},
        {"color_fps": -1},
        {"color": (10, 10)},
        {"depth": (640,)},
        {"seed": -1},
        {"frames": 0},
        {"depth_offset_ms": float("nan")},
        {"scene_seconds": 0},
        {"camouflage_ratio": 2.0},
        {"camouflage_ratio": "lots"},
    ],
)
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(SourceError) as info:
        SyntheticSource(**kwargs)
    assert "Fix:" in str(info.value)
