"""A live web view of a stream: colour | depth | saliency, the salient objects and the pipeline's counters.

``mutualsense stream --view web`` uses it; from Python::

    with mutualsense.open(bundle, source="camera") as stream, WebViewer() as viewer:
        print("open", viewer.url)
        for result in stream:
            viewer.update(result, {"processed": stream.stats.processed})

A stdlib HTTP server (:mod:`mutualsense.outputs.viewer_http`) in a daemon thread, no extra
dependency. It binds to 127.0.0.1 unless another host is passed explicitly; on any other interface
every request needs the access token that :attr:`WebViewer.url` carries (``?token=…``, then a
cookie), as notebook servers do. Each camera of a stream has its own feed (``?camera=NAME``, default
the first), and the stats name the camera and its real frame numbers. It serves:

* ``/``: one HTML page (``web/viewer.html``, package data; inline CSS and JS, no external resources)
  that long-polls the two below;
* ``/frame.jpg``: the latest panel as a JPEG; ``?n=N`` asks for frame N, served while it is among the
  last few (else the latest);
* ``/stats.json``: the latest stats: the caller's dict plus ``frame_number`` (this camera's updates so
  far), ``camera``, ``cameras``, ``ended`` (why the stream ended, else null) and ``result`` (the
  source's frame numbers, this result's latency, skew and objects); ``?after=N&wait=S`` long-polls,
  answering once ``frame_number > N`` or after S seconds (at most 5).

Both answer 503 with a JSON message until the first :meth:`WebViewer.update`. ``update`` composes and
encodes the panel once; requests only copy bytes, so any number of browsers costs the pipeline nothing.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import logging
import math
import secrets
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from mutualsense.errors import MutualSenseError
from mutualsense.outputs.viewer_http import ViewerServer, ViewerServer6
from mutualsense.outputs.visualize import compose_panel
from mutualsense.results import SaliencyResult

__all__ = ["WebViewer", "is_loopback"]

log = logging.getLogger(__name__)

_KEEP_JPEGS = 8  # recent panels kept so that /frame.jpg?n=N shows the frame the page asked for


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class _Feed:
    """One camera's latest panels (by its update number) and stats."""

    jpegs: OrderedDict[int, bytes] = field(default_factory=OrderedDict)
    stats: bytes | None = None
    updates: int = 0


