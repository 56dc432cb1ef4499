"""OpenCV's thread count while streams are open (docs/design.md §9).

OpenCV's worker threads wait for work by spinning for a while after each parallel call. In a stream
that already keeps every core busy (ONNX Runtime, a capture thread per camera, the result thread),
those spinning threads take the CPU the pipeline's own threads are waiting for, and at the model's
resolution OpenCV's threaded kernels gain nothing: measured on 2 cores, the stages' p95 under load
fell from 5.7 to 3.5 ms with one OpenCV thread (benchmarks/results/host_stages_cpu.json). The
setting is process-wide, so it is made when the first stream opens and undone when the last closes.
"""

from __future__ import annotations

import threading

import cv2

from mutualsense.errors import MutualSenseError

__all__ = ["OpenCVThreads"]

_lock = threading.Lock()
_holders = 0
_saved: int | None = None
_applied: int | None = None


class OpenCVThreads:
    """Holds OpenCV at ``count`` threads between :meth:`acquire` and :meth:`release` (``None``: leave it).

    The first holder sets ``cv2.setNumThreads(count)``; the last to release restores what it found,
    unless the program changed the setting in between.
    """

    def __init__(self, count: int | None) -> None:
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise MutualSenseError(
                f"opencv_threads must be None or a non-negative integer, got {count!r}.",
                "pass 1 (the default), another thread count, or None to leave OpenCV's setting alone.",
            )
        self.count = count
        self._held = False

    def acquire(self) -> None:
        global _holders, _saved, _applied
        if self.count is None or self._held:
            return
        with _lock:
            if _holders == 0:
                _saved = cv2.getNumThreads()
                cv2.setNumThreads(self.count)
                _applied = cv2.getNumThreads()  # 0 reads back as 1
            _holders += 1
            self._held = True

    def release(self) -> None:
        global _holders
        if not self._held:
            return
        with _lock:
            _holders -= 1
            self._held = False
            if _holders == 0 and _saved is not None and cv2.getNumThreads() == _applied:
                cv2.setNumThreads(_saved)
