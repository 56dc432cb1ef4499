"""Overlay pictures of a stream's results (colour | depth | saliency PNGs with the objects' boxes, track ids
and 3D positions), written off the stream's path.

``mutualsense stream --save-overlay DIR`` uses :class:`OverlayWriter`; from Python::

    with mutualsense.open(bundle, source="camera", sinks=[OverlayWriter("out/")]) as stream:
        stream.run(100)
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from mutualsense.errors import MutualSenseError
from mutualsense.outputs.visualize import compose_panel

if TYPE_CHECKING:
    from mutualsense.pipeline.stream import Stream
    from mutualsense.results import SaliencyResult

__all__ = ["OverlayWriter"]

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class OverlayWriter:
    """A sink that writes one colour | depth | saliency PNG per result into ``folder``.

    Pictures are composed and written by a thread of its own through a queue of at most ``max_pending``
    results, so a slow disk never holds the stream up: a result that finds the queue full is not written
    and counted in :attr:`dropped`. Files are named by a per-camera result sequence number
    (``result_000000.png``, or ``<camera>_result_000000.png`` with several cameras), so a looping
    recording, whose frame numbers repeat, never overwrites earlier pictures.

    Args:
        folder: where the pictures go (created if missing).
        max_pending: results waiting to be written at most.

    Raises:
        MutualSenseError: the folder cannot be created; or, when the stream closes, a picture could
            not be written (disk full, permissions).
    """

    def __init__(self, folder: str | os.PathLike[str], max_pending: int = 8) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MutualSenseError(
                f"cannot create {self.folder} ({exc.strerror}).", "choose a writable folder."
            ) from exc
        self.max_pending = max(1, int(max_pending))
        self.written = 0
        self.dropped = 0
        self._seq: dict[str, int] = {}
        self._prefixed = False
        self._queue: queue.Queue[tuple[SaliencyResult, Path] | None] = queue.Queue(self.max_pending)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def path_for(self, source: str, seq: int) -> Path:
        """Where the picture of camera ``source``'s result number ``seq`` (from 0) goes."""
        prefix = f"{_UNSAFE.sub('_', source)}_" if self._prefixed else ""
        return self.folder / f"{prefix}result_{seq:06d}.png"

    def on_start(self, stream: Stream) -> None:
        self._prefixed = len(stream.cameras) > 1
        self._error = None
        self._thread = threading.Thread(target=self._write_all, name="overlay-writer", daemon=True)
        self._thread.start()

    def on_result(self, result: SaliencyResult, stream: Stream) -> None:
        seq = self._seq.get(result.source, 0)
        self._seq[result.source] = seq + 1
        if result.frameset is None or self._error is not None:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait((result, self.path_for(result.source, seq)))
        except queue.Full:
            self.dropped += 1

    def on_stop(self) -> None:
        """Write what is queued, then stop the thread; raises if a picture could not be written."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        if self.dropped:
            log.info("overlays: %d written, %d not written (the writer could not keep up)", self.written, self.dropped)
        if self._error is not None:
            raise MutualSenseError(
                f"could not write the overlay pictures into {self.folder}: {self._error}.",
                "check the free space and permissions of the folder given to --save-overlay.",
            )

    def _write_all(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the stream learns of the failure when it closes
            result, path = item
            try:
                self._write(result, path)
                self.written += 1
            except Exception as exc:  # reported by on_stop, in the stream's thread
                self._error = exc

    @staticmethod
    def _write(result: SaliencyResult, path: Path) -> None:
        # full resolution; boxes labelled with track id and 3D position (or index and distance)
        panel = compose_panel(result, max_width=1 << 20)
        if not cv2.imwrite(str(path), cv2.cvtColor(panel, cv2.COLOR_RGB2BGR)):
            raise OSError(f"OpenCV could not write {path}")
