"""Align + preprocess + postprocess per frameset, before vs after, alone and inside a saturated pipeline.

Frameset: the sample recording's colour (640×480) and its depth upscaled to 848×480 (nearest) with
a D435's 848×480 depth intrinsics (87° across, so the depth view is wider than the colour view as
on the camera), into the demo fp32 bundle (192×192). "Before" is the code of these stages at
``--before`` (a git revision, default the commit before this work), loaded from git into private
modules; "after" is the installed package. Both run in the same process, alternating, because the
CPU may be shared with other work: compare ratios from one run.

- alone: each stage called in turn in this thread (logits from the bundle, inferred once). "After" is
  the pipeline's FramePreparer, whose aligning pass also writes the depth input (timed as align).
- pipeline: a Stream with ONNX Runtime on every core (``threads=2``) saturating the CPU; the stage
  timings come from the results' ``latency_ms`` (align, preprocess in the capture thread,
  postprocess in the consumer's); the stages' functions are swapped for the "before" ones in
  alternate slices of ``--seconds``.

Writes benchmarks/results/host_stages_cpu.json.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import MemorySource, cpu_name, results_per_second, write_result  # noqa: E402

import mutualsense.pipeline.postprocess as pipeline_postprocess
import mutualsense.pipeline.prepare as pipeline_prepare
from mutualsense.align import DepthAligner
from mutualsense.backends import OnnxRuntimeBackend
from mutualsense.bundle import Bundle
from mutualsense.pipeline import FramePreparer, Stream
from mutualsense.preprocess import preprocess_depth, preprocess_rgb
from mutualsense.results import postprocess
from mutualsense.sources import FrameSet, Recording
from mutualsense.sources.frameset import Intrinsics

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "data" / "sample.db3"
RESULTS = ROOT / "benchmarks" / "results" / "host_stages_cpu.json"
BEFORE = "ea14e27"  # main before the host-stage work
D435_DEPTH_848 = Intrinsics(848, 480, 423.0, 423.0, 423.5, 239.5)
STAGES = ("align", "preprocess", "postprocess")


def framesets() -> list[FrameSet]:
    """The sample's framesets with depth at 848×480 and a D435's depth intrinsics."""
    with Recording(SAMPLE) as rec:
        decoded = list(rec)
    return [
        replace(
            fs,
            depth=cv2.resize(fs.depth, (848, 480), interpolation=cv2.INTER_NEAREST),
            depth_intrinsics=D435_DEPTH_848,
        )
        for fs in decoded
    ]


def load_before(rev: str) -> dict[str, types.ModuleType]:
    """align, preprocess and results as they were at ``rev``, as private modules."""
    modules = {}
    for name in ("align", "preprocess", "results"):
        source = subprocess.run(
            ["git", "show", f"{rev}:sdk/{name}.py"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        spec = importlib.util.spec_from_loader(f"before_{name}", loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        exec(compile(source, f"{rev}:sdk/{name}.py", "exec"), module.__dict__)  # noqa: S102 - our own history
        modules[name] = module
    return modules


class Stages:
    """The three stages of one implementation, as the pipeline runs them."""

    def __init__(self, before: dict[str, types.ModuleType] | None) -> None:
        self.before = before
        self.aligners: dict[Any, Any] = {}
        if before is None:
            self.aligner_cls: Any = DepthAligner
            self.rgb: Callable[..., np.ndarray] = preprocess_rgb
            self.depth: Callable[..., np.ndarray] = preprocess_depth
        else:
            self.aligner_cls = before["align"].DepthAligner
            self.rgb, self.depth = before["preprocess"].preprocess_rgb, before["preprocess"].preprocess_depth

    def postprocess(self, logits: np.ndarray, aligned: np.ndarray, scale: float, color_size: tuple[int, int]) -> Any:
        if self.before is None:
            return postprocess(logits, aligned, scale, color_size, 0.5)
        results = self.before["results"]
        prob = results.saliency_map(logits, logits.shape[::-1])
        objects = results.find_objects(prob, aligned.astype(np.float32) * scale, color_size, 0.5)
        return cv2.resize(prob, color_size, interpolation=cv2.INTER_LINEAR), objects  # the map was made eagerly

    def run(self, fs: FrameSet, logits: np.ndarray, spec: Any) -> dict[str, float]:
        if self.before is None:  # the pipeline's own code: one pass writes the aligned depth and its input plane
            preparer = self.aligners.get("preparer") or self.aligners.setdefault("preparer", FramePreparer(spec))
            t0 = time.perf_counter()
            prepared = preparer.prepare(fs)
            t2 = time.perf_counter()
            self.postprocess(logits, prepared.aligned_depth, fs.depth_scale, (fs.color.shape[1], fs.color.shape[0]))
            t3 = time.perf_counter()
            return {"align": prepared.align_ms, "preprocess": prepared.preprocess_ms, "postprocess": 1000 * (t3 - t2)}
        t0 = time.perf_counter()
        key = (fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color)
        aligner = self.aligners.get(key) or self.aligners.setdefault(
            key, self.aligner_cls(*key, (spec.height, spec.width))
        )
        aligned = aligner(fs.depth, fs.depth_scale)
        t1 = time.perf_counter()
        self.rgb(fs.color, spec)
        self.depth(aligned, fs.depth_scale, spec)
        t2 = time.perf_counter()
        self.postprocess(logits, aligned, fs.depth_scale, (fs.color.shape[1], fs.color.shape[0]))
        t3 = time.perf_counter()
        return {"align": 1000 * (t1 - t0), "preprocess": 1000 * (t2 - t1), "postprocess": 1000 * (t3 - t2)}


def record_stages(rows: list[dict[str, float]], result: Any) -> None:
    rows.append({s: result.latency_ms[s] for s in STAGES})


def percentiles(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        k: {"min": min(v), "p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)), "n": len(v)}
        for k, v in samples.items()
    }


def with_sum(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [r[k] for r in rows] for k in STAGES}
    out["align+preprocess+postprocess"] = [sum(r[k] for k in STAGES) for r in rows]
    return out


def sample_logits(bundle: Bundle, sets: list[FrameSet]) -> list[np.ndarray]:
    """The bundle's logits for every frameset (inferred once)."""
    spec = bundle.input_spec
    with OnnxRuntimeBackend(bundle, threads=1) as backend:
        logits = []
        for fs in sets:
            rgb = preprocess_rgb(fs.color, spec)[None]
            aligned = DepthAligner(
                fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color, (spec.height, spec.width)
            )
            depth = preprocess_depth(aligned(fs.depth, fs.depth_scale), fs.depth_scale, spec)[None]
            logits.append(backend.infer({"rgb": rgb, "depth": depth})["saliency"][0, 0])
    return logits


