"""MutualFormer block latency and peak memory: ``fast`` (O(N²d)) vs ``literal`` (N×N products).

fp32 CPU, batch 1, C=256, H=8, N ∈ {256, 484, 1024}; median of >= 10 runs. Peak memory is the
largest resident-set growth over the forward pass, measured in a fresh subprocess per case so
the allocator's earlier high-water mark does not hide it. Writes benchmarks/results/cda_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import cpu_name, write_result  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "cda_cpu.json"

CHILD = r"""
import json, sys, time, torch
from mutualsense.export.model import MutualFormerBlock
n, mode, repeats, threads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
block = MutualFormerBlock(256, 8, mode=mode).eval()
x, xrd = torch.randn(1, n, 512), torch.randn(1, n, 256)
with torch.inference_mode():
    block(x, xrd)
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); block(x, xrd); times.append(time.perf_counter() - t)
print(json.dumps({"times_s": times}))
"""

PEAK_CHILD = r"""
import json, resource, sys, torch
from mutualsense.export.model import MutualFormerBlock
n, mode, threads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
block = MutualFormerBlock(256, 8, mode=mode).eval()
x, xrd = torch.randn(1, n, 512), torch.randn(1, n, 256)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.inference_mode():
    block(x, xrd)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_growth_kib": after - before}))
"""


def run(code: str, *args: object) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 484, 1024])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import torch

    cases = []
    for n in args.sizes:
        row: dict = {"N": n}
        for mode in ("fast", "literal"):
            timed = run(CHILD, n, mode, args.repeats, args.threads)
            peak = run(PEAK_CHILD, n, mode, args.threads)
            row[mode] = {
                "median_ms": 1000 * statistics.median(timed["times_s"]),
                "min_ms": 1000 * min(timed["times_s"]),
                "peak_growth_mib": peak["peak_growth_kib"] / 1024,
            }
        row["speedup_fast_vs_literal"] = row["literal"]["median_ms"] / row["fast"]["median_ms"]
        row["peak_memory_ratio_fast_vs_literal"] = row["fast"]["peak_growth_mib"] / max(
            row["literal"]["peak_growth_mib"], 1e-9
        )
        cases.append(row)
        print(
            f"N={n:5d}  fast {row['fast']['median_ms']:8.2f} ms  literal {row['literal']['median_ms']:8.2f} ms  "
            f"speed-up {row['speedup_fast_vs_literal']:.2f}x  peak MiB fast {row['fast']['peak_growth_mib']:.1f} "
            f"literal {row['literal']['peak_growth_mib']:.1f}"
        )
    result = {
        "benchmark": "MutualFormer block forward, fp32, batch 1, C=256, H=8",
        "machine": {"cpu": cpu_name(), "threads": args.threads, "python": platform.python_version()},
        "torch": torch.__version__,
        "repeats": args.repeats,
        "date": time.strftime("%Y-%m-%d"),
        "cases": cases,
    }
    write_result(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
