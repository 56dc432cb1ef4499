"""The results wire format: round trips, schema validation, and garbage in → a clear error, never a crash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mutualsense.errors import MutualSenseError
from mutualsense.outputs.messages import (
    MessageError,
    decode,
    decode_json,
    decode_saliency,
    encode_objects,
    encode_saliency,
    encode_stats,
    render_saliency,
    results_schema,
    validate_message,
)
from mutualsense.pipeline import PipelineStats
from mutualsense.results import SaliencyResult, SalientObject


def make_result(h: int = 120, w: int = 160, seed: int = 0) -> SaliencyResult:
    rng = np.random.default_rng(seed)
    sal = rng.random((h, w), dtype=np.float32)
    sal[30:60, 40:90] = 0.95
    objects = (
        SalientObject((40, 30, 90, 60), 0.95, 0.08, 1.25, 0.9),
        SalientObject((0, 0, 3, 3), 0.6, 0.001, None, 0.0),
    )
    return SaliencyResult(
        model_saliency=sal,
        objects=objects,
        threshold=0.5,
        color_frame_number=42,
        depth_frame_number=41,
        color_timestamp_ms=1000.5,
        depth_timestamp_ms=998.0,
        clock_domain="synthetic",
        skew_ms=2.5,
        skew_flagged=False,
        arrival_time=10.0,
        result_time=10.02,
        latency_ms={"wait": 1.0, "inference": 15.0, "total": 20.0},
        source="synthetic",
    )


def test_schema_is_valid_and_versioned() -> None:
    schema = results_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith("results.v1.json")
    assert {"saliency_header", "objects", "stats"} <= set(schema["$defs"])
    # the whole schema (oneOf the three kinds) accepts each message
    r = make_result()
    for message in (
        json.loads(encode_saliency(r, "front").split(b"\n", 1)[0]),
        json.loads(encode_objects(r, "front")),
        json.loads(encode_stats(PipelineStats(), "front")),
    ):
        jsonschema.validate(message, schema)


def test_results_doc_is_current() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "results.md"
    assert json.dumps(results_schema(), indent=2) in doc.read_text(), "run `python docs/make_results_doc.py`"


def test_runtime_modules_import_without_zenoh_or_torch() -> None:
    code = (
        "import sys, mutualsense.outputs.messages, mutualsense.outputs.publish; "
        "bad = [m for m in ('zenoh', 'torch', 'rclpy') if m in sys.modules]; sys.exit(str(bad) if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("resolution", [(160, 120), (80, 60), (33, 17), None])
def test_saliency_map_round_trip(resolution: tuple[int, int] | None) -> None:
    r = make_result()
    payload = encode_saliency(r, "front", seq=3, resolution=resolution, mode="map", published_at=123.0)
    d = decode_saliency(payload)
    expected = render_saliency(r.saliency, resolution, "map")
    assert np.array_equal(d.image, expected)
    w, h = resolution or (160, 120)
    assert d.image.shape == (h, w)
    assert d.header["width"] == w and d.header["height"] == h
    assert (d.header["color_width"], d.header["color_height"]) == (160, 120)
    assert d.header["seq"] == 3 and d.header["published_at"] == 123.0 and d.header["camera"] == "front"
    assert d.header["color_frame_number"] == 42 and d.header["depth_frame_number"] == 41
    if resolution is None:  # full resolution: within one grey level of the float map
        assert np.abs(d.saliency - r.saliency).max() <= 0.5 / 255 + 1e-6


def test_saliency_mask_round_trip_is_small() -> None:
    r = make_result()
    payload = encode_saliency(r, "front", resolution=(160, 120), mode="mask")
    d = decode_saliency(payload)
    assert set(np.unique(d.image)) <= {0, 255}
    assert np.array_equal(d.mask, r.mask())
    map_payload = encode_saliency(r, "front", resolution=(160, 120), mode="map")
    assert len(payload) < len(map_payload) / 4  # 1-bit PNG


def test_render_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        render_saliency(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ValueError):
        render_saliency(np.zeros((4, 4), np.float32), mode="jpeg")  # type: ignore[arg-type]


def test_objects_round_trip() -> None:
    r = make_result()
    m = decode_json(encode_objects(r, "front", seq=7, published_at=5.0), "objects")
    assert m["kind"] == "objects" and m["seq"] == 7 and m["camera"] == "front"
    assert m["objects"][0] == {
        "box": [40, 30, 90, 60],
        "score": 0.95,
        "area_fraction": 0.08,
        "median_distance_m": 1.25,
        "valid_depth_fraction": 0.9,
    }
    assert m["objects"][1]["median_distance_m"] is None
    assert m["latency_ms"]["total"] == 20.0 and m["skew_ms"] == 2.5
    assert decode("objects", encode_objects(r, "front", published_at=1.0)) == decode_json(
        encode_objects(r, "front", published_at=1.0)
    )


def test_stats_round_trip_from_dataclass_and_mapping() -> None:
    stats = PipelineStats(produced=10, processed=8, dropped_by_skew=1, dropped_by_backpressure=1)
    m = decode_json(encode_stats(stats, "front", seq=1), "stats")
    assert m["counters"]["processed"] == 8 and "rates" not in m
    m = decode_json(encode_stats({**stats.as_dict(), "fps": 29.5, "latency_p50_ms": 30.0}, "front"), "stats")
    assert m["rates"] == {"fps": 29.5, "latency_p50_ms": 30.0}
    with pytest.raises(ValueError, match="counters"):
        encode_stats({"fps": 1.0}, "front")


def test_validation_errors_are_clear() -> None:
    r = make_result()
    m = json.loads(encode_objects(r, "front"))
    m["objects"][0]["box"] = [1, 2, 3]
    with pytest.raises(MessageError, match=r"at objects/0/box"):
        validate_message(m)
    m = json.loads(encode_objects(r, "front"))
    m["schema_version"] = 2
    with pytest.raises(MessageError, match="upgrade"):
        validate_message(m)
    with pytest.raises(MessageError, match="expected a 'stats' message"):
        decode_json(encode_objects(r, "front"), "stats")
    with pytest.raises(MessageError, match="decode_saliency"):
        decode_json(encode_saliency(r, "front").split(b"\n", 1)[0])
    with pytest.raises(MessageError, match="unknown message kind"):
        decode("pointcloud", b"{}")


def test_truncated_and_corrupt_saliency() -> None:
    payload = encode_saliency(make_result(), "front")
    with pytest.raises(MessageError, match="truncated"):
        decode_saliency(payload[:-10])
    header, png = payload.split(b"\n", 1)
    corrupt = png[:40] + bytes(len(png) - 40)
    with pytest.raises(MessageError, match="corrupt"):
        decode_saliency(header + b"\n" + corrupt)
    with pytest.raises(MessageError, match="no header line"):
        decode_saliency(png.replace(b"\n", b""))
    wrong = json.loads(header)
    wrong["width"] += 1
    with pytest.raises(MessageError, match="the header says"):
        decode_saliency(json.dumps(wrong).encode() + b"\n" + png)
    assert isinstance(MessageError("x"), MutualSenseError) and isinstance(MessageError("x"), ValueError)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=2048), st.sampled_from(["saliency", "objects", "stats"]))
def test_fuzz_garbage_never_crashes(data: bytes, kind: str) -> None:
    with pytest.raises(MessageError):
        decode(kind, data)


_VALID = encode_saliency(make_result(h=24, w=32), "front", resolution=(32, 24))
_VALID_OBJECTS = encode_objects(make_result(h=24, w=32), "front")


@FUZZ
@given(st.data())
def test_fuzz_mutated_messages(data: st.DataObject) -> None:
    """Flip, cut and splice valid payloads: each decodes to a valid message or raises MessageError."""
    base = data.draw(st.sampled_from([("saliency", _VALID), ("objects", _VALID_OBJECTS)]))
    kind, payload = base
    buf = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        i = data.draw(st.integers(0, max(0, len(buf) - 1)))
        if op == "flip" and buf:
            buf[i] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del buf[i : i + data.draw(st.integers(1, 64))]
        else:
            buf[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    try:
        out = decode(kind, bytes(buf))
    except MessageError:
        return
    header = out.header if kind == "saliency" else out  # type: ignore[union-attr]
    validate_message(header, kind)


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=20,
    )
)
def test_fuzz_json_values_are_rejected_cleanly(value: object) -> None:
    with pytest.raises(MessageError):
        decode_json(json.dumps(value).encode())
