"""MutualFormer block latency, roofline share and peak memory: ``fast`` (O(N²d)) vs ``literal`` (N×N products).

fp32 CPU, batch 1, C=256, H=8, N ∈ {256, 484, 1024}; median and minimum of >= 10 runs. Three forms:
``fast`` (the inference path: no autograd, one head at a time, fused self-attention kernel),
``fast_autograd`` (the same math as training and export run it, batched over heads) and
``literal``. Roofline: a 2048³ sgemm with the same threads is timed in the same process,
alternating with the block (the CPU may be shared, so both see the same conditions); the share
is the block's useful FLOPs (48·N·C² + 20·N²·C: projections, MLP and the ten N×N×d products of
the fast form) per second over the sgemm's. Peak memory is the largest resident-set growth over
the forward pass, measured in a fresh subprocess per case so the allocator's earlier high-water
mark does not hide it. Writes benchmarks/results/cda_cpu.json.
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

MODES = ("fast", "fast_autograd", "literal")
SGEMM = 2048

# fast_autograd: the parameters do not require grad, autograd stays enabled: the form training runs
SETUP = r"""
import contextlib, json, sys, time, torch
from mutualsense.export.model import MutualFormerBlock
def make(n, mode, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    block = MutualFormerBlock(256, 8, mode="literal" if mode == "literal" else "fast").eval().requires_grad_(False)
    ctx = torch.enable_grad if mode == "fast_autograd" else torch.inference_mode
    return block, ctx, torch.randn(1, n, 512), torch.randn(1, n, 256)
"""

CHILD = (
    SETUP
    + r"""
n, mode, repeats, threads, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
block, ctx, x, xrd = make(n, mode, threads)
a, b = torch.randn(size, size), torch.randn(size, size)
with ctx():
    block(x, xrd); a @ b
    times, sgemm = [], []
    for _ in range(repeats):
        t = time.perf_counter(); a @ b; sgemm.append(time.perf_counter() - t)
        t = time.perf_counter(); block(x, xrd); times.append(time.perf_counter() - t)
print(json.dumps({"times_s": times, "sgemm_s": sgemm}))
"""
)

PEAK_CHILD = (
    SETUP
    + r"""
import resource
n, mode, threads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
block, ctx, x, xrd = make(n, mode, threads)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with ctx():
    block(x, xrd)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_growth_kib": after - before}))
"""
)


def useful_gflop(n: int, c: int = 256) -> float:
    """FLOPs of the fast form: q/k/v (18NC²), proj_r/d/rd (12NC²), proj (2NC²), MLP (16NC²), 10 N×N×d products."""
    return (48 * n * c * c + 20 * n * n * c) / 1e9


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
        row: dict = {"N": n, "useful_gflop": useful_gflop(n)}
        for mode in MODES:
            timed = run(CHILD, n, mode, args.repeats, args.threads, SGEMM)
            peak = run(PEAK_CHILD, n, mode, args.threads)
            sgemm_gflops = 2 * SGEMM**3 / 1e9 / min(timed["sgemm_s"])
            row[mode] = {
                "median_ms": 1000 * statistics.median(timed["times_s"]),
                "min_ms": 1000 * min(timed["times_s"]),
                "sgemm_gflops": sgemm_gflops,
                "sgemm_median_gflops": 2 * SGEMM**3 / 1e9 / statistics.median(timed["sgemm_s"]),
                # best against best, and median against median: the two ends of a shared CPU
                "roofline_share": row["useful_gflop"] / (min(timed["times_s"]) * sgemm_gflops),
                "roofline_share_median": statistics.median(
                    row["useful_gflop"] * s / (2 * SGEMM**3 / 1e9 * b)
                    for b, s in zip(timed["times_s"], timed["sgemm_s"], strict=True)
                ),
                "peak_growth_mib": peak["peak_growth_kib"] / 1024,
            }
        row["speedup_fast_vs_literal"] = row["literal"]["median_ms"] / row["fast"]["median_ms"]
        row["speedup_fast_vs_fast_autograd"] = row["fast_autograd"]["median_ms"] / row["fast"]["median_ms"]
        row["peak_memory_ratio_fast_vs_literal"] = row["fast"]["peak_growth_mib"] / max(
            row["literal"]["peak_growth_mib"], 1e-9
        )
        cases.append(row)
        for mode in MODES:
            r = row[mode]
            print(
                f"N={n:5d} {mode:14s} median {r['median_ms']:8.2f} ms  min {r['min_ms']:8.2f} ms  "
                f"roofline {r['roofline_share']:5.1%} (median pairs {r['roofline_share_median']:5.1%}, "
                f"sgemm {r['sgemm_gflops']:.0f} GFLOP/s)  peak {r['peak_growth_mib']:.1f} MiB"
            )
    result = {
        "benchmark": "MutualFormer block forward, fp32, batch 1, C=256, H=8",
        "roofline": f"{SGEMM}x{SGEMM}x{SGEMM} sgemm, same process and threads, alternating with the block",
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