def components(logits: list[np.ndarray], rounds: int = 20) -> dict[str, float]:
    """Median ms of OpenCV's connected components with statistics on the sample's masks, per algorithm
    (32-bit labels, one OpenCV thread as in a stream), alternating."""
    masks = [(1 / (1 + np.exp(-x)) > 0.5).astype(np.uint8) for x in logits]
    algorithms = {"spaghetti (OpenCV's default)": cv2.CCL_DEFAULT, "grana (used)": cv2.CCL_GRANA}
    times: dict[str, list[float]] = {name: [] for name in algorithms}
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        for _ in range(rounds):
            for name, algorithm in algorithms.items():
                t0 = time.perf_counter()
                for mask in masks:
                    cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, algorithm)
                times[name].append(1000 * (time.perf_counter() - t0) / len(masks))
    finally:
        cv2.setNumThreads(threads)
    return {name: float(np.median(v)) for name, v in times.items()}


def alone(
    bundle: Bundle, sets: list[FrameSet], logits: list[np.ndarray], before: dict[str, types.ModuleType], frames: int
) -> dict[str, Any]:
    """Each stage in this thread, before and after alternating frame by frame."""
    spec = bundle.input_spec
    impls = {"before": Stages(before), "after": Stages(None)}
    rows: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for i in range(frames + 10):
        for name, impl in impls.items():
            row = impl.run(sets[i % len(sets)], logits[i % len(sets)], spec)
            if i >= 10:
                rows[name].append(row)
    return {name: percentiles(with_sum(r)) for name, r in rows.items()}


