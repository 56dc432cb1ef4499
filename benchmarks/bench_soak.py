"""Soak: N synthetic framesets through the full pipeline (ORT CPU, demo fp32 bundle); memory and threads stay flat.

``python benchmarks/bench_soak.py [--frames 20000]`` → ``benchmarks/results/soak.json``. Samples RSS and the
thread count after a warm-up and every 1000 results; checks produced = processed + dropped exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

from common import cpu_name, write_result

from mutualsense.pipeline import Stream
from mutualsense.sources import SyntheticSource

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "soak.json"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def soak(bundle: Path | str, frames: int, warmup: int = 200, every: int = 1000, **source_kw) -> dict:
    """Stream ``frames`` framesets; RSS/thread samples after ``warmup`` and every ``every`` results."""
    threads_before = threading.active_count()
    src = SyntheticSource(real_time=False, frames=frames, **source_kw)
    samples = []
    t0 = time.perf_counter()
    with Stream(bundle, source=src) as stream:
        for n, _ in enumerate(stream, start=1):
            if n == warmup or (n > warmup and n % every == 0):
                samples.append({"results": n, "rss_mb": rss_mb(), "threads": threading.active_count()})
        elapsed = time.perf_counter() - t0
    stats = stream.stats.as_dict()
    dropped = stats["dropped_by_skew"] + stats["dropped_by_backpressure"]
    after = samples[1:] or samples
    base = samples[0]["rss_mb"] if samples else rss_mb()
    return {
        "frames_requested": frames,
        "warmup_results": warmup,
        "elapsed_s": elapsed,
        "fps": stats["processed"] / elapsed,
        "counters": stats,
        "counters_exact": stats["produced"] == stats["processed"] + dropped,
        "rss_after_warmup_mb": base,
        "rss_final_mb": samples[-1]["rss_mb"] if samples else base,
        "rss_growth_after_warmup_mb": max((s["rss_mb"] for s in after), default=base) - base,
        "threads_before": threads_before,
        "threads_while_streaming": sorted({s["threads"] for s in samples}),
        "threads_after_close": threading.active_count(),
        "samples": samples,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--bundle", type=Path, help="fp32 bundle (default: export the demo weights)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle
        if bundle is None:
            from mutualsense.export import DEMO_WEIGHTS
            from mutualsense.export.bundle_export import export_bundle

            bundle = export_bundle(DEMO_WEIGHTS, Path(tmp) / "demo-fp32", precision="fp32", eval_count=0).path
        result = soak(bundle, args.frames, color=(640, 480), depth=(424, 240))
    result = {
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()},
        "backend": "onnxruntime CPU",
        "source": "SyntheticSource(color=(640,480), depth=(424,240), real_time=False)",
        "bundle": "demo weights export/weights/tiny.pt, fp32" if args.bundle is None else str(args.bundle),
        "pass": {
            "rss_growth_le_20mb": result["rss_growth_after_warmup_mb"] <= 20,
            "threads_constant": max(result["threads_while_streaming"]) <= result["samples"][0]["threads"]
            and result["threads_after_close"] == result["threads_before"],
            "counters_exact": result["counters_exact"],
        },
        **result,
    }
    write_result(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
