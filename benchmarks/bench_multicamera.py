"""N cameras through one backend vs N separate pipelines (ONNX Runtime CPU, demo fp32 bundle).

Each camera replays the sample recording's framesets from memory as fast as it is read (no decode
cost), so the figure is the pipelines' own throughput. The shared backend runs with ONNX Runtime on
one thread (the pipeline's default on 2 cores: a core left to capture), on both, and with two
single-threaded calls at once (``inference_workers=2``); the separate pipelines run one
single-threaded session each, so two inferences run at once. The CPU may be
shared with other work: compare within one file. Writes benchmarks/results/multicamera_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from common import MemorySource, cpu_name, write_result

from mutualsense.export import DEMO_WEIGHTS
from mutualsense.export.bundle_export import export_bundle
from mutualsense.pipeline import Stream
from mutualsense.sources import Recording

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "multicamera_cpu.json"


def run(stream: Stream, seconds: float, counts: list[int]) -> None:
    with stream:
        t0 = time.perf_counter()
        for _ in stream:
            counts.append(1)
            if time.perf_counter() - t0 >= seconds:
                break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    with Recording(ROOT / "examples" / "data" / "sample.db3") as rec:
        framesets = list(rec)
    n = args.cameras
    result: dict = {"machine": {"cpu": cpu_name(), "cores": 2}, "cameras": n, "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (1, n):
            bundle = export_bundle(DEMO_WEIGHTS, Path(tmp) / f"b{batch}", precision="fp32", batch=batch, eval_count=0)
            for ort_threads, workers in ((1, 1), (2, 1), (1, 2)):
                counts: list[int] = []
                sources = [MemorySource(framesets, f"cam{i}") for i in range(n)]
                t = time.perf_counter()
                stream = Stream(bundle, sources=sources, threads=ort_threads, inference_workers=workers)
                run(stream, args.seconds, counts)
                suffix = "" if ort_threads == 1 else "_ort2threads"
                suffix += "_2workers" if workers > 1 else ""
                result[f"one_backend_batch{batch}{suffix}_results_per_s"] = len(counts) / (time.perf_counter() - t)
        bundle = export_bundle(DEMO_WEIGHTS, Path(tmp) / "sep", precision="fp32", eval_count=0)
        per: list[list[int]] = [[] for _ in range(n)]
        streams = [Stream(bundle, MemorySource(framesets, f"cam{i}"), threads=1) for i in range(n)]
        threads = [threading.Thread(target=run, args=(s, args.seconds, c)) for s, c in zip(streams, per, strict=True)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        result["separate_pipelines_results_per_s"] = sum(len(c) for c in per) / (time.perf_counter() - t)
    sep = result["separate_pipelines_results_per_s"]
    result["ratio_one_backend_vs_separate"] = result["one_backend_batch1_results_per_s"] / sep
    result[f"ratio_one_backend_batch{n}_vs_separate"] = result[f"one_backend_batch{n}_results_per_s"] / sep
    for batch in (1, n):
        for suffix in ("_ort2threads", "_2workers"):
            key = f"one_backend_batch{batch}{suffix}_results_per_s"
            result[f"ratio_one_backend_batch{batch}{suffix}_vs_separate"] = result[key] / sep
    write_result(RESULTS, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
