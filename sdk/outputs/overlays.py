"""Overlay pictures of a stream: one JPEG per result, drawn and written off the pipeline's path.

Each picture is the panel the web viewer shows (colour | depth | saliency, the objects' boxes and
distances, the panel labels, at most 960 pixels wide). A thread of its own composes, encodes and
writes them, so the stream only hands over a reference to each result; a bounded queue makes a disk
that cannot keep up slow the stream down rather than skip pictures. JPEG (quality 90) because it
encodes in a twentieth of PNG's time: the cost a 2-core robot can hide beside inference. Files are
named ``[CAMERA_]result_NNNNNN_frame_FFFFFF.jpg`` (the camera's result count, then its colour frame
number, which restarts at every loop of a recording) and created exclusively: a picture already in
the folder (an earlier run) is never overwritten, numbering goes on after the highest one there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import threading
from pathlib import Path
from types import TracebackType

import cv2

from mutualsense.errors import MutualSenseError
from mutualsense.outputs.visualize import compose_panel
from mutualsense.results import SaliencyResult

__all__ = ["JPEG_QUALITY", "PANEL_WIDTH", "OverlayWriter", "overlay_name"]

log = logging.getLogger(__name__)

PANEL_WIDTH = 960  # as the web viewer shows it
JPEG_QUALITY = 90
_NAME = re.compile(r"^(?:(?P<camera>.+)_)?result_(?P<index>\d+)_frame_\d+\.(?:jpg|png)$")


def _safe(camera: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", camera).strip("-.") or "camera"


def overlay_name(index: int, frame_number: int, camera: str | None = None) -> str:
    """The file name of a camera's ``index``-th picture (``camera`` None: a single-camera stream)."""
    prefix = f"{_safe(camera)}_" if camera else ""
    return f"{prefix}result_{index:06d}_frame_{frame_number:06d}.jpg"


class OverlayWriter:
    """Write one overlay picture per result into ``folder`` from a thread of its own.

    Args:
        folder: where the pictures go (created on the first picture).
        per_camera_names: prefix the names with the camera (streams of several cameras).
        max_queued: results waiting to be written before :meth:`submit` waits for the writer (each holds
            its frameset: about 2 MB at 640×480).

    Use as a context manager: leaving it writes what is queued and raises the first write error.
    """

    def __init__(self, folder: str | os.PathLike[str], per_camera_names: bool = False, max_queued: int = 32) -> None:
        self.folder = Path(folder)
        self.per_camera_names = per_camera_names
        self.written = 0
        self._queue: queue.Queue[SaliencyResult | None] = queue.Queue(maxsize=max_queued)
        self._next: dict[str, int] = {}
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> OverlayWriter:
        self._thread = threading.Thread(target=self._run, name="mutualsense-overlays", daemon=True)
        self._thread.start()
        return self

    def submit(self, result: SaliencyResult) -> None:
        """Queue ``result`` (it must carry its frameset); raises the writer's error, if it has failed."""
        self._raise_error()
        self._queue.put(result)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread is None:
            return
        if exc_type is not None:  # the stream failed or was interrupted: drop what waits, keep what is written
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        if exc_type is None:
            self._raise_error()

    def _raise_error(self) -> None:
        error = self._error
        if isinstance(error, OSError):
            raise MutualSenseError(
                f"cannot write overlay pictures into --save-overlay {self.folder} ({error.strerror or error}).",
                "free disk space or choose a writable folder.",
            ) from error
        if error is not None:
            raise error

    def _first_free(self, camera: str) -> int:
        """The index after the highest picture of ``camera`` already in the folder (1 in a new folder)."""
        wanted = _safe(camera) if self.per_camera_names else None
        highest = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.folder):
                m = _NAME.match(entry.name)
                if m and m.group("camera") == wanted:
                    highest = max(highest, int(m.group("index")))
        return highest + 1

    def _write(self, result: SaliencyResult) -> None:
        panel = compose_panel(result, PANEL_WIDTH)
        bgr = cv2.cvtColor(panel, cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:  # pragma: no cover - OpenCV always encodes a uint8 RGB image
            raise MutualSenseError("OpenCV could not encode an overlay picture.", "check the OpenCV install.")
        self.folder.mkdir(parents=True, exist_ok=True)
        camera = result.source
        index = self._next.get(camera) or self._first_free(camera)
        named = camera if self.per_camera_names else None
        while True:
            path = self.folder / overlay_name(index, result.color_frame_number, named)
            try:
                with open(path, "xb") as f:  # exclusive: never over an existing picture
                    f.write(jpeg.tobytes())
                break
            except FileExistsError:
                index += 1
        self._next[camera] = index + 1
        self.written += 1

    def _run(self) -> None:
        while (result := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: submit() reports the error
            try:
                self._write(result)
            except BaseException as exc:  # handed to the stream's thread by submit() / __exit__
                log.debug("overlay writer failed", exc_info=True)
                self._error = exc
