"""Publish results over Eclipse Zenoh (the transport ROS 2 ships as ``rmw_zenoh``).

``with ZenohPublisher("front") as pub: for result in stream: pub.publish(result, stream.stats)``

Key expressions (``<camera>`` sanitised to ``[A-Za-z0-9_.-]``):

- ``mutualsense/<camera>/saliency``: header JSON line + PNG of the map or mask at ``resolution``;
- ``mutualsense/<camera>/objects``: boxes, score, median distance (m), frame numbers, timestamps (JSON);
- ``mutualsense/<camera>/stats``: the stream's counters and rates (JSON).

The wire format and its JSON Schema are in :mod:`mutualsense.outputs.messages` and ``docs/results.md``.
``eclipse-zenoh`` is imported lazily (``pip install "mutualsense[zenoh]"``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from mutualsense.errors import MissingDependencyError, MutualSenseError
from mutualsense.outputs.messages import (
    RESULTS_SCHEMA_VERSION,
    SaliencyMode,
    encode_objects,
    encode_saliency,
    encode_stats,
)

if TYPE_CHECKING:
    from mutualsense.pipeline import PipelineStats
    from mutualsense.results import SaliencyResult

__all__ = [
    "KEY_PREFIX",
    "ZenohPublisher",
    "camera_name_from_source",
    "import_zenoh",
    "key_expr",
    "parse_resolution",
    "sanitize_camera",
    "zenoh_config",
]

KEY_PREFIX = "mutualsense"
Congestion = Literal["drop", "block"]


def import_zenoh() -> Any:
    """``import zenoh``, or a :class:`MissingDependencyError` saying how to install it."""
    try:
        import zenoh
    except ImportError as exc:
        raise MissingDependencyError("eclipse-zenoh", "zenoh", "for publishing results") from exc
    return zenoh


def sanitize_camera(camera: str) -> str:
    """A camera name usable as one key-expression chunk: anything outside ``[A-Za-z0-9_.-]`` becomes ``_``.

    ``camera:123456`` → ``camera_123456``; ``*``, ``$``, ``?``, ``#`` and ``/`` can never reach a key.
    """
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(camera).strip())
    if not name:
        raise MutualSenseError(f"camera name {camera!r} is empty.", "pass a name such as 'front'.")
    return name


def camera_name_from_source(spec: str) -> str:
    """A default camera name from a source spec: ``camera:123`` → ``camera_123``, ``run.db3?x=1`` → ``run``."""
    base = str(spec).split("?", 1)[0]
    if base.startswith(("camera", "synthetic")):
        return sanitize_camera(base)
    return sanitize_camera(Path(base).stem or "camera")


def parse_resolution(text: str) -> tuple[int, int] | None:
    """``"160x120"`` → (160, 120); ``"full"`` → None (colour resolution)."""
    if text.strip().lower() == "full":
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        w = h = 0
    if w < 1 or h < 1:
        raise MutualSenseError(f"invalid size {text!r}.", "pass WIDTHxHEIGHT, e.g. 160x120, or full.")
    return w, h


def key_expr(camera: str, kind: str) -> str:
    """``mutualsense/<camera>/<kind>`` with the camera name sanitised."""
    return f"{KEY_PREFIX}/{sanitize_camera(camera)}/{kind}"


def zenoh_config(
    config: str | os.PathLike[str] | None = None,
    connect: Sequence[str] = (),
    listen: Sequence[str] = (),
    multicast_scouting: bool | None = None,
) -> Any:
    """A ``zenoh.Config``: from a JSON5 file (or zenoh's defaults), then the given overrides.

    Args:
        config: a zenoh configuration file (JSON5); None = zenoh's defaults (peer mode, multicast scouting).
        connect: endpoints to connect to, e.g. ``["tcp/192.168.1.10:7447"]`` (replace the file's).
        listen: endpoints to listen on, e.g. ``["tcp/127.0.0.1:7447"]`` (replace the file's).
        multicast_scouting: switch multicast discovery on or off; None keeps the file's/default setting.

    Raises:
        MutualSenseError: the file is missing or zenoh rejects it.
    """
    zenoh = import_zenoh()
    if config is None:
        cfg = zenoh.Config()
    else:
        path = Path(config)
        if not path.is_file():
            raise MutualSenseError(f"zenoh config {path} does not exist.", "pass a zenoh JSON5 configuration file.")
        try:
            cfg = zenoh.Config.from_file(str(path))
        except Exception as exc:  # zenoh raises its own ZError
            raise MutualSenseError(
                f"zenoh cannot read {path}: {exc}", "check it against zenoh's DEFAULT_CONFIG.json5."
            ) from exc
    try:
        if connect:
            cfg.insert_json5("connect/endpoints", json.dumps(list(connect)))
        if listen:
            cfg.insert_json5("listen/endpoints", json.dumps(list(listen)))
        if multicast_scouting is not None:
            cfg.insert_json5("scouting/multicast/enabled", json.dumps(bool(multicast_scouting)))
    except Exception as exc:
        raise MutualSenseError(
            f"invalid zenoh endpoint or setting: {exc}", "endpoints look like tcp/HOST:PORT."
        ) from exc
    return cfg


class ZenohPublisher:
    """Publishes each :class:`~mutualsense.results.SaliencyResult` on three key expressions.

    Args:
        camera: the camera's name in the key expressions (sanitised, see :func:`sanitize_camera`).
        config: a zenoh JSON5 configuration file; None = zenoh's defaults.
        resolution: (width, height) of the published saliency PNG; None = colour resolution.
        mode: ``map`` (8-bit saliency) or ``mask`` (1-bit PNG of saliency > threshold).
        connect, listen, multicast_scouting: overrides of the configuration, see :func:`zenoh_config`.
        congestion: ``drop`` (default: a slow network never stalls the pipeline; under congestion
            messages may be dropped) or ``block`` (every message is delivered; ``publish`` waits).

    Use as a context manager (or call :meth:`open` / :meth:`close`); :meth:`publish` returns the
    result's ``seq``, shared by its three messages.
    """

    def __init__(
        self,
        camera: str,
        config: str | os.PathLike[str] | None = None,
        resolution: tuple[int, int] | None = (160, 120),
        mode: SaliencyMode = "map",
        *,
        connect: Sequence[str] = (),
        listen: Sequence[str] = (),
        multicast_scouting: bool | None = None,
        congestion: Congestion = "drop",
    ) -> None:
        if mode not in ("map", "mask"):
            raise MutualSenseError(f"unknown saliency mode {mode!r}.", "use 'map' or 'mask'.")
        if congestion not in ("drop", "block"):
            raise MutualSenseError(f"unknown congestion control {congestion!r}.", "use 'drop' or 'block'.")
        if resolution is not None and (len(resolution) != 2 or min(int(v) for v in resolution) < 1):
            raise MutualSenseError(f"invalid resolution {resolution!r}.", "pass (width, height), e.g. (160, 120).")
        self.camera = sanitize_camera(camera)
        self.resolution = None if resolution is None else (int(resolution[0]), int(resolution[1]))
        self.mode: SaliencyMode = mode
        self.config, self.connect, self.listen = config, tuple(connect), tuple(listen)
        self.multicast_scouting, self.congestion = multicast_scouting, congestion
        self.keys = {kind: key_expr(self.camera, kind) for kind in ("saliency", "objects", "stats")}
        self.seq = 0
        self._session: Any = None
        self._publishers: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> ZenohPublisher:
        """Open the zenoh session and declare the three publishers."""
        if self._session is not None:
            return self
        zenoh = import_zenoh()
        cfg = zenoh_config(self.config, self.connect, self.listen, self.multicast_scouting)
        try:
            self._session = zenoh.open(cfg)
        except Exception as exc:
            raise MutualSenseError(
                f"cannot open a zenoh session: {exc}", "check the endpoints (is the port in use?) and --zenoh-config."
            ) from exc
        cc = zenoh.CongestionControl.BLOCK if self.congestion == "block" else zenoh.CongestionControl.DROP
        schema = f"mutualsense.results.v{RESULTS_SCHEMA_VERSION}"
        encodings = {
            "saliency": zenoh.Encoding.APPLICATION_OCTET_STREAM.with_schema(f"{schema}.saliency"),
            "objects": zenoh.Encoding.APPLICATION_JSON.with_schema(f"{schema}.objects"),
            "stats": zenoh.Encoding.APPLICATION_JSON.with_schema(f"{schema}.stats"),
        }
        for kind, key in self.keys.items():
            self._publishers[kind] = self._session.declare_publisher(
                key, encoding=encodings[kind], congestion_control=cc
            )
        return self

    def close(self) -> None:
        """Undeclare the publishers and close the session; idempotent."""
        session, self._session = self._session, None
        publishers, self._publishers = self._publishers, {}
        for p in publishers.values():
            with contextlib.suppress(Exception):  # already gone with the session
                p.undeclare()
        if session is not None:
            session.close()

    def __enter__(self) -> ZenohPublisher:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ publishing
    def publish(self, result: SaliencyResult, stats: PipelineStats | Mapping[str, Any] | None = None) -> int:
        """Publish one result (saliency, objects) and, when given, the stream's stats; returns its ``seq``."""
        if self._session is None:
            raise MutualSenseError("the publisher is not open.", "use `with ZenohPublisher(...) as pub:`.")
        seq, now = self.seq, time.time()
        self._publishers["saliency"].put(encode_saliency(result, self.camera, seq, self.resolution, self.mode, now))
        self._publishers["objects"].put(encode_objects(result, self.camera, seq, now))
        if stats is not None:
            self._publishers["stats"].put(encode_stats(stats, self.camera, seq, now))
        self.seq += 1
        return seq

    def has_subscribers(self, kinds: Sequence[str] = ("saliency", "objects")) -> bool:
        """True when every one of ``kinds`` has at least one matching subscriber on the network."""
        if self._session is None:
            return False
        return all(self._publishers[k].matching_status.matching for k in kinds)

    def wait_for_subscribers(self, timeout: float = 5.0, kinds: Sequence[str] = ("saliency", "objects")) -> bool:
        """Wait until :meth:`has_subscribers` (messages published before that are not routed anywhere)."""
        deadline = time.monotonic() + timeout
        while not self.has_subscribers(kinds):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def wait_for_no_subscribers(self, timeout: float = 5.0, kinds: Sequence[str] = ("saliency", "objects")) -> bool:
        """Wait until no subscriber matches any of ``kinds`` (e.g. until a subscriber that wanted N results left)."""
        deadline = time.monotonic() + timeout
        while self._session is not None and any(self._publishers[k].matching_status.matching for k in kinds):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True
