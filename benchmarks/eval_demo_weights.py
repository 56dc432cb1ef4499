"""Accuracy of the shipped demo weights on held-out generated scenes.

Writes benchmarks/results/demo_weights.json (500 held-out scenes: all, camouflaged subset with
RGB-D vs blank depth) and export/weights/tiny.json (figures of the small fixed set the test suite
re-checks).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import write_result

from mutualsense.evaluation import EVAL_SEED, evaluate_predictor, iter_frames
from mutualsense.export import DEMO_WEIGHTS
from mutualsense.export.evaluate import checkpoint_predictor
from mutualsense.export.model import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CHECK_SET = {"count": 48, "seed": EVAL_SEED}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", type=Path, default=DEMO_WEIGHTS)
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    predict, spec = checkpoint_predictor(args.weights)
    frames = list(iter_frames("synthetic", args.count, EVAL_SEED, spec))
    t = time.perf_counter()
    overall = evaluate_predictor(predict, iter(frames), spec)
    camo_rgbd = evaluate_predictor(predict, iter(frames), spec, subset="camouflaged")
    camo_rgb = evaluate_predictor(predict, iter(frames), spec, subset="camouflaged", blank_depth=True)
    normal = evaluate_predictor(predict, iter(frames), spec, subset="normal")
    small = evaluate_predictor(predict, iter_frames("synthetic", CHECK_SET["count"], CHECK_SET["seed"], spec), spec)
    training = load_checkpoint(args.weights).training
    result = {
        "weights": str(args.weights.relative_to(ROOT)) if args.weights.is_relative_to(ROOT) else str(args.weights),
        "held_out": {"data": "synthetic", "seed": EVAL_SEED, "count": args.count},
        "all": overall.as_dict(),
        "normal": normal.as_dict(),
        "camouflaged_rgbd": camo_rgbd.as_dict(),
        "camouflaged_blank_depth": camo_rgb.as_dict(),
        "camouflaged_s_measure_gain_from_depth": camo_rgbd.s_measure - camo_rgb.s_measure,
        "targets": {"s_measure_min": 0.90, "mae_max": 0.05, "camouflaged_gain_min": 0.10},
        "training": {
            k: training[k] for k in ("epochs", "steps_per_epoch", "batch_size", "seconds", "threads") if k in training
        },
        "evaluation_seconds": time.perf_counter() - t,
    }
    out = ROOT / "benchmarks" / "results" / "demo_weights.json"
    write_result(out, result)
    check = {"check_set": {**CHECK_SET, "s_measure": small.s_measure, "mae": small.mae}}
    write_result(args.weights.with_suffix(".json"), check)
    print(json.dumps({k: result[k] for k in ("all", "camouflaged_s_measure_gain_from_depth")}, indent=2))


if __name__ == "__main__":
    main()
