"""What consumes a stream's results besides the caller: overlay pictures, the web viewer, the Zenoh
publisher, a status line. The stream runs its sinks, so a program gets the same outputs as the CLI.

>>> from mutualsense.outputs.overlays import OverlayWriter  # doctest: +SKIP
>>> with mutualsense.open("demo-fp32", source="camera", sinks=[OverlayWriter("out/")]) as stream:  # doctest: +SKIP
...     stream.run(100)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mutualsense.pipeline.stats import format_status

if TYPE_CHECKING:
    from mutualsense.pipeline.stream import Stream
    from mutualsense.results import SaliencyResult

__all__ = ["SinkGroup", "Sink", "StatusLine"]

log = logging.getLogger(__name__)


@runtime_checkable
class Sink(Protocol):
    """Consumes the results of a stream.

    The stream calls :meth:`on_start` when it opens (before its sources start, so a sink that cannot
    start, e.g. a port in use, stops the stream before a camera is touched), :meth:`on_result` for every
    result in the thread that iterates the stream, in order, and :meth:`on_stop` when it closes. A sink
    that does I/O should not hold the stream up: hand the work to a thread of its own (as
    :class:`~mutualsense.outputs.overlays.OverlayWriter` does), bounded, and count what it drops.
    """

    def on_start(self, stream: Stream) -> None:
        """The stream is opening: allocate, connect, start threads."""
        ...

    def on_result(self, result: SaliencyResult, stream: Stream) -> None:
        """One result (``stream.status()`` and ``stream.camera_stats`` describe the stream so far)."""
        ...

    def on_stop(self) -> None:
        """The stream closed: flush and release (called once, also after an error)."""
        ...


class SinkGroup:
    """The sinks of one stream: started in order (stopping those already started if one fails), each
    result handed to each, stopped in reverse order (every sink is stopped even when one raises)."""

    def __init__(self, sinks: Iterable[Sink] = ()) -> None:
        self.sinks: list[Sink] = list(sinks)
        self._started: list[Sink] = []

    def add(self, sink: Sink, stream: Stream | None = None) -> None:
        """Add a sink; it starts at once when ``stream`` (already open) is given."""
        if not isinstance(sink, Sink):
            from mutualsense.errors import MutualSenseError

            raise MutualSenseError(
                f"{type(sink).__name__} is not a sink.", "give an object with on_start, on_result and on_stop."
            )
        self.sinks.append(sink)
        if stream is not None:
            sink.on_start(stream)
            self._started.append(sink)

    def start(self, stream: Stream) -> None:
        for sink in self.sinks:
            if sink in self._started:
                continue
            try:
                sink.on_start(stream)
            except BaseException:
                self.stop()
                raise
            self._started.append(sink)

    def handle(self, result: SaliencyResult, stream: Stream) -> None:
        for sink in self._started:
            sink.on_result(result, stream)

    def stop(self) -> None:
        error: BaseException | None = None
        while self._started:
            sink = self._started.pop()
            try:
                sink.on_stop()
            except BaseException as exc:  # stop the others, then raise the first failure
                log.debug("stopping sink %r: %s", sink, exc)
                error = error or exc
        if error is not None:
            raise error


class StatusLine:
    """A sink that writes the stream's status (rates, latency percentiles, skew, counters) as one line,
    at most every ``interval_s`` seconds, through ``write`` (e.g. ``print``, or a rich ``Live.update``)."""

    def __init__(
        self,
        write: Callable[[str], Any] = print,
        interval_s: float = 0.25,
        fmt: Callable[[Mapping[str, Any]], str] = format_status,
    ) -> None:
        self.write, self.interval_s, self.fmt = write, interval_s, fmt
        self._last = float("-inf")

    def on_start(self, stream: Stream) -> None:
        self._last = float("-inf")

    def on_result(self, result: SaliencyResult, stream: Stream) -> None:
        if result.result_time - self._last >= self.interval_s:
            self._last = result.result_time
            self.write(self.fmt(stream.status()))

    def on_stop(self) -> None:
        pass
