"""The web viewer's HTTP side: a stdlib threading server that can end every connection on stop, and the
handler of its three pages (see :mod:`mutualsense.outputs.viewer` for what they serve).

Every request only copies bytes the viewer composed and encoded once per result, so browsers cost the
pipeline nothing; on a non-loopback host each request must carry the access token (query or cookie).
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import importlib.resources
import json
import logging
import math
import socket
import threading
import time
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

__all__ = ["ViewerRequestHandler", "ViewerServer", "ViewerServer6", "ViewerState", "viewer_page"]

log = logging.getLogger(__name__)

_MAX_WAIT_S = 5.0  # longest long poll of /stats.json?after=N
_COOKIE = "mutualsense_viewer"


class ViewerState(Protocol):
    """What the handler reads from the viewer (:class:`~mutualsense.outputs.viewer.WebViewer`)."""

    token: str | None

    def snapshot(
        self, frame_number: int | None = None, camera: str | None = None
    ) -> tuple[bytes | None, bytes | None]: ...

    def wait_for_frame(self, after: int | None, timeout: float, camera: str | None = None) -> int: ...


@functools.cache
def viewer_page() -> bytes:
    """The page served at ``/`` (package data ``mutualsense/outputs/web/viewer.html``)."""
    return importlib.resources.files("mutualsense.outputs").joinpath("web/viewer.html").read_bytes()


def _int_arg(query: dict[str, list[str]], name: str, default: int | None) -> int | None:
    try:
        return int(query[name][0])
    except (KeyError, IndexError, ValueError):
        return default


def _float_arg(query: dict[str, list[str]], name: str, default: float) -> float:
    try:
        value = float(query[name][0])
    except (KeyError, IndexError, ValueError):
        return default
    return value if math.isfinite(value) else default


class ViewerServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections and handler threads, so that stop() ends them all.

    (The stdlib joins only non-daemon handler threads; daemon ones keep a stopped viewer from holding
    the process open, and are joined here instead.)
    """

    daemon_threads = True
    allow_reuse_port = False  # a second viewer on a taken port must fail, not share it

    def __init__(self, address: tuple[str, int], viewer: ViewerState) -> None:
        self.viewer = viewer
        self._handlers: dict[Any, threading.Thread] = {}  # open connection -> its handler thread
        self._busy: set[Any] = set()  # connections answering a request (the others wait for one)
        self._track = threading.Lock()
        super().__init__(address, ViewerRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="mutualsense-viewer-request",
            daemon=True,
        )
        with self._track:
            self._handlers[request] = thread
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._track:
                self._handlers.pop(request, None)
                self._busy.discard(request)

    def set_busy(self, request: Any, busy: bool) -> None:
        with self._track:
            (self._busy.add if busy else self._busy.discard)(request)

    def close_connections(self, grace: float, timeout: float) -> None:
        """End every connection and join its handler thread.

        Requests being answered (long polls return at once on stop) get ``grace`` seconds to finish;
        idle connections, and whatever is left after the grace, are shut down: their blocked reads
        and writes fail at once.
        """
        with self._track:
            idle = [conn for conn in self._handlers if conn not in self._busy]
            busy = [thread for conn, thread in self._handlers.items() if conn in self._busy]
        for conn in idle:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + grace
        for thread in busy:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._track:
            left = list(self._handlers.items())
        for conn, _ in left:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in left:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("a web viewer request thread did not stop in time")


class ViewerServer6(ViewerServer):
    """The same on IPv6."""

    address_family = socket.AF_INET6


class ViewerRequestHandler(BaseHTTPRequestHandler):
    """Answers /, /frame.jpg, /stats.json (see :mod:`mutualsense.outputs.viewer`) from the viewer's snapshots."""

    server: ViewerServer
    timeout = 10.0  # an idle client cannot hold a handler thread longer than this
    server_version = "MutualSenseViewer/1"

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.server.set_busy(self.request, True)
        try:
            self._get()
        finally:
            self.server.set_busy(self.request, False)

    def _authorised(self, query: dict[str, list[str]]) -> bool:
        token = self.server.viewer.token
        if token is None:
            return True
        given = (query.get("token") or [""])[0]
        cookie = SimpleCookie(self.headers.get("Cookie") or "").get(_COOKIE)
        offered = (given, cookie.value if cookie else "")
        return any(hmac.compare_digest(v.encode(), token.encode()) for v in offered if v)

    def _get(self) -> None:
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        viewer = self.server.viewer
        camera = query["camera"][0] if query.get("camera") else None
        if not self._authorised(query):
            body = json.dumps(
                {
                    "error": "forbidden",
                    "detail": "this viewer needs its access token: open the URL (with ?token=…) "
                    "that `mutualsense stream` printed",
                }
            )
            self._send(HTTPStatus.FORBIDDEN, "application/json", body.encode())
        elif path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", viewer_page(), set_token=viewer.token is not None)
        elif path in ("/frame.jpg", "/stats.json"):
            if path == "/stats.json" and "after" in query:  # long poll: answer once a newer frame is there
                after = _int_arg(query, "after", 0)
                wait = min(max(_float_arg(query, "wait", 1.0), 0.0), _MAX_WAIT_S)
                viewer.wait_for_frame(after, wait, camera)
            jpeg, stats = viewer.snapshot(_int_arg(query, "n", None) if path == "/frame.jpg" else None, camera)
            if jpeg is None or stats is None:
                body = json.dumps({"error": "no frame yet", "detail": "the stream has not produced a result yet"})
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "application/json", body.encode(), retry_after=True)
            elif path == "/frame.jpg":
                self._send(HTTPStatus.OK, "image/jpeg", jpeg)
            else:
                self._send(HTTPStatus.OK, "application/json", stats)
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, "image/x-icon", b"")
        else:
            body = json.dumps({"error": "not found", "detail": f"no page {path!r}; try /"})
            self._send(HTTPStatus.NOT_FOUND, "application/json", body.encode())

    def _send(
        self, status: HTTPStatus, content_type: str, body: bytes, retry_after: bool = False, set_token: bool = False
    ) -> None:
        try:
            self.send_response(status)
            if set_token:  # the page's own requests then carry the token without it in every URL
                token = self.server.viewer.token
                self.send_header("Set-Cookie", f"{_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/")
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            if retry_after:
                self.send_header("Retry-After", "1")
            self.end_headers()
            if body:
                self.wfile.write(body)
        except OSError:  # the browser went away (tab closed, stop())
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server API
        log.debug("%s %s", self.address_string(), format % args)