def _jsonable(value: Any) -> Any:
    """Numpy scalars → Python numbers, non-finite floats → None (JSON has no NaN), tuples → lists."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


class WebViewer:
    """A live view of a stream in any browser, served from this process.

    Args:
        host: interface to listen on. 127.0.0.1 (this machine only) by default; ``0.0.0.0`` (or an
            address of this machine) lets other machines watch, each request then needing the token.
        port: TCP port; 0 picks a free one (see :attr:`url` after :meth:`start`).
        max_width: the composed panel is scaled down to at most this many pixels wide.
        jpeg_quality: 1-100.
        token: the access token; default: none on a loopback host, a new random one on any other.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        max_width: int = 960,
        jpeg_quality: int = 80,
        token: str | None = None,
    ) -> None:
        if not (isinstance(port, int) and 0 <= port <= 65535):
            raise MutualSenseError(f"invalid viewer port {port!r}.", "pass a port in 1-65535, or 0 for any free port.")
        self.host, self.port = host, port
        self.token = token if token is not None or is_loopback(host) else secrets.token_urlsafe(18)
        self.max_width, self.jpeg_quality = int(max_width), int(jpeg_quality)
        self._server: ViewerServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._new_frame = threading.Condition(self._lock)
        self._feeds: dict[str, _Feed] = {}  # camera -> its panels and stats, in order of appearance
        self._frame_number = 0  # updates of every camera
        self._ended: str | None = None
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` of the running server, with ``?token=…`` where one is needed.

        On a wildcard address (0.0.0.0, ::) the host shown is this machine's name, as another machine
        would reach it.
        """
        if self._server is None:
            raise MutualSenseError(
                "the viewer is not running.", "call start() first (or use `with WebViewer() as v:`)."
            )
        host, port = self._server.server_address[:2]
        shown = socket.gethostname() if host in ("0.0.0.0", "::") else str(host)
        if ":" in shown:  # IPv6 literal
            shown = f"[{shown}]"
        return f"http://{shown}:{port}/" + (f"?token={self.token}" if self.token else "")

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> str:
        """Bind and serve in a daemon thread; returns the URL. Idempotent.

        Raises:
            MutualSenseError: the port is taken, or the host/port cannot be bound.
        """
        if self._server is not None:
            return self.url
        with self._lock:
            self._stopping = False
        try:
            server_cls = ViewerServer6 if ":" in self.host else ViewerServer
            self._server = server_cls((self.host, self.port), self)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise MutualSenseError(
                    f"cannot serve the web viewer on {self.host}:{self.port}: the port is already in use.",
                    "pass another --port (0 picks a free one), or stop the program that uses it "
                    f"(`ss -ltnp 'sport = :{self.port}'` shows which).",
                ) from exc
            if exc.errno == errno.EACCES:
                raise MutualSenseError(
                    f"cannot serve the web viewer on {self.host}:{self.port}: permission denied.",
                    "ports below 1024 need root; pass --port 8765 (or 0 for any free port).",
                ) from exc
            raise MutualSenseError(
                f"cannot serve the web viewer on {self.host}:{self.port} ({exc.strerror or exc}).",
                "pass a host this machine has (127.0.0.1 by default) and a free --port.",
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="mutualsense-viewer", daemon=True
        )
        self._thread.start()
        log.info("web viewer at %s", self.url)
        return self.url

    def stop(self) -> None:
        """Stop serving, end open connections and join every thread of the viewer. Idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        with self._new_frame:  # release long polls at once
            self._stopping = True
            self._new_frame.notify_all()
        server.shutdown()  # returns once serve_forever has returned: no new connections
        server.close_connections(grace=1.0, timeout=5.0)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5.0)
        self._server, self._thread = None, None

    def __enter__(self) -> WebViewer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ data
    @property
    def frame_number(self) -> int:
        """How many updates the viewer has had, all cameras together."""
        with self._lock:
            return self._frame_number

    @property
    def cameras(self) -> list[str]:
        """The cameras shown so far, in order of their first result."""
        with self._lock:
            return list(self._feeds)

    def end(self, why: str) -> None:
        """Say on the page that the stream ended (and why); the last frames stay on show."""
        with self._new_frame:
            self._ended = why
            self._new_frame.notify_all()
        with self._lock:
            for feed in self._feeds.values():
                if feed.stats is not None:
                    feed.stats = json.dumps({**json.loads(feed.stats), "ended": why}).encode()

    def serve_until_interrupted(self, why: str) -> None:
        """:meth:`end` with ``why``, then keep serving until Ctrl-C (KeyboardInterrupt), which returns."""
        self.end(why)
        with contextlib.suppress(KeyboardInterrupt):
            while self._server is not None:
                time.sleep(0.2)

    def update(self, result: SaliencyResult, stats: Mapping[str, Any] | None = None) -> None:
        """Show ``result``: compose and JPEG-encode the panel once, and store it with ``stats``.

        ``stats`` is any JSON-able mapping (e.g. fps, latency percentiles, counters: see
        ``mutualsense stream``). The viewer adds ``frame_number`` (updates so far), ``time`` (Unix
        seconds) and ``result`` (this result's source frame numbers, ``skew_ms``, ``skew_flagged``,
        ``latency_ms``, ``objects`` and the ``panel_size``), replacing caller keys of those names.
        Safe to call from any thread; works whether or not the server is running.
        """
        panel = compose_panel(result, self.max_width)
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(panel, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]
        )
        if not ok:  # pragma: no cover - OpenCV always encodes a uint8 RGB image
            raise MutualSenseError("OpenCV could not encode the viewer panel as JPEG.", "check the OpenCV install.")
        objects = [
            {
                "box": list(o.box),
                "score": o.score,
                "area_fraction": o.area_fraction,
                "median_distance_m": o.median_distance_m,
                "valid_depth_fraction": o.valid_depth_fraction,
                "track_id": o.track_id,
                "position_m": o.position_m,
                "extent_m": o.extent_m,
                "velocity_mps": o.velocity_mps,
            }
            for o in result.objects
        ]
        with self._lock:
            feed = self._feeds.setdefault(result.source, _Feed())
            number = feed.updates + 1
            body = {
                **(dict(stats) if stats else {}),
                "frame_number": number,
                "camera": result.source,
                "cameras": list(self._feeds),
                "ended": self._ended,
                "time": time.time(),
                "result": {
                    "color_frame_number": result.color_frame_number,
                    "depth_frame_number": result.depth_frame_number,
                    "skew_ms": result.skew_ms,
                    "skew_flagged": result.skew_flagged,
                    "latency_ms": dict(result.latency_ms),
                    "objects": objects,
                    "panel_size": [panel.shape[1], panel.shape[0]],
                },
            }
            feed.stats = json.dumps(_jsonable(body)).encode()
            feed.jpegs[number] = buf.tobytes()
            while len(feed.jpegs) > _KEEP_JPEGS:
                feed.jpegs.popitem(last=False)
            feed.updates = number
            self._frame_number += 1
            self._new_frame.notify_all()

    def _feed(self, camera: str | None) -> _Feed | None:
        """The feed of ``camera`` (None or unknown: the first camera's); call with the lock held."""
        if camera in self._feeds:
            return self._feeds[camera]
        return next(iter(self._feeds.values()), None)

    def snapshot(self, frame_number: int | None = None, camera: str | None = None) -> tuple[bytes | None, bytes | None]:
        """(JPEG, latest stats JSON) of ``camera`` (default the first), both None before its first update.

        The JPEG is that of ``frame_number`` (the camera's update number) while it is among the last
        few, else the latest.
        """
        with self._lock:
            feed = self._feed(camera)
            if feed is None or not feed.jpegs:
                return None, None
            jpeg = feed.jpegs.get(frame_number) if frame_number is not None else None
            return jpeg if jpeg is not None else next(reversed(feed.jpegs.values())), feed.stats

    def wait_for_frame(self, after: int | None, timeout: float, camera: str | None = None) -> int:
        """Block until ``camera``'s update number is > ``after`` (or ``timeout`` s, the stream's end, or
        stop()); returns that number."""

        def updates() -> int:
            feed = self._feed(camera)
            return feed.updates if feed is not None else 0

        with self._new_frame:
            self._new_frame.wait_for(
                lambda: updates() > (after or 0) or self._stopping or self._ended is not None, timeout
            )
            return updates()
