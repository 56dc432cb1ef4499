"""The stream's inference threads: take the prepared framesets of every camera, infer them in the bundle's
batch, and hand the results on in the order the framesets were taken.

With one worker (the default) inference runs one call at a time. A backend whose calls may run at
once (ONNX Runtime: ``concurrent = True``) can have several workers, each call on its own core: on a
CPU, two single-threaded calls at once do more than one call on two threads (docs/design.md §9).
Results still leave in order: each batch takes a ticket when its framesets are taken, and is handed
on only when every earlier ticket has been, so a recording is replayed exactly and a camera's results
never go back in time. A worker that finishes before an earlier ticket leaves its results for whoever
hands on next and goes back to work, rather than waiting for its turn with a core idle. With several
workers, each also does the order-free part of postprocessing for its framesets before its turn
(``ahead``), so the result thread keeps only tracking.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from mutualsense.backends.batching import pad_batch
from mutualsense.errors import MutualSenseError
from mutualsense.pipeline.slots import CameraState

__all__ = ["DevicePreparation", "InferenceWorkers", "device_preparation"]

log = logging.getLogger(__name__)

Ready = list[tuple[CameraState, Any]]
Inferred = tuple[Ready, np.ndarray, float, float, list[Any]]


class DevicePreparation(Protocol):
    """Align + preprocess + inference of raw framesets on the backend's device, in one call
    (:class:`~mutualsense.tensorrt.device_frames.DeviceFrames`)."""

    def infer(self, framesets: Sequence[Any]) -> tuple[dict[str, np.ndarray], list[Any], float, float]:
        """(outputs, each frameset's Prepared, host time the engine's part began, ended)."""
        ...


def device_preparation(backend: Any, spec: Any, wanted: bool | None) -> DevicePreparation | None:
    """The backend's own align + preprocess on its device (``backend.device_frames(spec)``), when it offers
    one and ``wanted`` (a stream's ``gpu_prepare``) is not False; refuses ``wanted=True`` where it cannot."""
    offer = getattr(backend, "device_frames", None)
    device = offer(spec) if offer is not None and wanted is not False else None
    if device is None and wanted:
        raise MutualSenseError(
            f"gpu_prepare=True, but the {getattr(backend, 'name', 'chosen')} backend cannot align and "
            "preprocess on the GPU (that needs the tensorrt backend with a plugin library built with the frame "
            "kernels, and an engine with float32 inputs).",
            "leave gpu_prepare out to prepare frames wherever the backend can, or rebuild the plugin and "
            "engine with `mutualsense build-engine`.",
        )
    if device is not None:
        log.info("aligning and preprocessing on the GPU (the backend's frame kernels)")
    return device


class InferenceWorkers:
    """``workers`` threads running ``backend.infer`` for the cameras of one stream.

    Args:
        cameras: the stream's cameras (their ``prepared`` slots are read, ``inferred`` slots written).
        backend: an open backend; more than one worker needs ``backend.concurrent``.
        batch: the bundle's fixed batch.
        stop, wake_inference, wake_results: the stream's events.
        lock: the stream's counter lock; ``count(cam, counter)`` is called holding it.
        on_error: called with the exception that ended a worker (the stream stops and re-raises it).
        workers: how many calls may run at once.
        ahead: the order-free part of postprocessing, ``ahead(frameset, prepared, logits)``, run by the
            worker before its turn (in parallel with the other workers); its result travels with the
            frameset's logits (None: the result thread does it all).

    Attributes:
        device: set before :meth:`start` when the backend aligns and preprocesses on its device: the
            capture threads then hand on raw framesets (their Prepared is None).
    """

    def __init__(
        self,
        cameras: Sequence[CameraState],
        backend: Any,
        batch: int,
        stop: threading.Event,
        wake_inference: threading.Event,
        wake_results: threading.Event,
        lock: threading.Lock,
        count: Callable[[CameraState, str], None],
        on_error: Callable[[BaseException], None],
        workers: int = 1,
        ahead: Callable[[Any, Any, np.ndarray], Any] | None = None,
    ) -> None:
        self.check(workers, getattr(backend, "name", "chosen"), getattr(backend, "concurrent", False))
        self.cameras, self.backend, self.batch = list(cameras), backend, batch
        self._stop, self._wake_inference, self._wake_results = stop, wake_inference, wake_results
        self._lock, self._count, self._on_error = lock, count, on_error
        self.workers, self._ahead = workers, ahead
        self.device: DevicePreparation | None = None
        self._take = threading.Lock()  # taking framesets and a ticket is one step
        self._turn = threading.Condition()  # guards the finished batches and who hands them on
        self._finished: dict[int, list[Inferred]] = {}  # ticket -> its inferred groups, until handed on
        self._handing = False  # one worker at a time hands finished batches on, in ticket order
        self._next_ticket = self._next_out = 0
        self._running = workers
        self._first = 0  # the camera looked at first, in turn, so none is always served first

    @staticmethod
    def check(workers: int, backend: str, concurrent: bool) -> None:
        """Refuse a worker count the backend (its name, whether its calls may run at once) cannot take."""
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise MutualSenseError(
                f"inference_workers must be a positive integer, got {workers!r}.", "pass 1 (the default) or 2."
            )
        if workers > 1 and not concurrent:
            raise MutualSenseError(
                f"the {backend} backend runs one inference at a time, so inference_workers={workers} cannot apply.",
                "pass inference_workers=1 (several workers are for the ONNX Runtime backend on a CPU).",
            )

    def start(self) -> list[threading.Thread]:
        """Start the workers; returns their threads."""
        threads = []
        for k in range(self.workers):
            name = "inference" if self.workers == 1 else f"inference-{k}"
            thread = threading.Thread(target=self._work, name=name, daemon=True)
            thread.start()
            threads.append(thread)
        return threads

    def _take_ready(self) -> tuple[Ready, int]:
        """Every camera's pending prepared frameset, and the ticket of this batch (-1 when none)."""
        with self._take:
            ready: Ready = []
            n = len(self.cameras)
            for i in range(n):
                cam = self.cameras[(self._first + i) % n]
                item = cam.prepared.take_pending()
                if item is not None:
                    ready.append((cam, item))
            self._first += 1
            if not ready:
                return ready, -1
            self._next_ticket += 1
            return ready, self._next_ticket - 1

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                with self._turn:  # at most one finished batch per worker waits to be handed on
                    while len(self._finished) >= self.workers and not self._stop.is_set():
                        self._turn.wait(0.05)
                ready, ticket = self._take_ready()
                if not ready:
                    if all(cam.prepared.finished for cam in self.cameras):
                        break
                    self._wake_inference.wait(0.05)
                    self._wake_inference.clear()
                    continue
                inferred = [self._infer(ready[i : i + self.batch]) for i in range(0, len(ready), self.batch)]
                self._finish(ticket, inferred)
        except BaseException as exc:
            self._on_error(exc)
        finally:
            with self._take:
                self._running -= 1
                last = self._running == 0
            if last:  # the consumer sees the end only when no worker holds a result any more
                for cam in self.cameras:
                    cam.inferred.close()
            self._wake_inference.set()  # a worker waiting for framesets rechecks whether the stream ended
            self._wake_results.set()

    def _infer(self, group: Ready) -> Inferred:
        if self.device is not None:  # raw framesets: prepared on the device, in the same call
            outputs, prepared, t0, t1 = self.device.infer([fs for _, (fs, _f, _p) in group])
            group = [(cam, (fs, flagged, p)) for (cam, (fs, flagged, _)), p in zip(group, prepared, strict=True)]
            logits = outputs["saliency"]
        else:
            rgb = pad_batch(_stack([item[2].rgb for _, item in group]), self.batch)
            depth = pad_batch(_stack([item[2].depth for _, item in group]), self.batch)
            t0 = time.monotonic()
            logits = self.backend.infer({"rgb": rgb, "depth": depth})["saliency"]
            t1 = time.monotonic()
        ahead = self._ahead
        done = [
            None if ahead is None else ahead(fs, prepared, logits[k, 0])
            for k, (_, (fs, _f, prepared)) in enumerate(group)
        ]
        return group, logits, t0, t1, done

    def _finish(self, ticket: int, inferred: list[Inferred]) -> None:
        """Leave a batch's results to be handed on; hand on, in ticket order, whatever is due unless another
        worker is already doing so (it then hands these on too)."""
        with self._turn:
            self._finished[ticket] = inferred
            if self._handing:
                return
            self._handing = True
        try:
            while True:
                with self._turn:
                    due = self._finished.get(self._next_out)
                    if due is None:
                        self._handing = False
                        return
                for group, logits, t0, t1, done in due:  # outside the lock: it may wait for the consumer
                    self._hand_on(group, logits, t0, t1, done)
                with self._turn:
                    del self._finished[self._next_out]
                    self._next_out += 1
                    self._turn.notify_all()
        except BaseException:
            with self._turn:
                self._handing = False
                self._turn.notify_all()
            raise

    def _hand_on(self, group: Ready, logits: np.ndarray, t0: float, t1: float, done: list[Any]) -> None:
        for k, (cam, (fs, flagged, prepared)) in enumerate(group):
            if not cam.live:
                cam.inferred.wait_empty(self._stop)
            with self._lock:
                if cam.inferred.put((fs, flagged, prepared, logits[k, 0], t0, t1, done[k])):
                    self._count(cam, "dropped_by_backpressure")
            self._wake_results.set()


def _stack(tensors: list[np.ndarray]) -> np.ndarray:
    """[1, ...] tensors joined along the batch axis (one is passed on as it is, not copied)."""
    return tensors[0] if len(tensors) == 1 else np.concatenate(tensors)
