"""The streaming pipeline: exact counters, skew policy, back-pressure, stalls, clean shutdown."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import mutualsense
from mutualsense.errors import SourceError
from mutualsense.pipeline import Stream
from mutualsense.sources.base import Source, SourceEnded
from mutualsense.sources.frameset import FrameSet
from mutualsense.sources.synthetic import SyntheticSource


class ScriptedSource(Source):
    """Replays framesets from a synthetic source with scripted skews, delays and a stall."""

    def __init__(
        self, n: int, skews: dict[int, float] | None = None, delay_s: float = 0.0, stall_after: int | None = None
    ):
        super().__init__("scripted")
        self._inner = SyntheticSource(frames=n, seed=3, color=(160, 120), depth=(160, 120))
        self.skews, self.delay_s, self.stall_after, self.i = skews or {}, delay_s, stall_after, 0

    def _start(self) -> None:
        self._inner.start()

    def _stop(self) -> None:
        self._inner.stop()

    def _read(self, timeout_ms: int) -> FrameSet | None:
        if self.stall_after is not None and self.i >= self.stall_after:
            time.sleep(timeout_ms / 1000)
            return None
        fs = self._inner.read(timeout_ms)
        if fs is None:
            return None
        time.sleep(self.delay_s)
        skew = self.skews.get(self.i, 0.0)
        self.i += 1
        if skew:
            from dataclasses import replace

            fs = replace(fs, depth_timestamp_ms=fs.color_timestamp_ms - skew)
        return fs


def test_counters_are_exact_and_results_carry_what_a_robot_needs(tiny_bundle) -> None:
    with mutualsense.open(tiny_bundle, source=SyntheticSource(frames=40, color=(320, 240))) as stream:
        results = list(stream)
    s = stream.stats
    assert s.produced == 40
    assert s.produced == s.processed + s.dropped_by_skew + s.dropped_by_backpressure
    assert s.processed == len(results) >= 1
    r = results[-1]
    assert r.saliency.shape == (240, 320) and r.saliency.dtype == np.float32
    assert r.saliency.min() >= 0.0 and r.saliency.max() <= 1.0
    assert r.mask().dtype == bool
    assert set(r.latency_ms) == {"wait", "align", "preprocess", "queue", "inference", "postprocess", "total"}
    assert sum(v for k, v in r.latency_ms.items() if k != "total") == pytest.approx(r.latency_ms["total"], rel=1e-6)
    assert r.latency_ms["total"] >= r.latency_ms["inference"] > 0
    numbers = [x.color_frame_number for x in results]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_a_slow_consumer_drops_and_counts_instead_of_blocking_the_camera(tiny_bundle) -> None:
    with Stream(tiny_bundle, ScriptedSource(30, delay_s=0.002)) as stream:
        for _ in stream:
            time.sleep(0.03)
    s = stream.stats
    assert s.dropped_by_backpressure > 0
    assert s.produced == 30 == s.processed + s.dropped_by_skew + s.dropped_by_backpressure


@pytest.mark.parametrize("policy", ["drop", "flag"])
def test_skew_policy(tiny_bundle, policy: str) -> None:
    skews = {3: 40.0, 7: -55.0, 8: 12.0}
    with Stream(tiny_bundle, ScriptedSource(12, skews, delay_s=0.05), max_skew_ms=20, skew_policy=policy) as stream:
        results = list(stream)
    s = stream.stats
    assert s.produced == 12 == s.processed + s.dropped_by_skew + s.dropped_by_backpressure
    if policy == "drop":
        assert s.dropped_by_skew == 2 and not any(r.skew_flagged for r in results)
    else:
        assert s.dropped_by_skew == 0
        assert sorted(r.skew_ms for r in results if r.skew_flagged) == pytest.approx([-55.0, 40.0])


def test_a_stalled_source_is_reported_not_waited_on_forever(tiny_bundle) -> None:
    t = time.monotonic()
    with (
        pytest.raises(SourceError, match="delivered nothing"),
        Stream(tiny_bundle, ScriptedSource(10, stall_after=3), stall_timeout_s=0.5, read_timeout_ms=100) as stream,
    ):
        list(stream)
    assert time.monotonic() - t < 5
    assert stream.stats.produced == 3


def test_breaking_out_early_stops_every_thread(tiny_bundle) -> None:
    before = threading.active_count()
    with mutualsense.open(tiny_bundle, source="synthetic?fps=30") as stream:
        for n, _ in enumerate(stream, start=1):
            if n == 3:
                break
    assert threading.active_count() == before
    s = stream.stats
    assert s.produced == s.processed + s.dropped_by_skew + s.dropped_by_backpressure


def test_callbacks_and_run(tiny_bundle) -> None:
    seen = []
    with Stream(tiny_bundle, SyntheticSource(frames=5, color=(160, 120))) as stream:
        stream.on_result(seen.append)
        stats = stream.run()
    assert len(seen) == stats.processed >= 1


def test_source_end_is_not_an_error(tiny_bundle) -> None:
    src = SyntheticSource(frames=2, color=(160, 120))
    with Stream(tiny_bundle, src) as stream:
        assert len(list(stream)) >= 1
    with pytest.raises(SourceEnded), src:
        for _ in range(5):
            src.read()


def test_a_recording_or_generator_replayed_as_fast_as_possible_is_read_on_demand(tiny_bundle) -> None:
    with Stream(tiny_bundle, SyntheticSource(frames=15, color=(160, 120), real_time=False)) as stream:
        for _ in stream:
            time.sleep(0.01)  # a slow consumer: nothing is dropped, the source waits
    assert stream.stats.processed == stream.stats.produced == 15
    assert stream.stats.dropped_by_backpressure == 0


def test_recording_with_colour_at_15_and_depth_at_30_fps_and_an_offset(tiny_bundle, tmp_path) -> None:
    from mutualsense.sources import record

    rec = tmp_path / "offset.db3"
    src = SyntheticSource(
        color=(160, 120), depth=(160, 120), color_fps=15, depth_fps=30, depth_offset_ms=7.0, frames=20
    )
    info = record(src, rec, frames=20)
    assert info.color_frames == 20 and info.depth_frames >= 39
    with mutualsense.open(tiny_bundle, source=str(rec)) as stream:
        results = list(stream)
    s = stream.stats
    assert s.produced == s.processed == len(results) == 20  # replayed on demand: every colour frame, once
    assert s.dropped_by_skew == s.dropped_by_backpressure == 0
    numbers = [r.color_frame_number for r in results]
    assert len(set(numbers)) == 20  # no stale duplicates
    skews = np.array([r.skew_ms for r in results])
    assert np.abs(skews - (-7.0)).max() <= 1.0, skews
