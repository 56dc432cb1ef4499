"""Overlay pictures of a stream's results, written off the stream's path.

Each picture is the panel the web viewer shows (colour | depth | saliency with the objects' boxes, track ids
and 3D positions (or distances) and the panel labels, at most 960 pixels wide), as a JPEG (quality 90): it encodes in a
twentieth of PNG's time, the cost a 2-core robot can hide beside inference.

``mutualsense stream --save-overlay DIR`` uses :class:`OverlayWriter`; from Python::

    with mutualsense.open(bundle, source="camera", sinks=[OverlayWriter("out/")]) as stream:
        stream.run(100)
"""

from __future__ import annotations

import contextlib
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

__all__ = ["JPEG_QUALITY", "PANEL_WIDTH", "OverlayWriter"]

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
PANEL_WIDTH = 960  # as the web viewer shows it
JPEG_QUALITY = 90


class OverlayWriter:
    """A sink that writes one overlay JPEG per result into ``folder``.

    Pictures are composed and written by a thread of its own through a queue of at most ``max_pending``
    results, so a slow disk never holds the stream up: a result that finds the queue full is not written
    and counted in :attr:`dropped`. Files are named by a per-camera result sequence number and the
    colour frame number (``result_000001_frame_000123.jpg``, or ``<camera>_result_…`` with several
    cameras), so a looping recording, whose frame numbers repeat, never overwrites earlier pictures;
    files are created exclusively and the sequence goes on after the pictures already in the folder,
    so a second run into the same folder never overwrites the first either.

    Args:
        folder: where the pictures go (created when the stream starts).
        max_pending: results waiting to be written at most.

    Raises:
        MutualSenseError: the folder cannot be created; or, when the stream closes, a picture could
            not be written (disk full, permissions).
    """

    def __init__(self, folder: str | os.PathLike[str], max_pending: int = 8) -> None:
        self.folder = Path(folder)
        self.max_pending = max(1, int(max_pending))
        self.written = 0
        self.dropped = 0
        self._seq: dict[str, int] = {}
        self._prefixed = False
        self._queue: queue.Queue[tuple[SaliencyResult, Path] | None] = queue.Queue(self.max_pending)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def path_for(self, source: str, seq: int, frame_number: int) -> Path:
        """Where the picture of camera ``source``'s result number ``seq`` (colour frame ``frame_number``) goes."""
        return self.folder / f"{self._prefix(source)}result_{seq:06d}_frame_{frame_number:06d}.jpg"

    def _prefix(self, source: str) -> str:
        return f"{_UNSAFE.sub('_', source)}_" if self._prefixed else ""

    def _first_free(self, source: str) -> int:
        """The sequence number after the highest picture of ``source`` already in the folder (1 in a new one)."""
        pattern = re.compile(re.escape(self._prefix(source)) + r"result_(\d+)(?:_frame_\d+)?\.(?:jpg|png)$")
        highest = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.folder):
                if m := pattern.match(entry.name):
                    highest = max(highest, int(m.group(1)))
        return highest + 1

    def on_start(self, stream: Stream) -> None:
        self._prefixed = len(stream.cameras) > 1
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MutualSenseError(
                f"cannot create --save-overlay folder {self.folder} ({exc.strerror}).", "choose a writable folder."
            ) from exc
        self._error = None
        self._thread = threading.Thread(target=self._write_all, name="overlay-writer", daemon=True)
        self._thread.start()

    def on_result(self, result: SaliencyResult, stream: Stream) -> None:
        seq = self._seq.get(result.source) or self._first_free(result.source)
        self._seq[result.source] = seq + 1
        if result.frameset is None or self._error is not None:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait((result, self.path_for(result.source, seq, result.color_frame_number)))
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
            why = self._error.strerror if isinstance(self._error, OSError) and self._error.strerror else self._error
            raise MutualSenseError(
                f"could not write the overlay pictures into {self.folder} ({why}).",
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
        panel = compose_panel(result, PANEL_WIDTH)
        bgr = cv2.cvtColor(panel, cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:  # pragma: no cover - OpenCV always encodes a uint8 RGB image
            raise OSError(f"OpenCV could not encode {path}")
        with open(path, "xb") as f:  # exclusive: never over an existing picture
            f.write(jpeg.tobytes())
