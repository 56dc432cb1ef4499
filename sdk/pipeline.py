"""The streaming pipeline: capture in its own thread, newest frameset wins, inference never blocks the camera.

``with mutualsense.open(bundle, source="synthetic") as stream: for result in stream: ...``

Counters are exact (design.md §8): every frameset the source delivered is either processed,
dropped for RGB-depth skew, or dropped by back-pressure (replaced in the one-slot buffer by a newer
one, or still waiting there when the stream is closed). Sources that are not live (a recording or
generator replayed as fast as possible) are read on demand and lose nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import cv2
import numpy as np

from mutualsense.align import DepthAligner
from mutualsense.backends.base import Backend
from mutualsense.bundle import Bundle
from mutualsense.errors import MutualSenseError, SourceError
from mutualsense.preprocess import preprocess_depth, preprocess_rgb
from mutualsense.results import SaliencyResult, find_objects, saliency_map
from mutualsense.sources.base import Source, SourceEnded, open_source
from mutualsense.sources.frameset import FrameSet

__all__ = ["PipelineStats", "Stream", "open"]

log = logging.getLogger(__name__)

SkewPolicy = Literal["drop", "flag"]
ResultCallback = Callable[[SaliencyResult], None]


@dataclass
class PipelineStats:
    """Counters of one stream; ``produced == processed + dropped_by_skew + dropped_by_backpressure``."""

    produced: int = 0
    processed: int = 0
    dropped_by_skew: int = 0
    dropped_by_backpressure: int = 0
    skew_flagged: int = 0
    read_timeouts: int = 0
    source_frame_gaps: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Prepared:
    """A frameset aligned and preprocessed in the capture thread, with its stage timings."""

    rgb: np.ndarray
    depth: np.ndarray
    aligned_depth: np.ndarray
    align_ms: float
    preprocess_ms: float
    finished: float  # monotonic time preparation ended


class _LatestSlot:
    """A one-item buffer where a new item replaces the old one (which counts as dropped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._closed = False

    def put(self, item: Any) -> bool:
        """Store ``item``; True when it replaced an item nobody took."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self._cond.notify()
            return replaced

    def get(self, timeout: float) -> tuple[Any, bool]:
        """(item or None, closed-and-empty)."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            self._cond.notify_all()
            return item, item is None and self._closed

    def wait_empty(self, stop: threading.Event, timeout: float = 0.05) -> None:
        """Block until the consumer took the item (or ``stop`` is set)."""
        with self._cond:
            while self._item is not None and not stop.is_set():
                self._cond.wait(timeout)

    def take_pending(self) -> Any:
        with self._cond:
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _make_backend(kind: str, bundle: Bundle, providers: list[str] | None, threads: int | None) -> Backend:
    if kind in ("ort", "onnxruntime"):
        from mutualsense.backends.onnxruntime import OnnxRuntimeBackend

        if threads is None:  # leave a core to the capture thread, which aligns and preprocesses the next frameset
            threads = max(1, (os.cpu_count() or 2) - 1)
        return OnnxRuntimeBackend(bundle, providers=providers, threads=threads)
    if kind in ("tensorrt", "trt"):
        from mutualsense.backends.tensorrt import TensorRTBackend

        return TensorRTBackend(bundle)
    raise MutualSenseError(f"unknown backend {kind!r}.", "use --backend ort or --backend tensorrt.")


class Stream:
    """A running pipeline: iterate for results, or register callbacks with :meth:`on_result` and :meth:`run`.

    Args:
        bundle: a bundle (or its folder) from ``mutualsense export``.
        source: a source spec (``camera``, ``camera:SERIAL``, ``synthetic?fps=30``, a recording path) or a Source.
        backend: ``ort`` (ONNX Runtime, everywhere) or ``tensorrt`` (an engine built for this device).
        max_skew_ms: RGB-depth sensor-timestamp skew limit; None accepts any skew.
        skew_policy: ``drop`` framesets over the limit, or ``flag`` them and keep going.
        threshold: saliency threshold for masks and objects.
        stall_timeout_s: a source that delivers nothing for this long is reported as stalled.
        threads: ONNX Runtime intra-op threads (default: all cores but one, which the capture thread
            uses to align and preprocess the next frameset while the model runs).
    """

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str],
        source: str | Source = "synthetic",
        backend: str = "ort",
        max_skew_ms: float | None = None,
        skew_policy: SkewPolicy = "drop",
        threshold: float = 0.5,
        stall_timeout_s: float = 5.0,
        read_timeout_ms: int = 200,
        providers: list[str] | None = None,
        threads: int | None = None,
    ) -> None:
        if skew_policy not in ("drop", "flag"):
            raise MutualSenseError(f"unknown skew policy {skew_policy!r}.", "use 'drop' or 'flag'.")
        self.bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(Path(bundle))
        self.source = open_source(source) if isinstance(source, str) else source
        self.spec = self.bundle.input_spec
        self.backend = _make_backend(backend, self.bundle, providers, threads)
        self.max_skew_ms, self.skew_policy, self.threshold = max_skew_ms, skew_policy, threshold
        self.stall_timeout_s, self.read_timeout_ms = stall_timeout_s, read_timeout_ms
        self.stats = PipelineStats()
        self._prepared = _LatestSlot()  # capture → inference
        self._inferred = _LatestSlot()  # inference → the caller's thread (postprocess)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._aligner: DepthAligner | None = None
        self._callbacks: list[ResultCallback] = []
        self._lock = threading.Lock()
        self._open = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Stream:
        self.backend.__enter__()
        try:
            self.source.start()
        except BaseException:
            self.backend.__exit__(None, None, None)
            raise
        self._open = True
        self._live = bool(getattr(self.source, "real_time", True))
        for target, name in ((self._capture, "capture"), (self._infer, "inference")):
            t = threading.Thread(target=target, name=f"{name}-{self.source.name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop capture, release the source and the backend; idempotent."""
        if not self._open:
            return
        self._open = False
        self._stop.set()
        for t in self._threads:
            t.join(timeout=max(2.0, self.read_timeout_ms / 1000 * 3))
            if t.is_alive():
                log.warning("thread %s did not stop in time", t.name)
        with self._lock:
            for slot in (self._prepared, self._inferred):
                if slot.take_pending() is not None:
                    self.stats.dropped_by_backpressure += 1
        self.stats.source_frame_gaps = self.source.counters.frame_gaps
        try:
            self.source.stop()
        finally:
            self.backend.__exit__(None, None, None)

    # ------------------------------------------------------------------ capture thread
    def _capture(self) -> None:
        last = time.monotonic()
        # A live source (camera, anything paced in real time) is never made to wait: the newest
        # frameset wins. A recording or generator replayed as fast as possible is read on demand
        # instead, so nothing is decoded only to be dropped.
        try:
            while not self._stop.is_set():
                if not self._live:
                    self._prepared.wait_empty(self._stop)
                    if self._stop.is_set():
                        break
                try:
                    fs = self.source.read(self.read_timeout_ms)
                except SourceEnded:
                    break
                if fs is None:
                    with self._lock:
                        self.stats.read_timeouts += 1
                    if time.monotonic() - last > self.stall_timeout_s:
                        raise SourceError(
                            f"source {self.source.name} delivered nothing for {self.stall_timeout_s:.1f} s.",
                            "check the cable/USB port (a USB 3 port is needed at full rate) or the recording.",
                        )
                    continue
                last = time.monotonic()
                flagged = self.max_skew_ms is not None and abs(fs.skew_ms) > self.max_skew_ms
                with self._lock:
                    self.stats.produced += 1
                    if flagged and self.skew_policy == "drop":
                        self.stats.dropped_by_skew += 1
                        continue
                prepared = self.prepare(fs)
                with self._lock:
                    if self._prepared.put((fs, flagged, prepared)):
                        self.stats.dropped_by_backpressure += 1
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._error = exc
        finally:
            self._prepared.close()

    # ------------------------------------------------------------------ inference thread
    def _infer(self) -> None:
        try:
            while not self._stop.is_set():
                item, finished = self._prepared.get(timeout=0.1)
                if finished:
                    break
                if item is None:
                    continue
                fs, flagged, prepared = item
                t0 = time.monotonic()
                logits = self.backend.infer({"rgb": prepared.rgb, "depth": prepared.depth})["saliency"][0, 0]
                inferred = (fs, flagged, prepared, logits, t0, time.monotonic())
                if not self._live:
                    self._inferred.wait_empty(self._stop)
                with self._lock:
                    if self._inferred.put(inferred):
                        self.stats.dropped_by_backpressure += 1
        except BaseException as exc:
            self._error = self._error or exc
            self._stop.set()
        finally:
            self._inferred.close()

    # ------------------------------------------------------------------ processing
    def prepare(self, fs: FrameSet) -> _Prepared:
        """Align and preprocess one frameset (runs in the capture thread, overlapping inference)."""
        t0 = time.monotonic()
        spec = self.spec
        grid = (spec.height, spec.width)
        if self._aligner is None or not self._aligner.matches_frameset(fs, grid):
            self._aligner = DepthAligner(fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color, grid)
        depth = self._aligner(fs.depth, fs.depth_scale)
        t1 = time.monotonic()
        rgb = preprocess_rgb(fs.color, spec)[None]
        d = preprocess_depth(depth, fs.depth_scale, spec)[None]
        if self.bundle.batch > 1:
            rgb, d = np.repeat(rgb, self.bundle.batch, axis=0), np.repeat(d, self.bundle.batch, axis=0)
        t2 = time.monotonic()
        return _Prepared(rgb, d, depth, 1000 * (t1 - t0), 1000 * (t2 - t1), t2)

    def process(self, fs: FrameSet, flagged: bool = False) -> SaliencyResult:
        """Run one frameset through every stage in the calling thread (no queues, no drops)."""
        prepared = self.prepare(fs)
        t0 = time.monotonic()
        logits = self.backend.infer({"rgb": prepared.rgb, "depth": prepared.depth})["saliency"][0, 0]
        return self.postprocess(fs, flagged, prepared, logits, t0, time.monotonic())

    def postprocess(
        self,
        fs: FrameSet,
        flagged: bool,
        prepared: _Prepared,
        logits: np.ndarray,
        inference_started: float,
        inference_finished: float,
    ) -> SaliencyResult:
        """Logits → saliency map at colour resolution, salient objects with distances, stage timings."""
        t0 = time.monotonic()
        spec = self.spec
        color_size = (fs.color.shape[1], fs.color.shape[0])
        prob = saliency_map(logits, (spec.width, spec.height))
        depth_m = prepared.aligned_depth.astype(np.float32) * fs.depth_scale
        objects = find_objects(prob, depth_m, color_size, self.threshold)
        full = prob if prob.shape[::-1] == color_size else cv2.resize(prob, color_size, interpolation=cv2.INTER_LINEAR)
        done = time.monotonic()
        total = 1000 * (done - fs.arrival_time)
        stages = {
            "align": prepared.align_ms,
            "preprocess": prepared.preprocess_ms,
            # between threads: prepared → inference started, inferred → postprocess started
            "queue": 1000 * ((inference_started - prepared.finished) + (t0 - inference_finished)),
            "inference": 1000 * (inference_finished - inference_started),
            "postprocess": 1000 * (done - t0),
        }
        # the rest is the wait for the capture thread to pick the frameset up
        latency = {"wait": max(0.0, total - sum(stages.values())), **stages, "total": total}
        return SaliencyResult(
            saliency=full,
            objects=objects,
            threshold=self.threshold,
            color_frame_number=fs.color_frame_number,
            depth_frame_number=fs.depth_frame_number,
            color_timestamp_ms=fs.color_timestamp_ms,
            depth_timestamp_ms=fs.depth_timestamp_ms,
            clock_domain=fs.clock_domain,
            skew_ms=fs.skew_ms,
            skew_flagged=flagged,
            arrival_time=fs.arrival_time,
            result_time=done,
            latency_ms=latency,
            source=fs.source,
            frameset=fs,
        )

    def __iter__(self) -> Iterator[SaliencyResult]:
        if not self._open:
            raise MutualSenseError("the stream is not open.", "use `with mutualsense.open(...) as stream:`.")
        while True:
            item, finished = self._inferred.get(timeout=0.1)
            if finished:
                if self._error is not None:
                    raise self._error
                return
            if item is None:
                continue
            result = self.postprocess(*item)
            with self._lock:
                self.stats.processed += 1
                if result.skew_flagged:
                    self.stats.skew_flagged += 1
            for cb in self._callbacks:
                cb(result)
            yield result

    def on_result(self, fn: ResultCallback) -> ResultCallback:
        """Call ``fn(result)`` for every result (usable as a decorator); drive it with :meth:`run`."""
        self._callbacks.append(fn)
        return fn

    def run(self, max_results: int | None = None) -> PipelineStats:
        """Process until the source ends (or ``max_results``), calling the registered callbacks."""
        for n, _ in enumerate(self, start=1):
            if max_results is not None and n >= max_results:
                break
        return self.stats


def open(  # noqa: A001 - mirrors the builtin on purpose: mutualsense.open(bundle, source=...)
    bundle: Bundle | str | os.PathLike[str], source: str | Source = "synthetic", **kwargs: Any
) -> Stream:
    """Open a stream: ``with mutualsense.open("bundle", source="camera") as stream: for r in stream: ...``.

    Keyword arguments are those of :class:`Stream`.
    """
    return Stream(bundle, source, **kwargs)
