"""Throughput of `mutualsense stream` with and without --save-overlay, in one run.

Writes benchmarks/results/overlay_cpu.json: results/s of the demo fp32 bundle (ONNX Runtime CPU, the
pipeline's default threads) without overlays and with every result handed to the overlay writer
exactly as the CLI does (the OverlayWriter sink: composed, JPEG-encoded and written in its own thread,
skipping and counting the pictures it cannot keep up with, never holding the stream up), for two
sources: the sample recording's framesets replayed from memory as fast as possible (the pipeline's
capacity), and the sample recording paced at its camera rate (15 fps, what a robot streams). The
settings alternate, several rounds each, and the medians are compared: the target is ≥ 0.9×.
The machine's load average is recorded: on a CPU shared with other jobs, every millisecond of CPU
the pictures take is taken from inference, so the capacity ratio depends on it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import SAMPLE, MemorySource, cpu_name, results_per_second, sample_framesets, write_result  # noqa: E402

from mutualsense.bundle import Bundle
from mutualsense.export import DEMO_WEIGHTS
from mutualsense.outputs.overlays import OverlayWriter
from mutualsense.pipeline import Stream
from mutualsense.sources import Source

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "overlay_cpu.json"


def run(bundle: Bundle, source: Source | str, seconds: float, overlays: Path | None) -> tuple[float, int, int]:
    """Results per second over ``seconds`` (after 5 warm-up results), and the pictures written and skipped."""
    writer = OverlayWriter(overlays) if overlays is not None else None
    with Stream(bundle, source, sinks=[writer] if writer is not None else []) as stream:
        rate = results_per_second(stream, seconds)
    return rate, (writer.written if writer else 0), (writer.dropped if writer else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="per round and setting")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from mutualsense.export.bundle_export import export_bundle

    framesets = sample_framesets()
    sources: dict[str, Callable[[], Source | str]] = {
        "as_fast_as_possible": lambda: MemorySource(framesets),
        "camera_rate_15fps": lambda: f"{SAMPLE}?loop=1&real_time=1",
    }
    scenarios = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = export_bundle(DEMO_WEIGHTS, Path(tmp) / "fp32", precision="fp32", eval_count=0)
        for name, make in sources.items():
            plain: list[float] = []
            with_overlays: list[float] = []
            written = skipped = 0
            for i in range(args.rounds):
                plain.append(run(bundle, make(), args.seconds, None)[0])
                rate, n, dropped = run(bundle, make(), args.seconds, Path(tmp) / f"overlays-{name}-{i}")
                with_overlays.append(rate)
                written, skipped = written + n, skipped + dropped
                print(f"{name} {i + 1}: {plain[-1]:.1f}/s without, {rate:.1f} with ({n} written, {dropped} skipped)")
            scenarios[name] = {
                "results_per_s_without_overlays": plain,
                "results_per_s_with_overlays": with_overlays,
                "pictures_written": written,
                "pictures_skipped_writer_behind": skipped,
                "ratio_median_with_vs_without": statistics.median(with_overlays) / statistics.median(plain),
            }
    result = {
        "benchmark": "mutualsense stream with vs without --save-overlay: sample.db3 framesets (colour 640x480, "
        "depth 424x240) from memory, demo fp32 bundle, ONNX Runtime CPU",
        "machine": {"cpu": cpu_name(), "cores": 2, "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
        "load_average_1min_before_after": [load_before[0], os.getloadavg()[0]],
        "seconds_per_round": args.seconds,
        "scenarios": scenarios,
        "target_ratio_min": 0.9,
        "note": "the machine was shared with other jobs: compare the two settings of one run, not across runs",
    }
    write_result(RESULTS, result)
    for name, sc in scenarios.items():
        print(f"{name}: median ratio with/without overlays {sc['ratio_median_with_vs_without']:.3f} (target ≥ 0.9)")


if __name__ == "__main__":
    main()
