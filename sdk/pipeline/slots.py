"""The hand-offs between the pipeline's threads: one-item buffers where the newest item wins, and the
state of one camera (its source, buffers and counters)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from mutualsense.pipeline.stats import PipelineStats
from mutualsense.sources.base import Source

__all__ = ["CameraState", "LatestSlot"]


class LatestSlot:
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
        """The item, without waiting (None when empty)."""
        with self._cond:
            item, self._item = self._item, None
            self._cond.notify_all()
            return item

    @property
    def finished(self) -> bool:
        """Closed, and nothing left to take."""
        with self._cond:
            return self._closed and self._item is None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass
class CameraState:
    """One source of a stream: its capture thread's state, buffers and counters."""

    source: Source
    name: str
    stats: PipelineStats = field(default_factory=PipelineStats)
    prepared: LatestSlot = field(default_factory=LatestSlot)  # capture → inference
    inferred: LatestSlot = field(default_factory=LatestSlot)  # inference → the caller's thread
    live: bool = True
    reconnect: bool = False
