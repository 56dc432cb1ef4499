"""Export the demo weights to fp32 and fp16 bundles and record the figures.

Writes benchmarks/results/export.json: ONNX Runtime vs PyTorch error, held-out saliency accuracy per
precision (500 generated scenes; FP16 measured with float16 storage and float32 arithmetic per op,
see mutualsense.export.onnx_graph.cpu_fp16_emulation), S-measure drop, bundle sizes and export times.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from common import write_result

from mutualsense.export import DEMO_WEIGHTS
from mutualsense.export.bundle_export import export_bundle

RESULTS = Path(__file__).parent / "results" / "export.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="held-out generated scenes")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("fp32", "fp16"):
            t = time.perf_counter()
            bundle = export_bundle(DEMO_WEIGHTS, Path(tmp) / precision, precision=precision, eval_count=args.count)
            seconds = time.perf_counter() - t
            files = bundle.manifest["files"]
            rows[precision] = {
                "export_seconds_including_evaluation": seconds,
                "bundle_bytes": sum(f["size"] for f in files.values()),
                "onnx_bytes": files["model.onnx"]["size"],
                "accuracy": bundle.manifest["accuracy"],
            }
            print(precision, json.dumps(rows[precision]["accuracy"].get(precision), indent=None))
    result = {
        "weights": "export/weights/tiny.pt",
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": 2},
        "date": time.strftime("%Y-%m-%d"),
        "fp32_max_abs_logit_error_ort_vs_torch": rows["fp32"]["accuracy"]["fp32"]["max_abs_logit_error_vs_torch"],
        "fp16_s_measure_drop_vs_fp32": rows["fp16"]["accuracy"]["fp16"]["s_measure_drop_vs_fp32"],
        "fp16_target_max_drop": 0.005,
        "bundles": rows,
    }
    write_result(RESULTS, result)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
