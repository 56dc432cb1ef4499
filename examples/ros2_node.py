"""A ROS 2 node publishing MutualSense results: ``~/saliency`` (sensor_msgs/Image, mono8) and
``~/objects`` (vision_msgs/Detection2DArray).

    ros2 run ... / python examples/ros2_node.py --ros-args -p bundle:=out/demo-fp32 -p source:=camera \\
        -p camera:=front -p frame_id:=front_color_optical_frame -p width:=160 -p height:=120

Parameters: ``bundle`` (bundle folder, required), ``source`` (``camera``, ``camera:SERIAL``, a recording,
``synthetic``), ``camera`` (node-side name, used in logs), ``frame_id`` (header frame), ``backend``
(``ort`` / ``tensorrt``), ``width`` / ``height`` (published map size; 0 = colour resolution), ``mode``
(``map`` / ``mask``).

Written against rclpy's documented API (Humble and later; vision_msgs ≥ 4: ``BoundingBox2D.center`` is a
``Pose2D`` with ``position``). rclpy comes with a ROS 2 installation, not from PyPI: the ROS imports
happen only in :func:`main` and :func:`make_node`. The message contents are built by plain functions
(:func:`image_fields`, :func:`detections`, :func:`ros_stamp`) that need only mutualsense, so they
are tested without ROS. A detection's ``results[0].pose.pose.position`` is the object's centre in the
colour camera's optical frame (metres: x right, y down, z forward = median depth) when the depth is
valid, else zeros; ``distance_m`` is the median depth.

Alternatively, bridge the Zenoh publisher (``mutualsense stream --publish zenoh``) instead of running
this node: the JSON/PNG messages are documented in docs/results.md.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mutualsense.outputs.messages import SaliencyMode, render_saliency
from mutualsense.results import SaliencyResult

HOST_CLOCKS = ("global_time", "system_time")  # timestamps already on the host's wall clock


def ros_stamp(result: SaliencyResult, now_ns: int | None = None) -> tuple[int, int]:
    """``(sec, nanosec)`` for the message header.

    The colour frame's timestamp when it is on the host's wall clock (RealSense ``global_time``,
    ``system_time``), else ``now_ns`` (the node's clock; default ``time.time_ns()``).
    """
    if result.clock_domain in HOST_CLOCKS:
        ns = round(result.color_timestamp_ms * 1000) * 1000  # µs resolution: ms * 1e6 loses float precision
    else:
        ns = time.time_ns() if now_ns is None else int(now_ns)
    return ns // 1_000_000_000, ns % 1_000_000_000


def image_fields(
    result: SaliencyResult,
    resolution: tuple[int, int] | None = None,
    mode: SaliencyMode = "map",
    frame_id: str = "camera_color_optical_frame",
    now_ns: int | None = None,
) -> dict[str, Any]:
    """The fields of a ``sensor_msgs/Image`` (mono8) holding the saliency map (0-255) or mask (0/255).

    Args:
        resolution: (width, height); None = colour resolution.
    """
    img = render_saliency(result.saliency, resolution, mode, result.threshold)
    sec, nanosec = ros_stamp(result, now_ns)
    return {
        "header": {"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": frame_id},
        "height": int(img.shape[0]),
        "width": int(img.shape[1]),
        "encoding": "mono8",
        "is_bigendian": 0,
        "step": int(img.shape[1]),
        "data": img.tobytes(),
    }


def detections(result: SaliencyResult, resolution: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """One dict per salient object, with what a ``vision_msgs/Detection2D`` holds.

    Keys: ``id``, ``bbox`` (``center_x``, ``center_y``, ``size_x``, ``size_y`` in pixels of an image of
    ``resolution``, default the colour image), ``class_id`` (``"salient"``), ``score``, ``distance_m``
    (median depth or None), ``position`` ((x, y, z) metres in the colour optical frame, or None without
    depth or calibration), ``area_fraction``, ``valid_depth_fraction``.
    """
    ch, cw = result.saliency.shape
    sx, sy = (1.0, 1.0) if resolution is None else (resolution[0] / cw, resolution[1] / ch)
    intr = result.frameset.color_intrinsics if result.frameset is not None else None
    out = []
    for i, o in enumerate(result.objects):
        x0, y0, x1, y1 = o.box
        position = None
        if o.median_distance_m is not None and intr is not None:
            z = float(o.median_distance_m)
            # box edges are pixel edges; intrinsics put integer coordinates at pixel centres
            u, v = (x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5
            position = ((u - intr.ppx) / intr.fx * z, (v - intr.ppy) / intr.fy * z, z)
        out.append(
            {
                "id": str(i),
                "bbox": {
                    "center_x": (x0 + x1) / 2 * sx,
                    "center_y": (y0 + y1) / 2 * sy,
                    "size_x": (x1 - x0) * sx,
                    "size_y": (y1 - y0) * sy,
                },
                "class_id": "salient",
                "score": float(o.score),
                "distance_m": o.median_distance_m,
                "position": position,
                "area_fraction": float(o.area_fraction),
                "valid_depth_fraction": float(o.valid_depth_fraction),
            }
        )
    return out


# ---------------------------------------------------------------------------------------------- ROS part


def make_node() -> Any:
    """Create the node (imports rclpy and the message packages; needs a sourced ROS 2 environment)."""
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    import mutualsense

    class SaliencyNode(Node):  # type: ignore[misc]
        """Runs a mutualsense stream in a thread and publishes every result."""

        def __init__(self) -> None:
            super().__init__("mutualsense")
            self.declare_parameter("bundle", "")
            self.declare_parameter("source", "camera")
            self.declare_parameter("camera", "camera")
            self.declare_parameter("frame_id", "camera_color_optical_frame")
            self.declare_parameter("backend", "ort")
            self.declare_parameter("width", 0)
            self.declare_parameter("height", 0)
            self.declare_parameter("mode", "map")
            p = {name: self.get_parameter(name).value for name in ("bundle", "source", "camera", "frame_id")}
            if not p["bundle"]:
                raise ValueError("parameter 'bundle' is required (-p bundle:=PATH)")
            w, h = int(self.get_parameter("width").value), int(self.get_parameter("height").value)
            self.resolution = (w, h) if w > 0 and h > 0 else None
            self.mode = str(self.get_parameter("mode").value)
            self.frame_id = str(p["frame_id"])
            self.image_pub = self.create_publisher(Image, "~/saliency", 10)
            self.objects_pub = self.create_publisher(Detection2DArray, "~/objects", 10)
            self.stream = mutualsense.open(
                p["bundle"], source=p["source"], backend=str(self.get_parameter("backend").value)
            )
            self.get_logger().info(f"camera {p['camera']}: {p['bundle']} on {p['source']}")
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

        def _run(self) -> None:
            with self.stream as stream:
                for result in stream:
                    if self._stop.is_set():
                        break
                    self.publish(result)

        def publish(self, result: SaliencyResult) -> None:
            now_ns = self.get_clock().now().nanoseconds
            f = image_fields(result, self.resolution, self.mode, self.frame_id, now_ns)  # type: ignore[arg-type]
            img = Image()
            img.header.stamp.sec, img.header.stamp.nanosec = (
                f["header"]["stamp"]["sec"],
                f["header"]["stamp"]["nanosec"],
            )
            img.header.frame_id = self.frame_id
            img.height, img.width, img.encoding = f["height"], f["width"], f["encoding"]
            img.is_bigendian, img.step, img.data = f["is_bigendian"], f["step"], f["data"]
            self.image_pub.publish(img)

            array = Detection2DArray()
            array.header = img.header
            for d in detections(result, self.resolution):
                det = Detection2D()
                det.header = img.header
                det.id = d["id"]
                det.bbox.center.position.x = d["bbox"]["center_x"]
                det.bbox.center.position.y = d["bbox"]["center_y"]
                det.bbox.size_x, det.bbox.size_y = d["bbox"]["size_x"], d["bbox"]["size_y"]
                hyp = ObjectHypothesisWithPose()
                hyp.hypothesis.class_id = d["class_id"]
                hyp.hypothesis.score = d["score"]
                if d["position"] is not None:
                    pos = hyp.pose.pose.position
                    pos.x, pos.y, pos.z = d["position"]
                det.results.append(hyp)
                array.detections.append(det)
            self.objects_pub.publish(array)

        def destroy_node(self) -> None:
            self._stop.set()
            self.stream.close()
            super().destroy_node()

    return SaliencyNode()


def main(args: list[str] | None = None) -> None:
    """``rclpy.init``, spin the node until Ctrl-C, shut down."""
    import rclpy

    rclpy.init(args=args)
    node = make_node()
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    main()
