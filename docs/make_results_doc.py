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

- **saliency**: the PNG is 8-bit greyscale at the publisher's resolution (default 160×120): mode
  `map` = saliency × 255, mode `mask` = 255 where saliency > threshold (a 1-bit PNG, a few hundred
  bytes). The header says the PNG's `width`/`height`, the colour image's size, frame numbers,
  timestamps, `mode`, `threshold` and `png_bytes`; split the payload at the first `\\n`.
- **objects**: boxes `[x0, y0, x1, y1]` (exclusive) in colour-image pixels, score, area fraction,
  median distance in metres (`null` without valid depth), plus frame numbers, sensor timestamps,
  RGB-depth skew and the pipeline's per-stage latency.
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

A ROS 2 node publishing `sensor_msgs/Image` (mono8) and `vision_msgs/Detection2DArray` is in
`examples/ros2_node.py`.

## Results schema, version {RESULTS_SCHEMA_VERSION}

The schema ships in the package (`mutualsense/schemas/results.v{RESULTS_SCHEMA_VERSION}.json`), one `$defs`
entry per message (`saliency_header`, `objects`, `stats`). Messages may carry fields a newer minor
publisher adds; a subscriber refuses messages of a newer `schema_version` with the advice to upgrade.

```json
"""


def main() -> None:
    text = INTRO + json.dumps(results_schema(), indent=2) + "\n```\n"
    (Path(__file__).parent / "results.md").write_text(text)


if __name__ == "__main__":
    main()
