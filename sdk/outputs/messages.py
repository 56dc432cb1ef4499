"""Wire format of published results: saliency as PNG, objects and stats as JSON, schema-validated.

Three message kinds, one per key expression ``mutualsense/<camera>/{saliency,objects,stats}``
(see :mod:`mutualsense.outputs.publish`), all described by the versioned JSON Schema
``mutualsense/schemas/results.v1.json`` (one ``$defs`` entry per kind):

- **saliency**: one self-contained payload, ``<header JSON, one line>`` + ``b"\\n"`` + ``<PNG>``.
  The header (compact JSON, so it never contains a raw newline) names the camera, the frame numbers
  and timestamps, the PNG's size and the colour image's size, the ``mode`` and ``png_bytes``. The
  PNG is 8-bit greyscale: ``map`` = saliency × 255 (rounded), ``mask`` = 255 where saliency >
  threshold (written 1-bit, so a mask costs a few hundred bytes).
- **objects**: UTF-8 JSON: boxes (colour pixels), score, area fraction, median distance in metres,
  frame numbers, timestamps, skew and the pipeline's per-stage latency.
- **stats**: UTF-8 JSON: the stream's exact counters (:class:`mutualsense.pipeline.PipelineStats`)
  and optional rates.

Every message carries ``seq`` (the publisher's result counter, shared by the three messages of one
result) and ``published_at`` (wall-clock Unix seconds), so a subscriber can pair them and compute the
publish → receive latency. Decoding validates against the schema and raises :class:`MessageError`
(a :class:`~mutualsense.errors.MutualSenseError` and a :class:`ValueError`) on anything malformed.

This module needs only NumPy, OpenCV and jsonschema (no zenoh).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np

from mutualsense.errors import MutualSenseError, summarize_schema_errors

if TYPE_CHECKING:
    from mutualsense.pipeline import PipelineStats
    from mutualsense.results import SaliencyResult

__all__ = [
    "KINDS",
    "RESULTS_SCHEMA_VERSION",
    "DecodedSaliency",
    "MessageError",
    "SaliencyMode",
    "decode",
    "decode_json",
    "decode_saliency",
    "encode_objects",
    "encode_saliency",
    "encode_stats",
    "objects_message",
    "render_saliency",
    "results_schema",
    "stats_message",
    "validate_message",
]

RESULTS_SCHEMA_VERSION = 1
KINDS = ("saliency", "objects", "stats")
SaliencyMode = Literal["map", "mask"]
COUNTERS = (
    "produced",
    "processed",
    "dropped_by_skew",
    "dropped_by_backpressure",
    "skew_flagged",
    "read_timeouts",
    "source_frame_gaps",
)
# counters that newer pipelines add; carried as counters when present (the schema allows extra integers)
OPTIONAL_COUNTERS = ("reconnects",)
_MAX_HEADER = 64 * 1024  # a saliency header is ~400 bytes; anything longer is not ours


class MessageError(MutualSenseError, ValueError):
    """A payload is not a valid MutualSense results message (truncated, corrupt, wrong version or kind)."""


@cache
def results_schema(version: int = RESULTS_SCHEMA_VERSION) -> dict[str, Any]:
    """The JSON Schema of results messages ``version`` (shipped in ``mutualsense/schemas``)."""
    text = resources.files("mutualsense").joinpath("schemas").joinpath(f"results.v{version}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(kind: str) -> Any:
    import jsonschema

    schema = results_schema()
    name = "saliency_header" if kind == "saliency" else kind
    # validate against the one $defs entry (clear error messages) while resolving refs in the whole schema
    one = {k: v for k, v in schema.items() if k != "oneOf"}
    return jsonschema.Draft202012Validator({**one, "$ref": f"#/$defs/{name}"})


def validate_message(message: Any, kind: str | None = None) -> dict[str, Any]:
    """Check ``message`` (a decoded JSON object; for saliency, the header) against the schema.

    Args:
        message: the JSON object.
        kind: the expected kind; None accepts any of :data:`KINDS` (taken from ``message["kind"]``).

    Returns:
        ``message``, for chaining.

    Raises:
        MessageError: naming the first problem and where it is.
    """
    if not isinstance(message, dict):
        raise MessageError(f"a results message must be a JSON object, got {type(message).__name__}.")
    version = message.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > RESULTS_SCHEMA_VERSION:
        raise MessageError(
            f"message has schema version {version}; this mutualsense reads up to {RESULTS_SCHEMA_VERSION}.",
            "upgrade the subscriber (`pip install -U mutualsense`).",
        )
    got = message.get("kind")
    if kind is None:
        if got not in KINDS:
            raise MessageError(f"message kind {got!r} is not one of {KINDS}.")
        kind = str(got)
    elif got != kind:
        raise MessageError(f"expected a {kind!r} message, got kind {got!r}.")
    problem = summarize_schema_errors(_validator(kind).iter_errors(message))
    if problem:
        raise MessageError(
            f"invalid {kind} message: {problem}.",
            "publisher and subscriber must use the same results schema version.",
        )
    return message


# ---------------------------------------------------------------------------------------------- building


def _base(kind: str, camera: str, seq: int, published_at: float | None) -> dict[str, Any]:
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "kind": kind,
        "camera": camera,
        "seq": int(seq),
        "published_at": time.time() if published_at is None else float(published_at),
    }


def _frame(result: SaliencyResult) -> dict[str, Any]:
    return {
        "color_frame_number": int(result.color_frame_number),
        "depth_frame_number": int(result.depth_frame_number),
        "color_timestamp_ms": float(result.color_timestamp_ms),
        "depth_timestamp_ms": float(result.depth_timestamp_ms),
        "clock_domain": result.clock_domain,
    }


def _finite(x: Any) -> float:
    """JSON has no NaN/inf: map them to 0 (only ever a degenerate latency or skew)."""
    x = float(x)
    return x if math.isfinite(x) else 0.0


def render_saliency(
    saliency: np.ndarray, resolution: tuple[int, int] | None = None, mode: SaliencyMode = "map", threshold: float = 0.5
) -> np.ndarray:
    """The uint8 image that :func:`encode_saliency` puts in the PNG.

    Args:
        saliency: (H, W) float in [0, 1].
        resolution: (width, height) of the output; None keeps the input size.
        mode: ``map`` (0-255 saliency, area-averaged when downscaling) or ``mask`` (255 where saliency >
            threshold, nearest-neighbour scaled, else 0).
        threshold: the mask threshold.
    """
    if saliency.ndim != 2:
        raise ValueError(f"saliency must be (H, W), got shape {saliency.shape}")
    h, w = saliency.shape
    size = (w, h) if resolution is None else (int(resolution[0]), int(resolution[1]))
    if size[0] < 1 or size[1] < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    if mode == "map":
        img = np.rint(np.clip(saliency.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
        if size != (w, h):
            shrink = size[0] <= w and size[1] <= h
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return img
    if mode == "mask":
        img = np.where(saliency > threshold, 255, 0).astype(np.uint8)
        if size != (w, h):
            img = cv2.resize(img, size, interpolation=cv2.INTER_NEAREST)
        return img
    raise ValueError(f"mode must be 'map' or 'mask', got {mode!r}")


def encode_saliency(
    result: SaliencyResult,
    camera: str,
    seq: int = 0,
    resolution: tuple[int, int] | None = (160, 120),
    mode: SaliencyMode = "map",
    published_at: float | None = None,
) -> bytes:
    """The ``…/saliency`` payload: header JSON line, ``b"\\n"``, PNG (see the module docstring)."""
    img = render_saliency(result.saliency, resolution, mode, result.threshold)
    params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    if mode == "mask":
        params += [cv2.IMWRITE_PNG_BILEVEL, 1]
    ok, buf = cv2.imencode(".png", img, params)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 greyscale image
        raise MessageError("OpenCV could not encode the saliency PNG.")
    png = buf.tobytes()
    ch, cw = result.saliency.shape
    header = {
        **_base("saliency", camera, seq, published_at),
        **_frame(result),
        "mode": mode,
        "encoding": "png",
        "width": int(img.shape[1]),
        "height": int(img.shape[0]),
        "color_width": int(cw),
        "color_height": int(ch),
        "threshold": float(result.threshold),
        "png_bytes": len(png),
    }
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + png


def objects_message(
    result: SaliencyResult, camera: str, seq: int = 0, published_at: float | None = None
) -> dict[str, Any]:
    """The ``…/objects`` message as a dict (see :func:`encode_objects`)."""
    ch, cw = result.saliency.shape
    return {
        **_base("objects", camera, seq, published_at),
        **_frame(result),
        "color_width": int(cw),
        "color_height": int(ch),
        "threshold": float(result.threshold),
        "skew_ms": _finite(result.skew_ms),
        "skew_flagged": bool(result.skew_flagged),
        "latency_ms": {k: _finite(v) for k, v in result.latency_ms.items()},
        "source": str(result.source),
        "objects": [
            {
                "box": [int(v) for v in o.box],
                "score": float(o.score),
                "area_fraction": float(o.area_fraction),
                "median_distance_m": None if o.median_distance_m is None else float(o.median_distance_m),
                "valid_depth_fraction": float(o.valid_depth_fraction),
            }
            for o in result.objects
        ],
    }


def encode_objects(result: SaliencyResult, camera: str, seq: int = 0, published_at: float | None = None) -> bytes:
    """The ``…/objects`` payload: UTF-8 JSON."""
    return json.dumps(objects_message(result, camera, seq, published_at), separators=(",", ":")).encode()


def stats_message(
    stats: PipelineStats | Mapping[str, Any], camera: str, seq: int = 0, published_at: float | None = None
) -> dict[str, Any]:
    """The ``…/stats`` message as a dict.

    Args:
        stats: a :class:`~mutualsense.pipeline.PipelineStats`, or a mapping holding its counters and
            optionally numeric rates (e.g. ``mutualsense.pipeline.stream_stats(...)``); the counters
            go to ``counters``, every other numeric entry to ``rates``.
    """
    values = dict(stats.as_dict()) if hasattr(stats, "as_dict") else dict(stats)
    missing = [k for k in COUNTERS if k not in values]
    if missing:
        raise ValueError(f"stats lack the counters {missing}")
    counters = {k: int(values.pop(k)) for k in COUNTERS}
    counters |= {k: int(values.pop(k)) for k in OPTIONAL_COUNTERS if k in values}
    rates = {
        k: _finite(v) for k, v in values.items() if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
    }
    message = {**_base("stats", camera, seq, published_at), "counters": counters}
    if rates:
        message["rates"] = rates
    return message


def encode_stats(
    stats: PipelineStats | Mapping[str, Any], camera: str, seq: int = 0, published_at: float | None = None
) -> bytes:
    """The ``…/stats`` payload: UTF-8 JSON."""
    return json.dumps(stats_message(stats, camera, seq, published_at), separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------------- decoding


@dataclass(frozen=True, eq=False)
class DecodedSaliency:
    """A decoded ``…/saliency`` message.

    Attributes:
        header: the validated header (camera, seq, frame numbers, timestamps, size, mode, ...).
        image: (height, width) uint8, exactly the published pixels.
    """

    header: dict[str, Any]
    image: np.ndarray

    @property
    def saliency(self) -> np.ndarray:
        """The map as float32 in [0, 1] (for ``mask`` mode: 0 or 1)."""
        return self.image.astype(np.float32) / 255.0

    @property
    def mask(self) -> np.ndarray:
        """Boolean mask: the published mask, or the map above the header's threshold."""
        if self.header["mode"] == "mask":
            return self.image > 127
        return self.image > round(self.header["threshold"] * 255)


