"""The source protocol (design §8).

A :class:`Source` is a context manager whose ``read(timeout_ms)`` returns a :class:`FrameSet`, None on
timeout, and raises :class:`SourceEnded` at the end of the stream (jetson-utils' ``Capture``
outcomes: OK / TIMEOUT / EOS / ERROR). Sources are opened from a spec string by
:func:`mutualsense.sources.spec.open_source`.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from types import TracebackType

from mutualsense.errors import SourceError
from mutualsense.sources.frameset import FrameSet, StreamFrame

__all__ = ["FrameListener", "Source", "SourceCounters", "SourceEnded"]

logger = logging.getLogger(__name__)


class SourceEnded(SourceError):
    """The source has no more framesets (end of a recording, ``frames=N`` reached)."""

    def __init__(self, name: str, what: str | None = None) -> None:
        super().__init__(what or f"source {name} ended.")
        self.source = name


@dataclass
class SourceCounters:
    """What a source saw. ``framesets`` counts what :meth:`Source.read` delivered.

    Attributes:
        framesets: framesets delivered.
        color_frames, depth_frames: distinct frames received per stream (repeats of the device's
            syncer not counted).
        frame_gaps: frames missing by the streams' own frame numbers (dropped by the device, USB or
            the recorder), summed over both streams.
        unpaired_color: colour frames dropped because no depth frame existed to pair them with.
    """

    framesets: int = 0
    color_frames: int = 0
    depth_frames: int = 0
    frame_gaps: int = 0
    unpaired_color: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


FrameListener = Callable[[StreamFrame], None]


class Source(ABC):
    """A frame source: a context manager whose :meth:`read` returns one :class:`FrameSet` at a time.

    Subclasses implement :meth:`_start`, :meth:`_stop` and :meth:`_read`; :meth:`start` and
    :meth:`stop` are idempotent. Sources that see every raw frame (before pairing) pass each one to
    the registered frame listeners (``emits_raw_frames = True``); :func:`~mutualsense.sources.record`
    uses that to record both streams at their own rates.
    """

    #: Whether the source sees every raw frame and passes it to the frame listeners (before pairing).
    emits_raw_frames: bool = False
    #: Paced by its device (a camera, a real-time replay): a stream never makes it wait, and the newest
    #: frameset wins. False for a source read on demand (a recording or generator replayed as fast as
    #: possible), which loses nothing.
    real_time: bool = True
    #: Whether a stream restarts it after a failure (a live camera: unplugged, USB reset).
    reconnectable: bool = False

    def __init__(self, name: str) -> None:
        #: The source's name (``camera:SERIAL``, the recording's file name, ``synthetic``); results carry it.
        self.name = name
        self.counters = SourceCounters()
        self._started = False
        self._listeners: list[FrameListener] = []

    # ----------------------------------------------------------------------------- lifecycle
    @property
    def started(self) -> bool:
        """Whether the source is delivering."""
        return self._started

    def start(self) -> None:
        """Open the device / file / generator (no-op when already started)."""
        if not self._started:
            self._start()
            self._started = True
            logger.debug("source %s started", self.name)

    def stop(self) -> None:
        """Release the device / file (no-op when not started)."""
        if self._started:
            try:
                self._stop()
            finally:
                self._started = False
                logger.debug("source %s stopped: %s", self.name, self.counters)

    def __enter__(self) -> Source:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------------------- reading
    def read(self, timeout_ms: int = 1000) -> FrameSet | None:
        """The next frameset; None when none came within ``timeout_ms``.

        Raises:
            SourceEnded: the stream is over.
            SourceError: the source is not started, or failed.
        """
        if not self._started:
            raise SourceError(
                f"source {self.name} is not started.", "use `with source:` or call source.start() before read()."
            )
        frameset = self._read(max(0, int(timeout_ms)))
        if frameset is not None:
            self.counters.framesets += 1
        return frameset

    def __iter__(self) -> Iterator[FrameSet]:
        """Framesets until the source ends (starts the source if needed, and then stops it too)."""
        started_here = not self._started
        self.start()
        try:
            while True:
                try:
                    frameset = self.read()
                except SourceEnded:
                    return
                if frameset is not None:
                    yield frameset
        finally:
            if started_here:
                self.stop()

    @property
    def stream_fps(self) -> tuple[float, float] | None:
        """Nominal (colour, depth) frame rates, when known."""
        return None

    # ----------------------------------------------------------------------------- raw frames
    def add_frame_listener(self, listener: FrameListener) -> None:
        """Call ``listener`` with every distinct raw frame of either stream, in arrival order."""
        self._listeners.append(listener)

    def remove_frame_listener(self, listener: FrameListener) -> None:
        """Undo :meth:`add_frame_listener` (no error when absent)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, frame: StreamFrame) -> None:
        for listener in list(self._listeners):
            listener(frame)

    @abstractmethod
    def _start(self) -> None: ...

    @abstractmethod
    def _stop(self) -> None: ...

    @abstractmethod
    def _read(self, timeout_ms: int) -> FrameSet | None: ...

    @staticmethod
    def _deadline(timeout_ms: int) -> float:
        return time.monotonic() + timeout_ms / 1000.0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {'started' if self._started else 'stopped'}>"
