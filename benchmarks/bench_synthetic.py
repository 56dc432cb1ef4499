"""Synthetic scene generator throughput: samples per second at 256×256 on one CPU core.

Pins the process to one core where the OS allows it, limits OpenCV and the BLAS pools to one
thread, warms up, then times several batches of ``SceneGenerator.sample()`` (default settings:
30 % camouflaged, 1-3 objects) and reports the median batch rate. On a machine shared with other
work the median still sags; the best batch is recorded too. Writes
benchmarks/results/synthetic.json.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from common import cpu_name, write_result  # noqa: E402

from mutualsense.evaluation.synthetic import SceneGenerator  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "synthetic.json"


def pin_to_one_core() -> int | None:
    """Restrict this process to one CPU it may use; return that CPU's id, or None if unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, nargs=2, default=[256, 256], metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    cpu = pin_to_one_core()
    cv2.setNumThreads(1)
    height, width = args.size
    gen = SceneGenerator(height=height, width=width, seed=args.seed)
    for _ in range(50):  # warm-up: caches, lazy initialisation
        gen.sample()

    rates = []
    camouflaged = 0
    for _ in range(args.batches):
        start = time.perf_counter()
        for _ in range(args.batch_size):
            camouflaged += gen.sample().camouflaged
        rates.append(args.batch_size / (time.perf_counter() - start))

    result = {
        "samples_per_s": round(statistics.median(rates), 1),
        "best_batch_samples_per_s": round(max(rates), 1),
        "batch_samples_per_s": [round(r, 1) for r in rates],
        "size": [height, width],
        "machine": cpu_name(),
        "cores_used": 1,
        "pinned_cpu": cpu,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "camouflaged_share": round(camouflaged / (args.batches * args.batch_size), 3),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }
    write_result(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
