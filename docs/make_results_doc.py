"""Regenerate docs/results.md from the shipped results schema: `python docs/make_results_doc.py`."""

from __future__ import annotations

import json
from pathlib import Path

from mutualsense.outputs.messages import RESULTS_SCHEMA_VERSION, results_schema

V = RESULTS_SCHEMA_VERSION

INTRO = f"""# Published results

`mutualsense stream --publish zenoh` (or `mutualsense.outputs.publish.ZenohPublisher` in your own loop) publishes
every result over [Eclipse Zenoh](https://zenoh.io) (`pip install "mutualsense[zenoh]"`; the transport
ROS 2 ships as `rmw_zenoh`) on three key expressions, `<camera>` being the camera name with anything
outside `[A-Za-z0-9_.-]` replaced by `_`:

| key expression | payload | zenoh encoding |
|---|---|---|
| `mutualsense/<camera>/saliency` | header, `\\n`, PNG | `application/octet-stream;mutualsense.results.v{V}.saliency` |
| `mutualsense/<camera>/objects` | UTF-8 JSON | `application/json;mutualsense.results.v{V}.objects` |
| `mutualsense/<camera>/stats` | UTF-8 JSON | `application/json;mutualsense.results.v{V}.stats` |
| `mutualsense/<camera>/points` (on request) | header, `\\n`, float32 x y z | `application/octet-stream;mutualsense.results.v{V}.points` |

- **saliency**: the PNG is 8-bit greyscale at the publisher's resolution (default 160×120): mode
  `map` = saliency × 255, mode `mask` = 255 where saliency > threshold (a 1-bit PNG, a few hundred
  bytes). The header says the PNG's `width`/`height`, the colour image's size, frame numbers,
  timestamps, `mode`, `threshold` and `png_bytes`; split the payload at the first `\\n`.
- **objects**: boxes `[x0, y0, x1, y1]` (exclusive) in colour-image pixels, score, area fraction,
  median distance in metres (`null` without valid depth), plus frame numbers, sensor timestamps,
  RGB-depth skew and the pipeline's per-stage latency. Since revision 2, `objects_3d` holds one entry
  per entry of `objects` (same order): `track_id` (stable across results; `null` when not located),
  `position_m` (the centroid of the object's visible surface) and `extent_m` (its trimmed size) in
  metres and `velocity_mps` in m/s, all in the colour camera's frame (`frame_id: "camera"`: x right,
  y down, z forward), and `valid_depth_share`; with a camera-to-robot transform (`--robot-transform`)
  also `position_robot_m`, `extent_robot_m` and the matrix itself as `camera_to_robot`.
- **points** (only with `--points N`, revision 2): the objects' 3D points. The payload is the header
  (one line of compact JSON), a newline byte, then `point_count` points as **little-endian float32
  `x, y, z` triples** (12 bytes each, metres), object after object. `frame_id` says the frame
  (`camera`, or `robot` with a transform); `objects` lists `{{"index", "track_id", "offset", "count"}}`
  per object with points (`index` into the objects message of the same `seq`; `offset` and `count`
  in points). In numpy: `np.frombuffer(payload.split(b"\\n", 1)[1], "<f4").reshape(-1, 3)`.
- **stats**: the stream's exact counters and, from `mutualsense stream`, rates (fps, latency percentiles).

Every message carries `seq` (the publisher's result counter; the messages of one result share it)
and `published_at` (wall-clock Unix seconds): a subscriber pairs messages by `seq` and computes the
publish → receive latency as its `time.time()` minus `published_at` (clocks must agree: one machine,
or NTP/PTP). `mutualsense.outputs.messages.decode(kind, payload)` decodes and validates any of them (no zenoh
needed) and raises `MessageError` on anything malformed. `examples/subscribe.py` is a complete subscriber:

```bash
mutualsense stream --bundle out/demo-fp32 --source camera --publish zenoh              # zenoh defaults
python examples/subscribe.py --camera camera --count 100
# explicit endpoints, no multicast discovery:
mutualsense stream --bundle out/demo-fp32 --source synthetic?fps=30 --publish zenoh --zenoh-config peer.json5
```

A ROS 2 node publishing `sensor_msgs/Image` (mono8), `vision_msgs/Detection2DArray`,
`vision_msgs/Detection3DArray` (3D centroid, extent, track id) and `sensor_msgs/PointCloud2` is in
`examples/ros2_node.py`.

## Results schema, version {RESULTS_SCHEMA_VERSION}

The schema ships in the package (`mutualsense/schemas/results.v{RESULTS_SCHEMA_VERSION}.json`), one `$defs`
entry per message (`saliency_header`, `objects`, `stats`, `points_header`). Messages may carry fields a
newer minor publisher adds; a subscriber refuses messages of a newer `schema_version` with the advice to
upgrade. Additive changes raise `schema_revision` instead (absent = 1; now 2) and keep `schema_version`,
so older subscribers keep working: revision 2 put the 3D data in the new top-level `objects_3d` array
(revision 1 allows no new fields inside `objects[i]`) and the points on a key of their own.

```json
"""


def main() -> None:
    text = INTRO + json.dumps(results_schema(), indent=2) + "\n```\n"
    (Path(__file__).parent / "results.md").write_text(text)


if __name__ == "__main__":
    main()
