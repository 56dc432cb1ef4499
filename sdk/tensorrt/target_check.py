"""``mutualsense doctor --target BUNDLE``: prove the TensorRT path on the device, one verdict per step.

Steps: build the CDA plugin → build an engine for this GPU from (a scratch copy of) the bundle →
run it → compare with ONNX Runtime on the same inputs (≤ 1e-3 max abs on the logits for fp32
bundles, ≤ 1e-2 for fp16). Each step that cannot run says why; later steps are then skipped.
Torch-free: runs on a Jetson.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mutualsense.backends.base import Backend, SupportsInfer
from mutualsense.bundle import Bundle
from mutualsense.errors import MutualSenseError

__all__ = ["TOLERANCE", "StepResult", "compare_backends", "run_target_check"]

TOLERANCE = {"fp32": 1e-3, "fp16": 1e-2, "int8": 5e-2}


@dataclass(frozen=True)
class StepResult:
    """One step's verdict: ``ok`` True/False, or None when it was skipped."""

    name: str
    ok: bool | None
    detail: str


def compare_backends(
    reference: SupportsInfer, candidate: SupportsInfer, bundle: Bundle, trials: int = 3, seed: int = 0
) -> float:
    """Max |candidate − reference| over the saliency logits of ``trials`` random inputs of the bundle's shapes."""
    rng = np.random.default_rng(seed)
    tensors = bundle.manifest["input"]["tensors"]
    worst = 0.0
    for _ in range(trials):
        feed = {name: rng.standard_normal(t["shape"]).astype(np.float32) for name, t in tensors.items()}
        a = reference.infer(feed)["saliency"]
        b = candidate.infer(feed)["saliency"]
        worst = max(worst, float(np.abs(a.astype(np.float32) - b.astype(np.float32)).max()))
    return worst


def _default_steps() -> tuple[Callable[[Path], Path], Callable[[Path, Path], Bundle], Callable[[Bundle], Backend]]:
    from mutualsense.tensorrt.backend import TensorRTBackend
    from mutualsense.tensorrt.engine_build import build_engine
    from mutualsense.tensorrt.plugin_build import build_plugin

    return build_plugin, lambda b, p: build_engine(b, p), lambda b: TensorRTBackend(b, build=False)


def run_target_check(
    bundle_path: str | Path,
    steps: tuple[Callable[[Path], Path], Callable[[Path, Path], Bundle], Callable[[Bundle], Backend]] | None = None,
) -> list[StepResult]:
    """Run the steps in a scratch folder (the user's bundle is not modified) and return the verdicts."""
    from mutualsense.backends.onnxruntime import OnnxRuntimeBackend

    make_plugin, make_engine, make_backend = steps or _default_steps()
    bundle = Bundle.load(bundle_path)
    results: list[StepResult] = []
    with tempfile.TemporaryDirectory(prefix="mutualsense-doctor-") as tmp:
        work = Path(tmp)
        try:
            plugin = make_plugin(work / "plugin")
            results.append(StepResult("build CDA plugin", True, str(plugin.name)))
        except MutualSenseError as exc:
            results.append(StepResult("build CDA plugin", False, str(exc)))
            return results + [
                StepResult(n, None, "skipped") for n in ("build engine", "run engine", "compare with ONNX Runtime")
            ]
        scratch = work / "bundle"
        shutil.copytree(bundle.path, scratch)
        try:
            with_engine = make_engine(scratch, plugin)
            entry = with_engine.manifest["engines"][-1]
            results.append(StepResult("build engine", True, f"{entry['file']}"))
        except MutualSenseError as exc:
            results.append(StepResult("build engine", False, str(exc)))
            return results + [StepResult(n, None, "skipped") for n in ("run engine", "compare with ONNX Runtime")]
        try:
            with make_backend(with_engine) as trt, OnnxRuntimeBackend(with_engine) as ort:
                results.append(StepResult("run engine", True, "inference ran"))
                err = compare_backends(ort, trt, with_engine)
        except MutualSenseError as exc:
            results.append(StepResult("run engine", False, str(exc)))
            return results + [StepResult("compare with ONNX Runtime", None, "skipped")]
        limit = TOLERANCE[bundle.precision]
        verdict = err <= limit
        results.append(
            StepResult("compare with ONNX Runtime", verdict, f"max abs logit difference {err:.2e} (limit {limit:g})")
        )
    return results