def decode_json(payload: bytes | bytearray | memoryview, kind: str | None = None) -> dict[str, Any]:
    """Decode and validate an ``…/objects`` or ``…/stats`` payload.

    Raises:
        MessageError: not UTF-8 JSON, or not a valid message (of ``kind``, when given).
    """
    try:
        message = json.loads(bytes(payload).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MessageError(f"payload is not UTF-8 JSON ({type(exc).__name__}: {exc}).") from exc
    if kind == "saliency" or (isinstance(message, dict) and message.get("kind") == "saliency"):
        raise MessageError("a saliency message is a header line plus a PNG: decode it with decode_saliency().")
    return validate_message(message, kind)


def decode_saliency(payload: bytes | bytearray | memoryview) -> DecodedSaliency:
    """Decode and validate an ``…/saliency`` payload (header line + PNG).

    Raises:
        MessageError: no header line, invalid header, truncated or corrupt PNG, or a PNG whose size or
            length disagrees with the header.
    """
    data = bytes(payload)
    nl = data.find(b"\n", 0, _MAX_HEADER)
    if nl < 0:
        raise MessageError("saliency payload has no header line (expected JSON, a newline, then a PNG).")
    try:
        header = json.loads(data[:nl].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MessageError(f"saliency header is not UTF-8 JSON ({type(exc).__name__}: {exc}).") from exc
    validate_message(header, "saliency")
    png = data[nl + 1 :]
    if len(png) != header["png_bytes"]:
        raise MessageError(f"saliency PNG is {len(png)} bytes, the header says {header['png_bytes']} (truncated?).")
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise MessageError("saliency payload does not carry a PNG after its header.")
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise MessageError("saliency PNG is corrupt (OpenCV cannot decode it).")
    if img.dtype != np.uint8 or img.ndim != 2:
        raise MessageError(f"saliency PNG must be 8-bit greyscale, got {img.dtype} with shape {img.shape}.")
    if img.shape != (header["height"], header["width"]):
        raise MessageError(
            f"saliency PNG is {img.shape[1]}x{img.shape[0]}, the header says {header['width']}x{header['height']}."
        )
    return DecodedSaliency(header, img)


def decode(kind: str, payload: bytes | bytearray | memoryview) -> DecodedSaliency | dict[str, Any]:
    """Decode a payload of ``kind`` (the last key-expression chunk: saliency, objects or stats)."""
    if kind == "saliency":
        return decode_saliency(payload)
    if kind in ("objects", "stats"):
        return decode_json(payload, kind)
    raise MessageError(f"unknown message kind {kind!r}; expected one of {KINDS}.")
