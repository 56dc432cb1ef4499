"""The streaming pipeline: capture in its own thread, newest frameset wins, inference never blocks the camera.

``with mutualsense.open(bundle, source="synthetic") as stream: for result in stream: ...``

Counters are exact (docs/design.md §8): every frameset the source delivered is either processed,
dropped for RGB-depth skew, or dropped by back-pressure (replaced in the one-slot buffer by a newer
one, or still waiting there when the stream is closed). Sources that are not live (a recording or
generator replayed as fast as possible) are read on demand and lose nothing.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from mutualsense.backends.batching import pad_batch
from mutualsense.backends.factory import backend_class, open_backend
from mutualsense.bundle import Bundle
from mutualsense.errors import MutualSenseError, SourceError
from mutualsense.pipeline.inference import DevicePreparation, InferenceWorkers, device_preparation
from mutualsense.pipeline.opencv_threads import OpenCVThreads
from mutualsense.pipeline.postprocess import locate_objects, make_result
from mutualsense.pipeline.prepare import FramePreparer, Prepared
from mutualsense.pipeline.sinks import Sink, SinkGroup
from mutualsense.pipeline.slots import CameraState, reconnect
from mutualsense.pipeline.stats import PipelineStats, advice, skew_stall_error, stream_stats
from mutualsense.results import SaliencyResult
from mutualsense.sources.base import Source, SourceEnded
from mutualsense.sources.frameset import FrameSet
from mutualsense.sources.spec import open_source
from mutualsense.spatial.step import SpatialOptions, SpatialStep

__all__ = ["Stream"]

log = logging.getLogger(__name__)

SkewPolicy = Literal["drop", "flag"]
ResultCallback = Callable[[SaliencyResult], None]


class Stream:
    """A running pipeline: iterate for results, or register callbacks with :meth:`on_result` and :meth:`run`.

    Args:
        bundle: a bundle (or its folder) from ``mutualsense export``.
        source: a source spec (``camera``, ``camera:SERIAL``, ``synthetic?fps=30``, a recording path) or a Source.
        sources: several sources at once (one capture thread each, one shared backend); results carry
            their source's name in ``SaliencyResult.source``. When the bundle's batch is at least the number
            of sources, framesets of different cameras are inferred in one batch; otherwise in turn.
        backend: ``ort`` (ONNX Runtime, everywhere) or ``tensorrt`` (an engine built for this device).
        max_skew_ms: RGB-depth sensor-timestamp skew limit; None accepts any skew.
        skew_policy: ``drop`` framesets over the limit, or ``flag`` them and keep going.
        threshold: saliency threshold for masks and objects.
        stall_timeout_s: a source that delivers nothing for this long is reported as stalled.
        threads: ONNX Runtime intra-op threads (default: all cores but one, which the capture thread
            uses to align and preprocess the next frameset while the model runs).
        reconnect: restart a source that fails or stalls (default: the source's ``reconnectable``: live
            cameras yes, files and generators no), up to ``reconnect_attempts`` times with back-off doubling
            from ``reconnect_backoff_s`` (at most 8 s); every attempt is counted in ``stats.reconnects``.
        sinks: consumers of every result (overlay pictures, web viewer, publisher, status line; see
            :class:`~mutualsense.pipeline.sinks.Sink`), started and stopped with the stream.
        objects_3d: locate objects in 3D and track them (``obj.position_m``, ``extent_m``, ``track_id``,
            ``velocity_mps``; see :mod:`mutualsense.spatial.objects3d` and :mod:`mutualsense.spatial.tracking`).
        camera_to_robot: optional 4×4 rigid transform (camera frame → robot frame): adds
            ``obj.position_robot_m`` and ``obj.extent_robot_m``.
        points: up to this many 3D points per object in ``obj.points_m`` (0: none, at no cost).
        smooth_s: time constant of the saliency map's temporal smoothing in seconds (0: off).
        build_engine: with ``backend="tensorrt"``, build an engine for this GPU into the bundle when it
            has none (minutes, once); False refuses with the command to run.
        opencv_threads: OpenCV's thread count while the stream is open (default 1: its spinning workers
            would take the CPU of the stream's threads; see :mod:`mutualsense.pipeline.opencv_threads`);
            None leaves OpenCV's setting alone.
        inference_workers: inference calls that may run at once (ONNX Runtime only; results still leave
            in order). On a CPU, 2 workers with ``threads=1`` use two cores better than one call on two
            threads (:mod:`mutualsense.pipeline.inference`).
        gpu_prepare: align and preprocess on the GPU, in the inference call (the raw frames go to the
            device once; :mod:`mutualsense.tensorrt.device_frames`). None (default): whenever the backend
            can (TensorRT with a plugin library that has the frame kernels); False: always on the CPU (the
            reference path); True: refuse to open where the backend cannot.
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
        sources: Sequence[str | Source] | None = None,
        reconnect: bool | None = None,
        reconnect_attempts: int = 5,
        reconnect_backoff_s: float = 0.5,
        sinks: Sequence[Sink] = (),
        objects_3d: bool = True,
        camera_to_robot: Any = None,
        points: int = 0,
        smooth_s: float = 0.0,
        build_engine: bool = True,
        opencv_threads: int | None = 1,
        inference_workers: int = 1,
        gpu_prepare: bool | None = None,
    ) -> None:
        if skew_policy not in ("drop", "flag"):
            raise MutualSenseError(f"unknown skew policy {skew_policy!r}.", "use 'drop' or 'flag'.")
        self._opencv = OpenCVThreads(opencv_threads)
        chosen = backend_class(backend)  # its worker count is checked before an engine build
        InferenceWorkers.check(inference_workers, chosen.name, getattr(chosen, "concurrent", False))
        self.bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(Path(bundle))
        opened = [open_source(s) if isinstance(s, str) else s for s in (sources or [source])]
        if not opened:
            raise MutualSenseError("no source given.", "pass source=... or sources=[...].")
        names = [s.name for s in opened]
        # results and counters are tagged with a unique name (the sources themselves keep theirs);
        # live cameras are restarted after a failure (unplugged, USB reset); files and generators end
        self.cameras = [
            CameraState(
                s,
                s.name if names.count(s.name) == 1 else f"{s.name}#{i}",
                live=s.real_time,
                reconnect=s.reconnectable if reconnect is None else reconnect,
            )
            for i, s in enumerate(opened)
        ]
        self.reconnect_attempts, self.reconnect_backoff_s = reconnect_attempts, reconnect_backoff_s
        self.source = opened[0]
        self.spec = self.bundle.input_spec
        # no spinning: ONNX Runtime's idle threads would take the CPU the capture and result threads need
        self.backend = open_backend(backend, self.bundle, providers, threads, spin=False, build_engine=build_engine)
        self.max_skew_ms, self.skew_policy, self.threshold = max_skew_ms, skew_policy, threshold
        self.stall_timeout_s, self.read_timeout_ms = stall_timeout_s, read_timeout_ms
        self.spatial = SpatialStep(
            SpatialOptions(locate=objects_3d, camera_to_robot=camera_to_robot, max_points=points, smooth_s=smooth_s)
        )
        self.stats = PipelineStats()  # all cameras together; per camera: camera_stats
        self._stop, self._wake_inference, self._wake_results = threading.Event(), threading.Event(), threading.Event()
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None  # the first failure of any thread, re-raised to the caller
        self.preparer = FramePreparer(self.spec)
        self.gpu_prepare = gpu_prepare
        self.device: DevicePreparation | None = None  # set on entering, when the backend prepares frames
        self._callbacks: list[ResultCallback] = []
        self._sinks = SinkGroup(sinks)
        # windows for status(): a fixed length, so a stream that runs for days keeps flat memory
        self._latencies: deque[float] = deque(maxlen=300)
        self._skews: deque[float] = deque(maxlen=300)
        self._opened_at, self._lock, self._open = time.monotonic(), threading.Lock(), False
        self._inference = InferenceWorkers(
            self.cameras,
            self.backend,
            self.bundle.batch,
            self._stop,
            self._wake_inference,
            self._wake_results,
            self._lock,
            self._count,
            self._fail,
            inference_workers,
            # with several workers, each finds its framesets' objects before its turn (not with smoothing:
            # that needs the framesets in order)
            ahead=functools.partial(locate_objects, spec=self.spec, threshold=threshold, spatial=self.spatial)
            if inference_workers > 1 and smooth_s <= 0
            else None,
        )

    @property
    def camera_stats(self) -> dict[str, PipelineStats]:
        """Counters per source name (each obeys produced = processed + dropped_by_skew + dropped_by_backpressure)."""
        return {cam.name: cam.stats for cam in self.cameras}

    def _fail(self, exc: BaseException) -> None:
        """A thread failed: keep the first error (the consumer re-raises it) and stop every thread."""
        self._error = self._error or exc
        self._stop.set()

    def _count_locked(self, cam: CameraState, counter: str) -> None:
        with self._lock:
            self._count(cam, counter)

    def _count(self, cam: CameraState, counter: str, n: int = 1) -> None:
        """Add to one counter of a camera and of the total (caller holds the lock)."""
        setattr(cam.stats, counter, getattr(cam.stats, counter) + n)
        setattr(self.stats, counter, getattr(self.stats, counter) + n)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Stream:
        self.preparer.warm_up()  # before any camera starts: numba compiles the kernels on first use
        self._sinks.start(self)
        started: list[Source] = []
        try:
            self.backend.__enter__()
            try:
                self.device = self._inference.device = device_preparation(self.backend, self.spec, self.gpu_prepare)
                for cam in self.cameras:
                    cam.source.start()
                    started.append(cam.source)
            except BaseException:
                for src in started:
                    src.stop()
                self.backend.__exit__(None, None, None)
                raise
        except BaseException:
            self._sinks.stop()
            raise
        self._open = True
        self._opened_at = time.monotonic()
        self._opencv.acquire()
        for cam in self.cameras:
            t = threading.Thread(target=self._capture, args=(cam,), name=f"capture-{cam.name}", daemon=True)
            t.start()
            self._threads.append(t)
        self._threads += self._inference.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop capture, release the sources and the backend; idempotent."""
        if not self._open:
            return
        self._open = False
        self._stop.set()
        self._wake_inference.set()
        for t in self._threads:
            t.join(timeout=max(2.0, self.read_timeout_ms / 1000 * 3))
            if t.is_alive():
                log.warning("thread %s did not stop in time", t.name)
        with self._lock:
            for cam in self.cameras:
                for slot in (cam.prepared, cam.inferred):
                    if slot.take_pending() is not None:
                        self._count(cam, "dropped_by_backpressure")
                cam.stats.source_frame_gaps = cam.source.counters.frame_gaps
            self.stats.source_frame_gaps = sum(cam.stats.source_frame_gaps for cam in self.cameras)
        try:
            for cam in self.cameras:
                cam.source.stop()
        finally:
            try:
                self.backend.__exit__(None, None, None)
            finally:
                self._sinks.stop()
                self._opencv.release()

    def advice(self) -> list[str]:
        """What to change when a camera lost frames (USB bandwidth) or framesets were dropped for skew."""
        return advice(self.camera_stats)

    def status(self) -> dict[str, Any]:
        """What the status line and the web viewer show (see :func:`~mutualsense.pipeline.stats.stream_stats`):
        rates since the stream opened, latency percentiles and median |skew| over the last results."""
        return stream_stats(self.stats, self._latencies, self._skews, self._opened_at)

    def add_sink(self, sink: Sink) -> Sink:
        """Run ``sink`` on every result (see :class:`~mutualsense.pipeline.sinks.Sink`); starts it at once
        when the stream is open. Returns the sink."""
        self._sinks.add(sink, self if self._open else None)
        return sink

    # ------------------------------------------------------------------ capture threads
    def _capture(self, cam: CameraState) -> None:
        try:
            while True:
                try:
                    self._capture_frames(cam)
                    return  # the source ended, or the stream was closed
                except SourceError as exc:
                    if not cam.reconnect or self._stop.is_set():
                        raise
                    counted = functools.partial(self._count_locked, cam, "reconnects")  # raises when it gives up
                    reconnect(cam, exc, self.reconnect_attempts, self.reconnect_backoff_s, self._stop, counted)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._fail(exc)
        finally:
            cam.prepared.close()
            self._wake_inference.set()

    def _capture_frames(self, cam: CameraState) -> None:
        last = last_kept = time.monotonic()
        kept_any, skew_ms = False, 0.0
        # A live source (camera, anything paced in real time) is never made to wait: the newest
        # frameset wins. A recording or generator replayed as fast as possible is read on demand
        # instead, so nothing is decoded only to be dropped. With several workers the next one is
        # prepared while the slot is full, so no worker waits for a prepare (one worker never does).
        ahead = self._inference.workers > 1
        while not self._stop.is_set():
            if not cam.live and not ahead:
                cam.prepared.wait_empty(self._stop)
                if self._stop.is_set():
                    break
            try:
                fs = cam.source.read(self.read_timeout_ms)
            except SourceEnded:
                if not kept_any and cam.stats.dropped_by_skew:
                    raise skew_stall_error(
                        cam.name, self.max_skew_ms, skew_ms, f"every one of the {cam.stats.dropped_by_skew} framesets"
                    ) from None
                break
            if fs is None:
                self._count_locked(cam, "read_timeouts")
                if time.monotonic() - last > self.stall_timeout_s:
                    raise SourceError(
                        f"source {cam.name} delivered nothing for {self.stall_timeout_s:.1f} s.",
                        "check the cable/USB port (a USB 3 port is needed at full rate) or the recording.",
                    )
                continue
            last = time.monotonic()
            if fs.source != cam.name:  # two sources of the same name: tag with the stream's unique name
                fs = replace(fs, source=cam.name)
            flagged = self.max_skew_ms is not None and abs(fs.skew_ms) > self.max_skew_ms
            with self._lock:
                self._count(cam, "produced")
                if flagged and self.skew_policy == "drop":
                    self._count(cam, "dropped_by_skew")
                    skew_ms = fs.skew_ms
                    if last - last_kept > self.stall_timeout_s:
                        how = f"every frameset of the last {self.stall_timeout_s:.0f} s"
                        raise skew_stall_error(cam.name, self.max_skew_ms, skew_ms, how)
                    continue
            kept_any, last_kept = True, last
            prepared = None if self.device is not None else self.prepare(fs)  # the device: in the inference call
            if not cam.live and ahead:
                cam.prepared.wait_empty(self._stop)  # on stop, put counts it dropped: counters stay exact
            with self._lock:
                if cam.prepared.put((fs, flagged, prepared)):
                    self._count(cam, "dropped_by_backpressure")
            self._wake_inference.set()

    def prepare(self, fs: FrameSet) -> Prepared:
        """Align and preprocess one frameset on the CPU (in the capture thread, overlapping inference, unless
        the backend does both on its device)."""
        return self.preparer.prepare(fs)

    def process(self, fs: FrameSet, flagged: bool = False) -> SaliencyResult:
        """Run one frameset through every stage in the calling thread (no queues, no drops)."""
        if self.device is not None:
            outputs, (prepared,), t0, t1 = self.device.infer([fs])
            logits = outputs["saliency"][0, 0]
        else:
            prepared = self.prepare(fs)
            batch = self.bundle.batch
            rgb, depth = pad_batch(prepared.rgb, batch), pad_batch(prepared.depth, batch)
            t0 = time.monotonic()
            logits = self.backend.infer({"rgb": rgb, "depth": depth})["saliency"][0, 0]
            t1 = time.monotonic()
        return make_result(fs, flagged, prepared, logits, t0, t1, self.spec, self.threshold, self.spatial)

    def __iter__(self) -> Iterator[SaliencyResult]:
        if not self._open:
            raise MutualSenseError("the stream is not open.", "use `with mutualsense.open(...) as stream:`.")
        turn = 0
        while True:
            item, cam = None, None
            n = len(self.cameras)
            for i in range(n):  # each camera in turn
                cam = self.cameras[(turn + i) % n]
                item = cam.inferred.take_pending()
                if item is not None:
                    turn = (turn + i + 1) % n
                    break
            if item is None or cam is None:
                if all(c.inferred.finished for c in self.cameras):
                    if self._error is not None:
                        raise self._error
                    return
                self._wake_results.wait(0.05)
                self._wake_results.clear()
                continue
            fs, flagged, prepared, logits, started, finished, located = item
            result = make_result(
                fs, flagged, prepared, logits, started, finished, self.spec, self.threshold, self.spatial, located
            )
            with self._lock:
                self._count(cam, "processed")
                if result.skew_flagged:
                    self._count(cam, "skew_flagged")
            self._latencies.append(result.latency_ms["total"])
            self._skews.append(result.skew_ms)
            for cb in self._callbacks:
                cb(result)
            self._sinks.handle(result, self)
            yield result

    def on_result(self, fn: ResultCallback) -> ResultCallback:
        """Call ``fn(result)`` for every result (usable as a decorator); drive it with :meth:`run`."""
        self._callbacks.append(fn)
        return fn

    def run(self, max_results: int | None = None) -> PipelineStats:
        """Process until the source ends (or ``max_results``), calling the registered callbacks and sinks."""
        for n, _ in enumerate(self, start=1):
            if max_results is not None and n >= max_results:
                break
        return self.stats
