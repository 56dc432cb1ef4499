"""3D results on the wire: objects_3d in the objects message (revision 2), the points message, and
readers of revision 1 (the schema as shipped before, kept in tests/fixtures) accepting the new messages."""

from __future__ import annotations

import copy
import importlib.util
import json
import queue
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from test_messages import make_result

from mutualsense.outputs.messages import (
    MessageError,
    decode,
    decode_json,
    encode_objects,
    encode_points,
    encode_saliency,
    encode_stats,
    objects_message,
)
from mutualsense.pipeline import PipelineStats
from mutualsense.results import SaliencyResult

OLD_SCHEMA = json.loads((Path(__file__).parents[1] / "fixtures" / "results.v1.r1.json").read_text())
T = np.array([[0, 0, 1, 0.1], [-1, 0, 0, 0.0], [0, -1, 0, 0.5], [0, 0, 0, 1]], np.float64)


def old_reader(message: dict[str, Any], kind: str) -> dict[str, Any]:
    """What a revision-1 subscriber's decoder did: refuse newer schema versions, validate against its schema."""
    if message["schema_version"] > 1:
        raise ValueError("newer schema version")
    name = "saliency_header" if kind == "saliency" else kind
    one = {k: v for k, v in OLD_SCHEMA.items() if k != "oneOf"}
    jsonschema.Draft202012Validator({**one, "$ref": f"#/$defs/{name}"}).validate(message)
    return message


def result_3d(transform: bool = True) -> SaliencyResult:
    """test_messages' result, its first object located in 3D, tracked and with points."""
    base = make_result()
    pts = np.random.default_rng(0).normal((0.1, -0.05, 1.0), 0.02, (50, 3)).astype(np.float32)
    located = replace(
        base.objects[0],
        position_m=(0.1, -0.05, 1.0),
        extent_m=(0.2, 0.1, 0.03),
        position_robot_m=(1.1, -0.1, 0.55) if transform else None,
        extent_robot_m=(0.03, 0.2, 0.1) if transform else None,
        track_id=3,
        velocity_mps=(0.0, 0.1, -0.2),
        points_m=pts,
    )
    return replace(base, objects=(located, base.objects[1]), camera_to_robot=T if transform else None)


def test_objects_message_carries_3d_fields_in_a_parallel_array():
    r = result_3d()
    m = decode_json(encode_objects(r, "front", seq=4), "objects")
    assert m["schema_version"] == 1 and m["schema_revision"] == 2 and m["frame_id"] == "camera"
    assert len(m["objects_3d"]) == len(m["objects"]) == 2
    first, second = m["objects_3d"]
    assert first["track_id"] == 3 and first["position_m"] == pytest.approx([0.1, -0.05, 1.0])
    assert first["extent_m"] == pytest.approx([0.2, 0.1, 0.03]) and first["velocity_mps"] == pytest.approx(
        [0, 0.1, -0.2]
    )
    assert first["position_robot_m"] == pytest.approx([1.1, -0.1, 0.55])
    assert second == {
        "track_id": None,
        "position_m": None,
        "extent_m": None,
        "velocity_mps": None,
        "valid_depth_share": 0.0,
        "position_robot_m": None,
        "extent_robot_m": None,
    }
    assert np.array_equal(np.array(m["camera_to_robot"]), T)
    plain = decode_json(encode_objects(result_3d(transform=False), "front"), "objects")
    assert "camera_to_robot" not in plain and "position_robot_m" not in plain["objects_3d"][0]


def test_revision_1_readers_accept_revision_2_messages():
    r = result_3d()
    old_reader(json.loads(encode_objects(r, "front")), "objects")
    old_reader(json.loads(encode_saliency(r, "front").split(b"\n", 1)[0]), "saliency")
    old_reader(json.loads(encode_stats(PipelineStats(produced=3, processed=3), "front")), "stats")
    # the reason 3D fields are not inside objects[i]: revision 1 forbids unknown fields there
    m = objects_message(r, "front")
    nested = copy.deepcopy(m)
    nested["objects"][0]["position_m"] = [0.1, -0.05, 1.0]
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        old_reader(nested, "objects")


def test_points_message_round_trip_in_camera_and_robot_frames():
    plain = result_3d(transform=False)
    decoded = decode("points", encode_points(plain, "front", seq=7, published_at=5.0))
    h = decoded.header
    assert (h["kind"], h["frame_id"], h["dtype"], h["layout"], h["point_count"], h["seq"]) == (
        "points",
        "camera",
        "float32",
        "xyz",
        50,
        7,
    )
    assert h["objects"] == [{"index": 0, "track_id": 3, "offset": 0, "count": 50}]
    assert np.array_equal(decoded.of(0), plain.objects[0].points_m) and decoded.of(1).shape == (0, 3)
    robot = decode("points", encode_points(result_3d(), "front"))
    assert robot.header["frame_id"] == "robot"
    expected = plain.objects[0].points_m.astype(np.float64) @ T[:3, :3].T + T[:3, 3]
    assert np.allclose(robot.points, expected, atol=1e-6)
    # the binary layout as documented: header line, then little-endian float32 x, y, z
    payload = encode_points(plain, "front")
    body = payload.split(b"\n", 1)[1]
    assert np.array_equal(np.frombuffer(body, "<f4").reshape(-1, 3), plain.objects[0].points_m)
    empty = decode("points", encode_points(replace(plain, objects=()), "front"))
    assert empty.header["point_count"] == 0 and empty.points.shape == (0, 3)


@pytest.mark.parametrize(
    ("mangle", "needle"),
    [
        (lambda p: p[:-5], "truncated"),
        (lambda p: p.split(b"\n", 1)[1], "header"),
        (lambda p: p.replace(b'"float32"', b'"float64"'), "float32"),
        (lambda p: p.replace(b'"kind":"points"', b'"kind":"objects"'), "points message"),
        (lambda p: p.replace(b'"frame_id":"camera"', b'"frame_id":"moon"'), "frame_id"),
    ],
)
def test_bad_points_payloads_are_refused(mangle, needle):
    payload = encode_points(result_3d(transform=False), "front")
    with pytest.raises(MessageError, match=needle):
        decode("points", mangle(payload))


@pytest.mark.skipif(
    importlib.util.find_spec("zenoh") is None,
    reason='eclipse-zenoh is not installed (pip install "mutualsense[zenoh]")',
)
def test_points_travel_on_their_own_key_over_zenoh():
    import socket

    from mutualsense.outputs.publish import ZenohPublisher, import_zenoh, zenoh_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        endpoint = f"tcp/127.0.0.1:{s.getsockname()[1]}"
    zenoh = import_zenoh()
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    cfg = zenoh_config(None, listen=[endpoint], multicast_scouting=False)
    with zenoh.open(cfg) as session:
        sub = session.declare_subscriber(
            "mutualsense/front/*", lambda s: got.put((str(s.key_expr), s.payload.to_bytes()))
        )
        with ZenohPublisher(
            "front", connect=[endpoint], multicast_scouting=False, congestion="block", points=True
        ) as pub:
            assert pub.wait_for_subscribers(15, kinds=("objects", "points"))
            pub.publish(result_3d())
            received = {}
            while len(received) < 3:
                key, payload = got.get(timeout=15)
                received[key.rsplit("/", 1)[-1]] = payload
        sub.undeclare()
    points = decode("points", received["points"])
    objects = decode("objects", received["objects"])
    assert points.header["seq"] == objects["seq"] == 0
    assert points.header["objects"][0]["track_id"] == objects["objects_3d"][0]["track_id"] == 3
    assert points.points.shape == (50, 3) and points.header["frame_id"] == "robot"
