"""Subscribe to MutualSense results over Zenoh, decode and validate them, print one line per result.

    python examples/subscribe.py                                    # zenoh defaults (multicast discovery)
    python examples/subscribe.py --connect tcp/192.168.1.10:7447 --camera front --count 100
    python examples/subscribe.py --listen tcp/127.0.0.1:7447 --count 10 --json-out got.json

The publisher is ``mutualsense stream --publish zenoh`` or :class:`mutualsense.outputs.publish.ZenohPublisher`.
With --connect or --listen, multicast scouting is switched off (only the given endpoints are used).
Each result is printed once its saliency and objects messages (same ``seq``) have both arrived, with
the publish → receive latency (``time.time()`` at reception minus the message's ``published_at``; both
clocks must agree, which holds on one machine or with NTP/PTP). Needs ``pip install "mutualsense[zenoh]"``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import queue
import sys
import time
from pathlib import Path
from typing import Any

from mutualsense.errors import MutualSenseError
from mutualsense.outputs.messages import DecodedSaliency, decode
from mutualsense.outputs.publish import KEY_PREFIX, import_zenoh, sanitize_camera, zenoh_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connect", action="append", default=[], help="endpoint to connect to, e.g. tcp/127.0.0.1:7447")
    p.add_argument("--listen", action="append", default=[], help="endpoint to listen on, e.g. tcp/127.0.0.1:7447")
    p.add_argument("--config", type=Path, help="zenoh JSON5 configuration file")
    p.add_argument("--camera", default="*", help="camera name (default: every camera)")
    p.add_argument("--count", type=int, default=None, help="exit after this many results")
    p.add_argument("--timeout", type=float, default=None, help="exit after this many seconds without a message")
    p.add_argument("--json-out", type=Path, help="write every received result (decoded, with latency) here")
    p.add_argument("--quiet", action="store_true", help="no line per result")
    return p.parse_args(argv)


def summary(image: DecodedSaliency) -> dict[str, Any]:
    """What the JSON output keeps of a saliency image: the header and a digest of the exact pixels."""
    return {
        "header": image.header,
        "shape": list(image.image.shape),
        "pixels_sha256": hashlib.sha256(image.image.tobytes()).hexdigest(),
        "mean": float(image.saliency.mean()),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    zenoh = import_zenoh()
    explicit = bool(args.connect or args.listen)
    cfg = zenoh_config(args.config, args.connect, args.listen, multicast_scouting=False if explicit else None)
    camera = "*" if args.camera == "*" else sanitize_camera(args.camera)
    key = f"{KEY_PREFIX}/{camera}/*"

    inbox: queue.Queue[tuple[str, bytes, float]] = queue.Queue()

    def on_sample(sample: Any) -> None:  # zenoh's thread: only timestamp and hand over
        inbox.put((str(sample.key_expr), sample.payload.to_bytes(), time.time()))

    pending: dict[tuple[str, int], dict[str, Any]] = {}  # (camera, seq) → the parts received so far
    results: list[dict[str, Any]] = []
    stats: list[dict[str, Any]] = []
    errors: list[str] = []
    arrivals: list[list[Any]] = []
    with zenoh.open(cfg) as session:
        subscriber = session.declare_subscriber(key, on_sample)
        print(f"subscribed to {key}", flush=True)  # the test waits for this line
        while args.count is None or len(results) < args.count:
            try:
                key_expr, payload, received = inbox.get(timeout=args.timeout)
            except queue.Empty:
                print(f"no message for {args.timeout} s; stopping", file=sys.stderr)
                break
            kind = key_expr.rsplit("/", 1)[-1]
            try:
                message = decode(kind, payload)
            except MutualSenseError as exc:
                errors.append(f"{key_expr}: {exc}")
                print(f"invalid message on {key_expr}: {exc}", file=sys.stderr)
                continue
            header = message.header if isinstance(message, DecodedSaliency) else message
            latency_ms = 1000 * (received - header["published_at"])
            arrivals.append([kind, header["camera"], header["seq"]])
            if kind == "stats":
                stats.append({**header, "latency_ms_transport": latency_ms})
                continue
            part = pending.setdefault((header["camera"], header["seq"]), {"latency_ms_transport": {}})
            part[kind] = summary(message) if isinstance(message, DecodedSaliency) else header
            part["latency_ms_transport"][kind] = latency_ms
            if "saliency" in part and "objects" in part:
                del pending[(header["camera"], header["seq"])]
                objects = part["objects"]
                results.append({"camera": objects["camera"], "seq": objects["seq"], **part})
                if not args.quiet:
                    nearest = [o["median_distance_m"] for o in objects["objects"] if o["median_distance_m"] is not None]
                    print(
                        f"{objects['camera']} #{objects['seq']} frame {objects['color_frame_number']}: "
                        f"{len(objects['objects'])} objects"
                        + (f", nearest {min(nearest):.2f} m" if nearest else "")
                        + f" | pipeline {objects['latency_ms'].get('total', 0.0):.1f} ms"
                        f" | publish->receive {latency_ms:.1f} ms",
                        flush=True,
                    )
        subscriber.undeclare()
    if args.json_out is not None:
        out = {"results": results, "stats": stats, "errors": errors, "arrivals": arrivals, "incomplete": len(pending)}
        args.json_out.write_text(json.dumps(out, indent=1))
    return 0 if args.count is None or len(results) >= args.count else 1


if __name__ == "__main__":
    sys.exit(main())
