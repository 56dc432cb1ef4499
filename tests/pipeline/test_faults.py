"""Faults while streaming: a camera that fails and comes back, one that never does, a source that raises."""

from __future__ import annotations

import threading
import time

import pytest

from mutualsense.errors import SourceError
from mutualsense.pipeline import Stream
from mutualsense.sources.base import Source
from mutualsense.sources.frameset import FrameSet
from mutualsense.sources.synthetic import SyntheticSource


class FlakyCamera(Source):
    """A live camera that fails after ``fail_after`` framesets; restarts succeed ``recoveries`` times."""

    real_time = True
    reconnectable = True

    def __init__(self, fail_after: int, recoveries: int, total: int = 12) -> None:
        super().__init__("flaky")
        self.fail_after, self.recoveries, self.total = fail_after, recoveries, total
        self.starts = self.delivered = 0
        self._inner = SyntheticSource(color=(160, 120), depth=(160, 120), seed=9)

    def _start(self) -> None:
        self.starts += 1
        if self.starts > 1 + self.recoveries:
            raise SourceError("camera flaky not found.", "plug it in.")
        self._inner.start()
        self.since_start = 0

    def _stop(self) -> None:
        self._inner.stop()

    def _read(self, timeout_ms: int) -> FrameSet | None:
        if self.delivered >= self.total:
            from mutualsense.sources.base import SourceEnded

            raise SourceEnded(self.name)
        if self.since_start >= self.fail_after:
            raise SourceError("camera flaky disconnected (USB reset).", "check the cable.")
        self.since_start += 1
        self.delivered += 1
        time.sleep(0.01)
        return self._inner.read(timeout_ms)


def test_a_camera_that_comes_back_is_reconnected_and_counted(tiny_bundle) -> None:
    cam = FlakyCamera(fail_after=4, recoveries=5)
    with Stream(tiny_bundle, cam, reconnect_backoff_s=0.01) as stream:
        results = list(stream)
    s = stream.stats
    assert cam.delivered == 12 and s.produced == 12
    assert s.reconnects == 2 and cam.starts == 3  # failed after frames 4 and 8, restarted twice
    assert s.produced == s.processed + s.dropped_by_skew + s.dropped_by_backpressure and len(results) == s.processed


def test_a_camera_that_never_comes_back_ends_with_a_clear_error_and_no_thread(tiny_bundle) -> None:
    before = threading.active_count()
    cam = FlakyCamera(fail_after=3, recoveries=0)
    t = time.monotonic()
    stream = Stream(tiny_bundle, cam, reconnect_attempts=3, reconnect_backoff_s=0.01)
    with pytest.raises(SourceError, match="3 reconnection attempts did not bring it back") as info, stream:
        list(stream)
    assert time.monotonic() - t < 5 and "plug it in" in (info.value.remedy or "")
    assert stream.stats.reconnects == 3 and stream.stats.produced == 3
    assert threading.active_count() == before


def test_files_and_generators_are_not_reconnected(tiny_bundle) -> None:
    cam = FlakyCamera(fail_after=2, recoveries=5)
    with pytest.raises(SourceError, match="disconnected"), Stream(tiny_bundle, cam, reconnect=False) as stream:
        list(stream)
    assert stream.stats.reconnects == 0 and stream.stats.produced == 2
    assert Stream(tiny_bundle, SyntheticSource(frames=1)).cameras[0].reconnect is False
