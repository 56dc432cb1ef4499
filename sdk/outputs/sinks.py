"""The web viewer and the Zenoh publisher as stream sinks (see :class:`~mutualsense.pipeline.sinks.Sink`).

>>> sinks = [WebViewerSink(WebViewer(port=8765)), ZenohSink(["front"])]  # doctest: +SKIP
>>> with mutualsense.open("demo-fp32", source="camera", sinks=sinks) as stream:  # doctest: +SKIP
...     stream.run()
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mutualsense.errors import MutualSenseError

if TYPE_CHECKING:
    from mutualsense.outputs.messages import SaliencyMode
    from mutualsense.outputs.publish import ZenohPublisher
    from mutualsense.outputs.viewer import WebViewer
    from mutualsense.pipeline.stream import Stream
    from mutualsense.results import SaliencyResult

__all__ = ["WebViewerSink", "ZenohSink"]


class WebViewerSink:
    """Shows every result in a :class:`~mutualsense.outputs.viewer.WebViewer`, each camera with its own status
    (its counters, rates and latency percentiles, never merged with the other cameras').

    The viewer is started with the stream (``announce`` is then called with its URL) and stopped with it;
    with ``linger`` it is only told the stream ended (the page says so) and the caller stops it later
    (``mutualsense stream`` keeps it up until Ctrl-C).
    """

    def __init__(
        self, viewer: WebViewer, announce: Callable[[str], object] | None = None, linger: bool = False
    ) -> None:
        self.viewer, self.announce, self.linger = viewer, announce, linger
        self._windows: dict[str, tuple[deque[float], deque[float]]] = {}
        self._started = time.monotonic()
        self._results = 0

    def on_start(self, stream: Stream) -> None:
        self._windows.clear()
        self._started, self._results = time.monotonic(), 0
        url = self.viewer.start()
        if self.announce is not None:
            self.announce(url)

    def on_result(self, result: SaliencyResult, stream: Stream) -> None:
        from mutualsense.pipeline.stats import stream_stats

        latencies, skews = self._windows.setdefault(result.source, (deque(maxlen=300), deque(maxlen=300)))
        latencies.append(result.latency_ms["total"])
        skews.append(result.skew_ms)
        self._results += 1
        status = stream_stats(stream.camera_stats[result.source], latencies, skews, self._started)
        self.viewer.update(result, status)

    def on_stop(self) -> None:
        if self.linger:
            self.viewer.end(f"the stream ended after {self._results} results")
        else:
            self.viewer.stop()


class ZenohSink:
    """Publishes every result over Zenoh, one :class:`~mutualsense.outputs.publish.ZenohPublisher` per camera,
    with that camera's counters on its ``stats`` key.

    Args:
        cameras: the camera names in the key expressions, one per source of the stream, in order
            (default: from each source's name, see :func:`~mutualsense.outputs.publish.camera_name_from_source`).
        config / resolution / mode: as for :class:`~mutualsense.outputs.publish.ZenohPublisher`.
        announce: called with each camera's key prefix (``mutualsense/<camera>``) once it publishes.
        points: also publish the objects' 3D points (the stream must request them: ``points=N``).
    """

    def __init__(
        self,
        cameras: Sequence[str] | None = None,
        config: str | os.PathLike[str] | None = None,
        resolution: tuple[int, int] | None = (160, 120),
        mode: SaliencyMode = "map",
        announce: Callable[[str], object] | None = None,
        points: bool = False,
    ) -> None:
        if mode not in ("map", "mask"):
            raise MutualSenseError(f"unknown saliency mode {mode!r}.", "use map or mask.")
        self.cameras = None if cameras is None else list(cameras)
        self.config, self.resolution, self.mode, self.announce = config, resolution, mode, announce
        self.points = points
        self.publishers: dict[str, ZenohPublisher] = {}

    def on_start(self, stream: Stream) -> None:
        from mutualsense.outputs.publish import ZenohPublisher, camera_name_from_source

        if self.cameras is not None and len(self.cameras) != len(stream.cameras):
            raise MutualSenseError(
                f"{len(self.cameras)} camera names for {len(stream.cameras)} sources.", "give one name per source."
            )
        try:
            for i, cam in enumerate(stream.cameras):
                name = self.cameras[i] if self.cameras is not None else camera_name_from_source(cam.source.name)
                publisher = ZenohPublisher(
                    name, config=self.config, resolution=self.resolution, mode=self.mode, points=self.points
                )
                self.publishers[cam.name] = publisher.open()
                if self.announce is not None:
                    self.announce(f"mutualsense/{publisher.camera}")
        except BaseException:
            self.on_stop()
            raise

    def on_result(self, result: SaliencyResult, stream: Stream) -> None:
        publisher = self.publishers.get(result.source)
        if publisher is not None:
            publisher.publish(result, stream.camera_stats[result.source])

    def on_stop(self) -> None:
        publishers, self.publishers = self.publishers, {}
        for publisher in publishers.values():
            publisher.close()
