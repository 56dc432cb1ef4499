"""The web viewer and the Zenoh publisher as stream sinks (see :class:`~mutualsense.pipeline.sinks.Sink`).

>>> sinks = [WebViewerSink(WebViewer(port=8765)), ZenohSink(["front"])]  # doctest: +SKIP
>>> with mutualsense.open("demo-fp32", source="camera", sinks=sinks) as stream:  # doctest: +SKIP
...     stream.run()
"""

from __future__ import annotations

import os
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
    """Shows every result in a :class:`~mutualsense.outputs.viewer.WebViewer` with the stream's status.

    The viewer is started with the stream (``announce`` is then called with its URL) and stopped with it.
    """

    def __init__(self, viewer: WebViewer, announce: Callable[[str], object] | None = None) -> None:
        self.viewer, self.announce = viewer, announce

    def on_start(self, stream: Stream) -> None:
        url = self.viewer.start()
        if self.announce is not None:
            self.announce(url)

    def on_result(self, result: SaliencyResult, stream: Stream) -> None:
        self.viewer.update(result, stream.status())

    def on_stop(self) -> None:
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
