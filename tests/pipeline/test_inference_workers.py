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


@pytest.mark.parametrize("smooth_s", [0.0, 0.2])  # without smoothing the workers find the objects ahead
def test_two_workers_give_the_results_of_one_in_order_and_lose_nothing(tiny_bundle, smooth_s: float) -> None:
    runs = {}
    for workers in (1, 2):
        source = _replay(motion="object")
        with mutualsense.open(tiny_bundle, source=source, threads=1, inference_workers=workers, smooth_s=smooth_s) as s:
            runs[workers] = list(s)
        assert s.stats.processed == s.stats.produced == 40
        assert s.stats.dropped_by_backpressure == 0
    one, two = runs[1], runs[2]
    assert [r.color_frame_number for r in two] == [r.color_frame_number for r in one]
    assert [r.color_frame_number for r in one] == sorted(r.color_frame_number for r in one)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a.model_saliency, b.model_saliency)
        assert a.objects == b.objects  # 3D fields and track ids included: tracking still sees them in order
    assert any(o.track_id is not None for r in two for o in r.objects)
    for r in two:  # the stages still add up to the total, the postprocess done ahead counted as postprocess
        stages = sum(v for k, v in r.latency_ms.items() if k != "total")
        assert stages == pytest.approx(r.latency_ms["total"], rel=1e-6, abs=1e-6)
        assert r.latency_ms["postprocess"] > 0 and r.latency_ms["queue"] > -0.05


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


class _SlowFirstCall(_Backend):
    """The first call takes 0.4 s, the others 5 ms; records how many calls finished while the first ran."""

    def __init__(self) -> None:
        super().__init__()
        self.first_running = threading.Event()
        self.finished_meanwhile = 0

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            self.calls += 1
            call = self.calls
        if call == 1:
            self.first_running.set()
            time.sleep(0.4)
            self.first_running.clear()
        else:
            time.sleep(0.005)
            self.finished_meanwhile += self.first_running.is_set()
        n, _, h, w = feed["depth"].shape
        return {"saliency": np.full((n, 1, h, w), float(call), np.float32)}


def test_a_worker_ahead_of_an_earlier_ticket_goes_on_working(tiny_bundle) -> None:
    stream = mutualsense.open(tiny_bundle, source=_replay(20), threads=1, inference_workers=2)
    backend = stream._inference.backend = _SlowFirstCall()
    with stream:
        numbers = [r.color_frame_number for r in stream]
    assert numbers == sorted(numbers) and len(numbers) == 20
    # waiting for its turn, the second worker would finish one call while the first runs; it finishes two,
    # and no more: at most one finished batch per worker waits to be handed on
    assert backend.finished_meanwhile == 2


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


def test_the_stream_knows_each_backend_name_before_opening_one(tiny_bundle) -> None:
    """The stream checks the worker count against the backend's class before an engine build: every name of
    ONNX Runtime takes several workers, every name of TensorRT is refused them."""
    for name in ("ort", "onnxruntime"):
        assert mutualsense.open(tiny_bundle, source=_replay(2), backend=name, inference_workers=2).backend.concurrent
    for name in ("tensorrt", "trt"):
        with pytest.raises(MutualSenseError, match="the tensorrt backend runs one inference at a time"):
            mutualsense.open(tiny_bundle, source=_replay(2), backend=name, inference_workers=2)


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
