"""Wire format of the 3D results: the ``objects_3d`` entries of the objects message and the points message.

Objects message (schema version 1, revision 2). Schema 1.0 readers reject unknown fields *inside*
``objects[i]`` but accept new top-level fields, so the 3D data travels in a parallel top-level array
``objects_3d`` (same length and order as ``objects``) plus ``frame_id`` and, with a camera-to-robot
transform, ``camera_to_robot`` (4×4 row-major). The message keeps ``schema_version: 1`` (a 1.0
reader still accepts it) and says ``schema_revision: 2``. Each ``objects_3d`` entry: ``track_id``
(int or null), ``position_m``, ``extent_m``, ``velocity_mps`` ([x, y, z] or null; camera frame,
x right, y down, z forward), ``valid_depth_share``, and with a transform ``position_robot_m``,
``extent_robot_m``.

Points message, key ``mutualsense/<camera>/points`` (published only when points are requested):
``<header JSON, one line>`` + ``b"\\n"`` + ``<points>``. The points are little-endian float32
triples ``x, y, z`` in metres, object after object (``N × 12`` bytes in all), in ``frame_id``
(``camera``: the colour camera's frame; ``robot``: transformed by ``camera_to_robot``). The header
has the common and frame fields, ``kind: "points"``, ``frame_id``, ``dtype: "float32"``,
``layout: "xyz"``, ``point_count`` and ``objects``: one ``{"index", "track_id", "offset", "count"}``
per object with points (``offset``/``count`` in points; ``index`` into the objects message).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mutualsense.errors import MutualSenseError

if TYPE_CHECKING:
    from mutualsense.results import SaliencyResult, SalientObject

__all__ = [
    "POINTS_KIND",
    "SCHEMA_REVISION",
    "DecodedPoints",
    "decode_points",
    "points_payload",
    "split_header_line",
    "objects_3d_fields",
    "points_header",
    "PointsError",
]

SCHEMA_REVISION = 2
POINTS_KIND = "points"
_MAX_HEADER = 64 * 1024  # a header is a few hundred bytes; anything longer is not ours
_POINT = np.dtype("<f4")


def _vec(v: tuple[float, ...] | None) -> list[float] | None:
    return None if v is None else [float(x) for x in v]


def _object_3d(o: SalientObject, robot: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "track_id": o.track_id,
        "position_m": _vec(o.position_m),
        "extent_m": _vec(o.extent_m),
        "velocity_mps": _vec(o.velocity_mps),
        "valid_depth_share": float(o.valid_depth_share),
    }
    if robot:
        entry["position_robot_m"] = _vec(o.position_robot_m)
        entry["extent_robot_m"] = _vec(o.extent_robot_m)
    return entry


def objects_3d_fields(result: SaliencyResult) -> dict[str, Any]:
    """The top-level fields the objects message gains in revision 2 (see the module docstring)."""
    transform = result.camera_to_robot
    fields: dict[str, Any] = {
        "frame_id": "camera",
        "objects_3d": [_object_3d(o, transform is not None) for o in result.objects],
    }
    if transform is not None:
        fields["camera_to_robot"] = np.asarray(transform, dtype=np.float64).tolist()
    return fields


def points_header(result: SaliencyResult, base: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
    """The points message's header (``base``: the common and frame fields) and its (N, 3) float32 points."""
    transform = result.camera_to_robot
    chunks, entries, offset = [], [], 0
    for i, o in enumerate(result.objects):
        if o.points_m is None or not len(o.points_m):
            continue
        pts = np.asarray(o.points_m, dtype=np.float32)
        if transform is not None:
            t = np.asarray(transform, dtype=np.float32)
            pts = pts @ t[:3, :3].T + t[:3, 3]
        chunks.append(pts)
        entries.append({"index": i, "track_id": o.track_id, "offset": offset, "count": len(pts)})
        offset += len(pts)
    points = np.concatenate(chunks) if chunks else np.zeros((0, 3), np.float32)
    header = {
        **base,
        "kind": POINTS_KIND,
        "frame_id": "camera" if transform is None else "robot",
        "dtype": "float32",
        "layout": "xyz",
        "point_count": int(offset),
        "objects": entries,
    }
    return header, points


def points_payload(result: SaliencyResult, base: dict[str, Any]) -> bytes:
    """The ``…/points`` payload (``base``: the common and frame fields): header JSON line, ``b"\\n"``, data."""
    header, points = points_header(result, base)
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + points.astype(_POINT, copy=False).tobytes()


@dataclass(frozen=True, eq=False)
class DecodedPoints:
    """A decoded ``…/points`` message: the header and (N, 3) float32 points; ``of(i)`` = object i's points."""

    header: dict[str, Any]
    points: np.ndarray

    def of(self, index: int) -> np.ndarray:
        """The points of object ``index`` of the objects message (empty when it sent none)."""
        for entry in self.header["objects"]:
            if entry["index"] == index:
                return self.points[entry["offset"] : entry["offset"] + entry["count"]]
        return self.points[:0]


class PointsError(MutualSenseError, ValueError):
    """A payload is not a valid points message (or, from :func:`split_header_line`, any framed message)."""


def split_header_line(payload: bytes | bytearray | memoryview, kind: str, data: str) -> tuple[Any, bytes]:
    """A framed payload (``<header JSON line>\\n<data>``) → (the parsed header, the bytes after it).

    Raises:
        PointsError: no newline within the first 64 KiB, or a header that is not UTF-8 JSON.
    """
    raw = bytes(payload)
    nl = raw.find(b"\n", 0, _MAX_HEADER)
    if nl < 0:
        raise PointsError(f"{kind} payload has no header line (expected JSON, a newline, then {data}).")
    try:
        header = json.loads(raw[:nl].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise PointsError(f"{kind} header is not UTF-8 JSON ({type(exc).__name__}: {exc}).") from exc
    return header, raw[nl + 1 :]


def decode_points(payload: bytes | bytearray | memoryview) -> DecodedPoints:
    """Decode a ``…/points`` payload (no schema library needed: the header is checked field by field).

    Raises:
        PointsError: no header line, a wrong kind or layout, or a length that disagrees with the header.
    """
    header, body = split_header_line(payload, POINTS_KIND, "float32 data")
    kind = header.get("kind") if isinstance(header, dict) else None
    if kind != POINTS_KIND:
        raise PointsError(f"expected a points message, got kind {kind!r}.")
    if header.get("dtype") != "float32" or header.get("layout") != "xyz":
        raise PointsError(f"points must be float32 xyz, not {header.get('dtype')!r} {header.get('layout')!r}.")
    count = header.get("point_count")
    if not isinstance(count, int) or len(body) != 12 * count:
        raise PointsError(f"points body is {len(body)} bytes; point_count {count!r} needs 12 each (truncated?).")
    entries = header.get("objects")
    if not isinstance(entries, list) or not all(_indexes(e, count) for e in entries):
        raise PointsError("points header's objects do not index its points.")
    return DecodedPoints(header, np.frombuffer(body, _POINT).reshape(-1, 3).astype(np.float32))


def _indexes(entry: object, count: int) -> bool:
    """Whether an ``objects`` entry of a points header names a slice of its ``count`` points."""
    if not isinstance(entry, dict):
        return False
    offset, n = entry.get("offset"), entry.get("count")
    return isinstance(offset, int) and isinstance(n, int) and offset >= 0 and n >= 0 and offset + n <= count
