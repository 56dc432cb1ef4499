"""Publishing over Zenoh: a publisher process and the example subscriber process on 127.0.0.1 only.

Both peers run with multicast scouting off and explicit endpoints (the subscriber listens on
``tcp/127.0.0.1:PORT``, the publisher connects to it), so nothing leaves the loopback interface.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mutualsense.bundle import Bundle
from mutualsense.errors import MissingDependencyError, MutualSenseError
from mutualsense.outputs.publish import (
    ZenohPublisher,
    camera_name_from_source,
    key_expr,
    parse_resolution,
    sanitize_camera,
)

ROOT = Path(__file__).resolve().parents[2]
HAVE_ZENOH = importlib.util.find_spec("zenoh") is not None
needs_zenoh = pytest.mark.skipif(
    not HAVE_ZENOH, reason='eclipse-zenoh is not installed (pip install "mutualsense[zenoh]")'
)

N = 8
CAMERA = "test cam:1"  # sanitised to test_cam_1
RESOLUTION = (80, 60)

PUBLISHER = f"""
import hashlib, json, sys
from mutualsense.outputs.messages import objects_message, render_saliency
from mutualsense.pipeline import open as open_stream
from mutualsense.outputs.publish import ZenohPublisher
from mutualsense.sources import SyntheticSource

bundle, endpoint, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sent = []
with ZenohPublisher({CAMERA!r}, resolution={RESOLUTION!r}, connect=[endpoint], multicast_scouting=False,
                    congestion="block") as pub:
    if not pub.wait_for_subscribers(15):
        sys.exit("no subscriber matched within 15 s")
    source = SyntheticSource(frames=n, color=(160, 120), depth=(160, 120))
    with open_stream(bundle, source=source, threads=1) as stream:
        for result in stream:
            seq = pub.publish(result, stream.stats)
            img = render_saliency(result.saliency, {RESOLUTION!r}, "map", result.threshold)
            sent.append({{
                "seq": seq,
                "pixels_sha256": hashlib.sha256(img.tobytes()).hexdigest(),
                "objects": objects_message(result, pub.camera, seq),
                "n_objects": len(result.objects),
            }})
    # the subscriber leaves after N results: wait for it, so nothing is cut off by closing the session
    pub.wait_for_no_subscribers(15)
open(out, "w").write(json.dumps(sent))
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sanitize_camera_and_keys() -> None:
    assert sanitize_camera("camera:123456") == "camera_123456"
    assert sanitize_camera("front/left*") == "front_left_"
    assert key_expr("a b", "objects") == "mutualsense/a_b/objects"
    with pytest.raises(MutualSenseError, match="empty"):
        sanitize_camera("  ")
    assert camera_name_from_source("camera:123456") == "camera_123456"
    assert camera_name_from_source("synthetic?fps=30") == "synthetic"
    assert camera_name_from_source("/data/run 1.db3?real_time=1") == "run_1"
    assert parse_resolution("160x120") == (160, 120) and parse_resolution("full") is None
    with pytest.raises(MutualSenseError, match="WIDTHxHEIGHT"):
        parse_resolution("160")


def test_missing_zenoh_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zenoh", None)  # makes `import zenoh` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"eclipse-zenoh is not installed.*mutualsense\[zenoh\]"):
        ZenohPublisher("front").open()


def test_bad_arguments() -> None:
    with pytest.raises(MutualSenseError, match="mode"):
        ZenohPublisher("front", mode="jpeg")  # type: ignore[arg-type]
    with pytest.raises(MutualSenseError, match="resolution"):
        ZenohPublisher("front", resolution=(0, 10))


@needs_zenoh
def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(MutualSenseError, match="does not exist"):
        ZenohPublisher("front", config=tmp_path / "nope.json5").open()


@needs_zenoh
def test_publisher_and_subscriber_processes(tiny_bundle: Bundle, tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"tcp/127.0.0.1:{port}"
    got_path, sent_path = tmp_path / "got.json", tmp_path / "sent.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RUST_LOG": "error"}
    sub = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "subscribe.py"), "--listen", endpoint, "--camera", CAMERA]
        + ["--count", str(N), "--timeout", "30", "--json-out", str(got_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        # wait until the subscriber is declared, then start the publisher
        ready = threading.Event()
        lines: list[str] = []

        def read_stdout() -> None:
            assert sub.stdout is not None
            for line in sub.stdout:
                lines.append(line)
                if line.startswith("subscribed to"):
                    ready.set()

        reader = threading.Thread(target=read_stdout, daemon=True)
        reader.start()
        assert ready.wait(20), (
            f"subscriber did not start: {lines} {sub.communicate()[1] if sub.poll() is not None else ''}"
        )
        script = tmp_path / "publisher.py"
        script.write_text(PUBLISHER)
        t0 = time.monotonic()
        pub = subprocess.run(
            [sys.executable, str(script), str(tiny_bundle.path), endpoint, str(N), str(sent_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert pub.returncode == 0, pub.stderr[-3000:]
        assert sub.wait(timeout=30) == 0, sub.stderr.read()[-3000:] if sub.stderr else ""
        reader.join(5)
        elapsed = time.monotonic() - t0
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()

    sent = json.loads(sent_path.read_text())
    got = json.loads(got_path.read_text())
    assert got["errors"] == [] and got["incomplete"] == 0
    assert len(sent) == N and len(got["results"]) == N
    # in order: every message in publish order, the frames strictly increasing
    assert [r["seq"] for r in got["results"]] == list(range(N))
    saliency_seqs = [s for kind, _, s in got["arrivals"] if kind == "saliency"]
    assert saliency_seqs == list(range(N))
    frames = [r["objects"]["color_frame_number"] for r in got["results"]]
    assert frames == sorted(frames) and len(set(frames)) == N
    for s, r in zip(sent, got["results"], strict=True):
        assert r["camera"] == "test_cam_1"
        # the PNG decodes to exactly the pixels rendered at the chosen resolution
        assert r["saliency"]["shape"] == [RESOLUTION[1], RESOLUTION[0]]
        assert r["saliency"]["pixels_sha256"] == s["pixels_sha256"]
        assert r["saliency"]["header"]["color_frame_number"] == r["objects"]["color_frame_number"]
        # objects: identical except the publish time
        a, b = dict(s["objects"]), dict(r["objects"])
        a.pop("published_at"), b.pop("published_at")
        assert a == b
    assert sum(s["n_objects"] for s in sent) > 0, "the test should see objects with distances"
    # the stats of every result but perhaps the last (the subscriber may leave before it arrives)
    assert [s["seq"] for s in got["stats"]][: N - 1] == list(range(N - 1))
    assert got["stats"][N - 2]["counters"]["processed"] == N - 1

    latencies = [r["latency_ms_transport"]["objects"] for r in got["results"]]
    median = statistics.median(latencies)
    print(
        f"\npublish->receive latency over 127.0.0.1: median {median:.2f} ms, max {max(latencies):.2f} ms; "
        f"{N} results in {elapsed:.1f} s"
    )
    assert 0 <= median < 1000