@contextmanager
def before_stages(before: dict[str, types.ModuleType]) -> Iterator[None]:
    """Swap the pipeline's two stage steps (FramePreparer.prepare, postprocess) for the "before" code."""
    impl = Stages(before)
    saved_prepare, saved_post = pipeline_prepare.FramePreparer.prepare, pipeline_postprocess.postprocess

    def old_prepare(self: FramePreparer, fs: FrameSet) -> pipeline_prepare.Prepared:
        spec = self.spec
        t0 = time.monotonic()
        key = (fs.source, fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color)
        aligner = impl.aligners.get(key) or impl.aligners.setdefault(
            key, impl.aligner_cls(*key[1:], (spec.height, spec.width))
        )
        aligned = aligner(fs.depth, fs.depth_scale)
        t1 = time.monotonic()
        rgb, depth = impl.rgb(fs.color, spec)[None], impl.depth(aligned, fs.depth_scale, spec)[None]
        t2 = time.monotonic()
        return pipeline_prepare.Prepared(rgb, depth, aligned, 1000 * (t1 - t0), 1000 * (t2 - t1), t2)

    def old_postprocess(logits, aligned, scale, color_size, threshold, **_spatial):  # type: ignore[no-untyped-def]
        return impl.postprocess(logits, aligned, scale, color_size)

    pipeline_prepare.FramePreparer.prepare = old_prepare  # type: ignore[method-assign]
    pipeline_postprocess.postprocess = old_postprocess
    try:
        yield
    finally:
        pipeline_prepare.FramePreparer.prepare = saved_prepare  # type: ignore[method-assign]
        pipeline_postprocess.postprocess = saved_post


def in_pipeline(
    bundle: Bundle, sets: list[FrameSet], before: dict[str, types.ModuleType], seconds: float, slices: int
) -> dict[str, Any]:
    """Stage timings of a saturated pipeline (ORT on both cores), the arms in alternate slices: before,
    after, and after with OpenCV's thread pool left as it was (``opencv_threads=None``)."""
    arms = ("after", "before", "after, opencv threads not set")
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in arms}
    rates: dict[str, list[float]] = {name: [] for name in arms}
    for k in range(len(arms) * slices):
        name = arms[k % len(arms)]
        ctx = before_stages(before) if name == "before" else _nothing()
        opencv = None if name == "after, opencv threads not set" else 1
        with ctx, Stream(bundle, MemorySource(sets), threads=2, objects_3d=False, opencv_threads=opencv) as stream:
            record = functools.partial(record_stages, rows[name])
            rates[name].append(results_per_second(stream, seconds, record))
    out: dict[str, Any] = {name: percentiles(with_sum(r)) for name, r in rows.items()}
    for name in rates:
        out[name]["results_per_s"] = float(np.mean(rates[name]))
    return out


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300, help="framesets per implementation, alone")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one pipeline slice")
    parser.add_argument("--slices", type=int, default=3, help="pipeline slices per implementation")
    parser.add_argument("--before", default=BEFORE, help="git revision of the 'before' stages")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from mutualsense.export import DEMO_WEIGHTS
    from mutualsense.export.bundle_export import export_bundle

    before = load_before(args.before)
    sets = framesets()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = export_bundle(DEMO_WEIGHTS, Path(tmp) / "fp32", precision="fp32", eval_count=0)
        logits = sample_logits(bundle, sets)
        solo = alone(bundle, sets, logits, before, args.frames)
        labelling = components(logits)
        loaded = in_pipeline(bundle, sets, before, args.seconds, args.slices)
    total = "align+preprocess+postprocess"
    result = {
        "benchmark": "align + preprocess + postprocess per frameset: colour 640x480, depth 848x480 (D435 "
        "intrinsics, the sample's depth upscaled), demo fp32 bundle 192x192",
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": sys.version.split()[0]},
        "date": time.strftime("%Y-%m-%d"),
        "before": args.before,
        "method": "before and after in one process, alternating (frame by frame alone, slice by slice in the "
        "pipeline), because the CPU is shared: compare within this file. In the pipeline every arm runs the "
        "current Stream (OpenCV at 1 thread unless the arm says otherwise); 'before' swaps in the stage code of "
        "the 'before' revision",
        "targets": {"alone_p95_ms_max": 2.5, "pipeline_saturated_p95_ms_max": 4.0},
        "alone": solo,
        "connected_components_ms_192x192": labelling,
        "pipeline_ort_2_threads": loaded,
        "ratios": {
            "alone_p95_after_vs_before": solo["after"][total]["p95"] / solo["before"][total]["p95"],
            "pipeline_p95_after_vs_before": loaded["after"][total]["p95"] / loaded["before"][total]["p95"],
        },
    }
    write_result(args.out, result)
    for where, data in (("alone", solo), ("pipeline, ORT on 2 threads", loaded)):
        print(where)
        for name in data:
            stages = {k: v for k, v in data[name].items() if isinstance(v, dict)}
            row = "  ".join(f"{k} {v['min']:.2f}/{v['p50']:.2f}/{v['p95']:.2f}" for k, v in stages.items())
            print(f"  {name} min/p50/p95 ms: {row}")
    print("connected components, ms:", labelling)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
