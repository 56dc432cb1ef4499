"""examples/ros2_node.py: its message-building functions without ROS, the node itself only where rclpy exists."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mutualsense.results import SaliencyResult, SalientObject
from mutualsense.sources import SyntheticSource

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ros2_node.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ros2_node_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ros2() -> ModuleType:
    return load_example()


def make_result(clock_domain: str = "synthetic", with_frameset: bool = True) -> SaliencyResult:
    source = SyntheticSource(frames=1, color=(160, 120), depth=(160, 120))
    source.start()
    try:
        fs = source.read(1000)
    finally:
        source.stop()
    assert fs is not None
    sal = np.zeros((120, 160), np.float32)
    sal[20:40, 60:100] = 0.9
    objects = (SalientObject((60, 20, 100, 40), 0.9, 0.04, 2.0, 0.95), SalientObject((0, 0, 4, 4), 0.6, 0.001, None, 0))
    return SaliencyResult(
        model_saliency=sal,
        objects=objects,
        threshold=0.5,
        color_frame_number=5,
        depth_frame_number=5,
        color_timestamp_ms=1_700_000_000_123.5,
        depth_timestamp_ms=1_700_000_000_120.0,
        clock_domain=clock_domain,
        skew_ms=3.5,
        skew_flagged=False,
        arrival_time=0.0,
        result_time=0.01,
        source="synthetic",
        frameset=fs if with_frameset else None,
    )


def test_example_imports_without_ros(ros2: ModuleType) -> None:
    assert "rclpy" not in sys.modules or importlib.util.find_spec("rclpy") is not None
    assert callable(ros2.main) and callable(ros2.make_node)


def test_image_fields_mono8(ros2: ModuleType) -> None:
    r = make_result()
    f = ros2.image_fields(r, frame_id="front", now_ns=12_000_000_345)
    assert (f["height"], f["width"], f["encoding"], f["step"], f["is_bigendian"]) == (120, 160, "mono8", 160, 0)
    assert len(f["data"]) == f["height"] * f["step"]
    img = np.frombuffer(f["data"], np.uint8).reshape(120, 160)
    assert img[30, 80] == round(0.9 * 255) and img[0, 0] == 0
    assert f["header"] == {"stamp": {"sec": 12, "nanosec": 345}, "frame_id": "front"}
    small = ros2.image_fields(r, resolution=(80, 60), mode="mask", now_ns=0)
    assert (small["width"], small["height"], small["step"]) == (80, 60, 80)
    assert set(np.unique(np.frombuffer(small["data"], np.uint8))) == {0, 255}


def test_stamp_uses_host_clock_timestamps(ros2: ModuleType) -> None:
    r = make_result(clock_domain="global_time")
    assert ros2.ros_stamp(r, now_ns=5) == (1_700_000_000, 123_500_000)
    assert ros2.ros_stamp(make_result(clock_domain="hardware_clock"), now_ns=2_000_000_001) == (2, 1)


def test_detections(ros2: ModuleType) -> None:
    r = make_result()
    d = ros2.detections(r)
    assert len(d) == 2
    first = d[0]
    assert first["bbox"] == {"center_x": 80.0, "center_y": 30.0, "size_x": 40.0, "size_y": 20.0}
    assert first["class_id"] == "salient" and first["score"] == 0.9 and first["distance_m"] == 2.0
    x, y, z = first["position"]
    intr = r.frameset.color_intrinsics  # type: ignore[union-attr]
    assert z == 2.0
    assert x == pytest.approx((79.5 - intr.ppx) / intr.fx * 2.0)
    assert y == pytest.approx((29.5 - intr.ppy) / intr.fy * 2.0)
    assert d[1]["distance_m"] is None and d[1]["position"] is None
    scaled = ros2.detections(r, resolution=(80, 60))[0]["bbox"]
    assert scaled == {"center_x": 40.0, "center_y": 15.0, "size_x": 20.0, "size_y": 10.0}
    assert ros2.detections(make_result(with_frameset=False))[0]["position"] is None


def test_ros2_node() -> None:
    if importlib.util.find_spec("rclpy") is None:
        pytest.skip(
            "rclpy is not on PyPI: it comes with a ROS 2 installation (source /opt/ros/<distro>/setup.bash); "
            "the node's message-building functions are tested above without it"
        )
    pytest.importorskip("vision_msgs", reason="vision_msgs is not installed (apt install ros-<distro>-vision-msgs)")
    import rclpy

    from mutualsense.export import DEMO_WEIGHTS

    if not DEMO_WEIGHTS.exists():
        pytest.skip("needs the demo weights")
    rclpy.init()
    try:
        with pytest.raises(ValueError, match="bundle"):
            load_example().make_node()  # no bundle parameter
    finally:
        rclpy.shutdown()
