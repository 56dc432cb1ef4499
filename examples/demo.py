"""`make demo`: export the shipped demo weights to a bundle and run it with ONNX Runtime on generated scenes.

Prints accuracy and per-frame latency, and writes out/demo.png (colour | depth | saliency overlay,
one row per scene; the last rows are camouflaged scenes, where the object is invisible in colour
and found through depth).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from mutualsense.backends import OnnxRuntimeBackend
from mutualsense.evaluation import EVAL_SEED, backend_predictor, evaluate_predictor, iter_frames, sigmoid
from mutualsense.export import demo_weights
from mutualsense.export.bundle_export import export_bundle
from mutualsense.outputs.visualize import colorize_depth, overlay_saliency, side_by_side
from mutualsense.preprocess import preprocess

OUT = Path("out")


def main() -> None:
    t = time.perf_counter()
    bundle = export_bundle(demo_weights(), OUT / "demo-fp32", precision="fp32", eval_count=0, overwrite=True)
    print(f"exported {demo_weights().name} -> {bundle.path} (fp32 ONNX bundle) in {time.perf_counter() - t:.1f} s")
    spec = bundle.input_spec
    frames = list(iter_frames("synthetic", 64, EVAL_SEED, spec))
    latencies, rows = [], []
    shown = [f for f in frames if not f.camouflaged][:2] + [f for f in frames if f.camouflaged][:2]
    with OnnxRuntimeBackend(bundle) as backend:
        predict = backend_predictor(backend, bundle.batch)
        for f in frames:
            t = time.perf_counter()
            rgb, depth = preprocess(f.rgb, f.depth, f.depth_scale, spec)
            prob = sigmoid(backend.infer({"rgb": rgb, "depth": depth})["saliency"][0, 0])
            latencies.append(time.perf_counter() - t)
            if any(f is s for s in shown):
                panels = [f.rgb, colorize_depth(f.depth, f.depth_scale), overlay_saliency(f.rgb, prob)]
                rows.append(side_by_side(panels))
        scores = evaluate_predictor(predict, iter(frames), spec)
        camo = evaluate_predictor(predict, iter(frames), spec, subset="camouflaged")
        camo_rgb = evaluate_predictor(predict, iter(frames), spec, subset="camouflaged", blank_depth=True)
    OUT.mkdir(exist_ok=True)
    cv2.imwrite(str(OUT / "demo.png"), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    ms = 1000 * np.asarray(latencies)
    print(f"ONNX Runtime providers: {', '.join(backend.providers)}  (input {spec.height}x{spec.width})")
    print(f"{len(frames)} held-out generated scenes: S-measure {scores.s_measure:.3f}  MAE {scores.mae:.3f}")
    print(
        f"camouflaged scenes ({camo.count}): S-measure RGB-D {camo.s_measure:.3f}"
        f" vs blank depth {camo_rgb.s_measure:.3f}"
    )
    print(f"latency per frame (preprocess + inference): p50 {np.median(ms):.1f} ms  p95 {np.percentile(ms, 95):.1f} ms")
    print(f"wrote {OUT / 'demo.png'}")


if __name__ == "__main__":
    main()
