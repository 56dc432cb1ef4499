"""INT8 (Q/DQ) vs FP32 for the demo weights; writes benchmarks/results/int8.json.

The bundle is exported with the default quantiser (nvidia-modelopt in its own venv, `make modelopt`).
Calibration: 256 generated scenes, seed 0 (the held-out set uses EVAL_SEED, so they never overlap).
Accuracy: S-measure and MAE on 200 held-out generated scenes through ONNX Runtime CPU. Latency:
median of 100 runs per model, 1 intra-op thread, all models in the same process. Also compares both
quantisers with each of their calibration methods, and the alternative CDA treatment (quantising
through its inlined body).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from common import write_result

from mutualsense.calibration import METHODS, build_calibration_set, quantize_int8
from mutualsense.calibration.export_int8 import export_int8
from mutualsense.calibration.gate import held_out_frames, scores_of
from mutualsense.calibration.modelopt import MODELOPT_METHODS
from mutualsense.export import DEMO_WEIGHTS
from mutualsense.export.bundle_export import export_bundle
from mutualsense.export.onnx_graph import OrtSession, inline_functions
from mutualsense.export.precisions import ExportOptions, Int8Options

RESULTS = Path(__file__).parent / "results" / "int8.json"


def latency_ms(model: onnx.ModelProto, rgb: np.ndarray, depth: np.ndarray, runs: int) -> float:
    backend = OrtSession(model, threads=1)
    feed = {"rgb": rgb, "depth": depth}
    for _ in range(5):
        backend.infer(feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        backend.infer(feed)
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--count", type=int, default=200, help="held-out generated scenes")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--quantizer", default="modelopt", help="for the bundle: modelopt, onnxruntime or auto")
    args = parser.parse_args()
    out: dict = {"machine": platform.processor() or platform.machine(), "weights": DEMO_WEIGHTS.name}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fp32 = export_bundle(DEMO_WEIGHTS, root / "fp32", precision="fp32", eval_count=0)
        spec = fp32.input_spec
        t = time.perf_counter()
        calib = build_calibration_set("synthetic", args.samples, spec, seed=0)
        calib_path = calib.save(root / "calib.npz")
        out["calibration"] = {
            "samples": len(calib),
            "seed": 0,
            "seconds": time.perf_counter() - t,
            "file_bytes": calib_path.stat().st_size,
        }
        t = time.perf_counter()
        options = ExportOptions(
            "int8", eval_count=args.count, int8=Int8Options(calib=calib_path, quantizer=args.quantizer)
        )
        int8 = export_int8(DEMO_WEIGHTS, root / "int8", options, on_step=print)
        out["export_int8_seconds_including_evaluation"] = time.perf_counter() - t
        acc = int8.manifest["accuracy"]
        out["accuracy"] = {
            "fp32": acc["fp32"],
            "int8": {k: v for k, v in acc["int8"].items() if k != "sensitivity_top"},
        }
        files = int8.manifest["files"]
        out["onnx_bytes"] = {
            "fp32": fp32.manifest["files"]["model.onnx"]["size"],
            "int8_qdq": files["model.onnx"]["size"],
            "int8_trt": files["model.trt.onnx"]["size"],
        }
        m32, m8 = onnx.load(fp32.onnx_path), onnx.load(int8.onnx_path)
        rng = np.random.default_rng(0)
        rgb = rng.standard_normal((1, 3, spec.height, spec.width), np.float32)
        depth = rng.standard_normal((1, 1, spec.height, spec.width), np.float32)
        out["cpu_latency_ms_median"] = {
            "threads": 1,
            "runs": args.runs,
            "fp32": latency_ms(m32, rgb, depth, args.runs),
            "int8": latency_ms(m8, rgb, depth, args.runs),
        }
        frames, _ = held_out_frames("synthetic", args.count, spec)
        s32 = scores_of(m32, frames, spec, 1)
        variants = {}
        for quantizer in ("modelopt", "onnxruntime"):
            for method in METHODS if quantizer == "onnxruntime" else tuple(MODELOPT_METHODS):
                t = time.perf_counter()
                q = quantize_int8(m32, calib, method, quantizer=quantizer)
                seconds = time.perf_counter() - t
                s = scores_of(q.model, frames, spec, 1)
                variants[f"quantizer={quantizer},method={method}"] = {
                    "s_measure": s.s_measure,
                    "mae": s.mae,
                    "drop": s32.s_measure - s.s_measure,
                    "qdq_nodes": q.qdq_nodes,
                    "quantize_seconds": seconds,
                    "cpu_latency_ms_median": latency_ms(q.model, rgb, depth, args.runs),
                    "quantizer": q.quantizer_detail,
                }
        q = quantize_int8(inline_functions(m32), calib, "minmax", quantizer="onnxruntime")  # CDA quantised via its body
        s = scores_of(q.model, frames, spec, 1)
        variants["quantizer=onnxruntime,cda=inlined-and-quantised"] = {
            "s_measure": s.s_measure,
            "mae": s.mae,
            "drop": s32.s_measure - s.s_measure,
            "cpu_latency_ms_median": latency_ms(q.model, rgb, depth, args.runs),
            "note": "no CrossDiffusionAttention node left: TensorRT could not use the plugin",
        }
        out["variants"] = variants
    out["s_measure_drop"] = out["accuracy"]["int8"]["s_measure_drop_vs_fp32"]
    write_result(RESULTS, out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
