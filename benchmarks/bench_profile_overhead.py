"""The profiler's own cost: throughput of the same stream with ``profile_pipeline`` on vs off, in one run.

Writes benchmarks/results/profile_overhead.json. Same bundle (demo fp32, or --bundle), same source
(the sample recording's framesets decoded once and replayed from memory, so the source costs nothing
and the pipeline runs flat out: the worst case for a profiler's relative overhead), same ONNX Runtime
threads. "Off" iterates the stream and does nothing else; "on" is ``profile_pipeline``. Rounds
alternate the order (off/on, on/off, ...) so that drift of a shared machine hits both alike; the
overhead is 1 − median(on) / median(off), plus the median of the per-round paired ratios.

Throughput is measured the same way in both: results after the warm-up divided by the time from the
last warm-up result to the last result (``result_time``). The profiler's per-result bookkeeping is
also timed on its own (microseconds per result, no noise from the machine) and related to the mean
interval between results.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from common import MemorySource, write_result  # noqa: E402

from mutualsense.bundle import Bundle
from mutualsense.pipeline import PipelineStats, Stream
from mutualsense.profiling import profile_pipeline
from mutualsense.profiling.pipeline import ResultColumns
from mutualsense.sources import FrameSet, Recording

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "data" / "sample.db3"
RESULTS = ROOT / "benchmarks" / "results" / "profile_overhead.json"
TARGET_MAX_OVERHEAD = 0.02


def run_off(bundle: Bundle, framesets: list[FrameSet], frames: int, warmup: int, threads: int | None) -> float:
    """Results/s of the bare stream (nothing done per result)."""
    with Stream(bundle, MemorySource(framesets), threads=threads) as stream:
        it = iter(stream)
        start = next(it).result_time if warmup else time.monotonic()
        for _ in range(warmup - 1):
            start = next(it).result_time
        last = start
        for _ in range(frames):
            last = next(it).result_time
    return frames / (last - start)


def run_on(bundle: Bundle, framesets: list[FrameSet], frames: int, warmup: int, threads: int | None) -> float:
    """Results/s of the same stream under ``profile_pipeline``."""
    report = profile_pipeline(bundle, MemorySource(framesets), frames=frames, warmup=warmup, threads=threads)
    assert report.frames == frames
    return report.throughput_fps


def bookkeeping_us(bundle: Bundle, framesets: list[FrameSet], repeats: int = 20_000) -> float:
    """Microseconds the profiler spends per result in the consumer thread (recording its samples)."""
    with Stream(bundle, MemorySource(framesets), threads=1) as stream:
        result = next(iter(stream))
    stats = PipelineStats()
    cols = ResultColumns()
    t0 = time.perf_counter()
    for _ in range(repeats):
        cols.add(result, stats)
    return 1e6 * (time.perf_counter() - t0) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, help="bundle folder (default: export the demo weights, fp32)")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (1 leaves a core to capture)")
    args = parser.parse_args()

    with Recording(SAMPLE) as rec:
        framesets = list(rec)
    with tempfile.TemporaryDirectory() as tmp:
        if args.bundle is None:
            from mutualsense.export import DEMO_WEIGHTS
            from mutualsense.export.bundle_export import export_bundle

            bundle = export_bundle(DEMO_WEIGHTS, Path(tmp) / "fp32", precision="fp32", eval_count=0)
        else:
            bundle = Bundle.load(args.bundle)
        off: list[float] = []
        on: list[float] = []
        for r in range(args.rounds):
            order = ("off", "on") if r % 2 == 0 else ("on", "off")
            for mode in order:
                runner = run_off if mode == "off" else run_on
                rate = runner(bundle, framesets, args.frames, args.warmup, args.threads)
                (off if mode == "off" else on).append(rate)
                print(f"round {r + 1} {mode:3s} {rate:7.1f} results/s", flush=True)
        per_result_us = bookkeeping_us(bundle, framesets)

    paired = [b / a for a, b in zip(off, on, strict=True)]
    overhead_medians = 1 - statistics.median(on) / statistics.median(off)
    overhead_paired = 1 - statistics.median(paired)
    interval_us = 1e6 / statistics.median(off)
    result = {
        "benchmark": "profile_pipeline on vs off: same stream, demo fp32 bundle, ONNX Runtime CPU",
        "source": "examples/data/sample.db3 framesets decoded once, replayed from memory as fast as possible",
        "machine": {"cpu": platform.processor() or platform.machine(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d"),
        "settings": {"frames": args.frames, "warmup": args.warmup, "rounds": args.rounds, "ort_threads": args.threads},
        "target": {"max_overhead_fraction": TARGET_MAX_OVERHEAD},
        "throughput_off_results_per_s": off,
        "throughput_on_results_per_s": on,
        "median_off": statistics.median(off),
        "median_on": statistics.median(on),
        "overhead_fraction_of_medians": overhead_medians,
        "overhead_fraction_paired_median": overhead_paired,
        # run-to-run spread of the "off" runs: a throughput A/B cannot resolve differences below this
        "noise_fraction_off_runs": statistics.stdev(off) / statistics.median(off) if len(off) > 1 else None,
        "bookkeeping_us_per_result": per_result_us,
        "bookkeeping_fraction_of_interval": per_result_us / interval_us,
        "meets_target": max(overhead_paired, per_result_us / interval_us) <= TARGET_MAX_OVERHEAD,
    }
    write_result(RESULTS, result)
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("throughput_")}, indent=2))


if __name__ == "__main__":
    main()
