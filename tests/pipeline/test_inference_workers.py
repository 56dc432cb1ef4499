"""Several inference calls at once (ONNX Runtime): results leave in order, counters stay exact, the output is
that of one worker, a failure stops every thread, and a backend that cannot run calls at once is refused."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import mutualsense
from mutualsense.errors import MutualSenseError
from mutualsense.pipeline.inference import InferenceWorkers
from mutualsense.sources.synthetic import SyntheticSource


def _replay(n: int = 40, **kw: object) -> SyntheticSource:
    return SyntheticSource(frames=n, seed=5, color=(160, 120), real_time=False, **kw)  # type: ignore[arg-type]


def test_two_workers_give_the_results_of_one_in_order_and_lose_nothing(tiny_bundle) -> None:
    runs = {}
    for workers in (1, 2):
        with mutualsense.open(tiny_bundle, source=_replay(), threads=1, inference_workers=workers) as stream:
            runs[workers] = [(r.color_frame_number, r.model_saliency) for r in stream]
        assert stream.stats.processed == stream.stats.produced == 40
        assert stream.stats.dropped_by_backpressure == 0
    assert [n for n, _ in runs[2]] == [n for n, _ in runs[1]] == sorted(n for n, _ in runs[1])
    for (_, a), (_, b) in zip(runs[1], runs[2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_two_workers_keep_each_cameras_order_with_several_cameras(tiny_bundle) -> None:
    sources = [_replay(25), SyntheticSource(frames=30, seed=6, color=(160, 120), real_time=False)]
    with mutualsense.open(tiny_bundle, sources=sources, threads=1, inference_workers=2) as stream:
        seen: dict[str, list[int]] = {}
        for r in stream:
            seen.setdefault(r.source, []).append(r.color_frame_number)
    assert sorted(len(v) for v in seen.values()) == [25, 30]
    for numbers in seen.values():
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for stats in stream.camera_stats.values():
        assert stats.produced == stats.processed


class _Backend:
    """Counts calls at once; fails on call ``fail_at`` when given."""

    name, concurrent = "test", True

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = self.now = self.most = 0
        self.fail_at = fail_at
        self._lock = threading.Lock()

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            self.calls += 1
            call, self.now = self.calls, self.now + 1
            self.most = max(self.most, self.now)
        try:
            if call == self.fail_at:
                raise RuntimeError("the backend broke")
            time.sleep(0.03 if call % 2 else 0.005)  # odd calls slow: later framesets finish first
            n, _, h, w = feed["depth"].shape
            return {"saliency": np.full((n, 1, h, w), float(call), np.float32)}
        finally:
            with self._lock:
                self.now -= 1


def test_calls_overlap_and_a_failure_stops_every_worker(tiny_bundle) -> None:
    stream = mutualsense.open(tiny_bundle, source=_replay(30), threads=1, inference_workers=2)
    backend = stream._inference.backend = _Backend()  # the workers call it; the stream still opens its own
    with stream:
        numbers = [r.color_frame_number for r in stream]
    assert numbers == sorted(numbers) and len(numbers) == 30, "handed on in order though finished out of order"
    assert backend.most == 2, "two calls ran at once"
    stream = mutualsense.open(tiny_bundle, source=_replay(30), threads=1, inference_workers=3)
    stream._inference.backend = _Backend(fail_at=7)
    with stream, pytest.raises(RuntimeError, match="the backend broke"):
        for _ in stream:
            pass
    assert not any(t.is_alive() for t in stream._threads)


@pytest.mark.parametrize("workers", [0, -1, True, 1.5])
def test_a_bad_worker_count_is_refused(workers: object) -> None:
    with pytest.raises(MutualSenseError, match="inference_workers must be a positive integer"):
        _workers(_Backend(), workers)


def test_a_backend_that_runs_one_call_at_a_time_is_refused_more_workers() -> None:
    backend = _Backend()
    backend.concurrent, backend.name = False, "tensorrt"
    with pytest.raises(MutualSenseError, match="the tensorrt backend runs one inference at a time") as err:
        _workers(backend, 2)
    assert "inference_workers=1" in str(err.value)
    assert _workers(backend, 1).workers == 1


def _workers(backend: object, workers: object) -> InferenceWorkers:
    event = threading.Event()
    return InferenceWorkers(
        [],
        backend,
        1,
        event,
        event,
        event,
        threading.Lock(),
        lambda *_: None,
        lambda _: None,
        workers,  # type: ignore[arg-type]
    )
