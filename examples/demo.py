"""`make demo`: the shipped demo weights on generated RGB-D scenes — saliency maps, accuracy, timing.

Writes out/demo.png (colour | depth | saliency overlay, one row per scene; the last rows are
camouflaged scenes, where the object is invisible in colour and found through depth).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from mutualsense.evaluation import EVAL_SEED, LabelledFrame, evaluate_predictor, iter_frames, sigmoid
from mutualsense.export import demo_weights
from mutualsense.export.evaluate import checkpoint_predictor
from mutualsense.preprocess import preprocess
from mutualsense.visualize import colorize_depth, overlay_saliency, side_by_side


def main() -> None:
    predict, spec = checkpoint_predictor(demo_weights())
    frames = list(iter_frames("synthetic", 64, EVAL_SEED, spec))
    latencies, rows = [], []
    shown = [f for f in frames if not f.camouflaged][:2] + [f for f in frames if f.camouflaged][:2]
    for f in frames:
        t = time.perf_counter()
        rgb, depth = preprocess(f.rgb, f.depth, f.depth_scale, spec)
        prob = sigmoid(predict(rgb, depth)[0, 0])
        latencies.append(time.perf_counter() - t)
        if any(f is s for s in shown):
            rows.append(side_by_side([f.rgb, colorize_depth(f.depth, f.depth_scale), overlay_saliency(f.rgb, prob)]))
    scores = evaluate_predictor(predict, iter(frames), spec)
    camo: list[LabelledFrame] = [f for f in frames if f.camouflaged]
    camo_rgbd = evaluate_predictor(predict, iter(camo), spec)
    camo_rgb = evaluate_predictor(predict, iter(camo), spec, blank_depth=True)
    out = Path("out")
    out.mkdir(exist_ok=True)
    cv2.imwrite(str(out / "demo.png"), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    ms = 1000 * np.asarray(latencies)
    print(f"demo weights: {demo_weights()}  (input {spec.height}x{spec.width})")
    print(f"{len(frames)} held-out generated scenes: S-measure {scores.s_measure:.3f}  MAE {scores.mae:.3f}")
    print(
        f"camouflaged scenes ({len(camo)}): S-measure RGB-D {camo_rgbd.s_measure:.3f}  "
        f"vs blank depth {camo_rgb.s_measure:.3f}"
    )
    print(
        f"latency per frame (preprocess + PyTorch CPU): p50 {np.median(ms):.1f} ms  p95 {np.percentile(ms, 95):.1f} ms"
    )
    print(f"wrote {out / 'demo.png'}")


if __name__ == "__main__":
    main()
