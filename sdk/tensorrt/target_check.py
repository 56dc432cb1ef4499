"""``mutualsense doctor --target BUNDLE``: prove the TensorRT path on the device, one verdict per step.

Steps: build the CDA plugin → build an engine for this GPU from (a scratch copy of) the bundle →
run it → compare with ONNX Runtime on the same inputs (≤ 1e-3 max abs on the logits for fp32
bundles, ≤ 1e-2 for fp16) → align and preprocess a frameset on the GPU (the plugin's frame kernels,
as streams do by themselves) and compare with the CPU path: the aligned depth identical, the logits
within the same limit. Each step that cannot run says why; later steps are then skipped.
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

__all__ = ["TOLERANCE", "StepResult", "check_device_frames", "compare_backends", "run_target_check"]

GPU_FRAMES = "align + preprocess on the GPU"

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


def check_device_frames(backend: object, reference: SupportsInfer, bundle: Bundle, limit: float) -> StepResult:
    """One synthetic frameset prepared by the backend's frame kernels and run, against the CPU path
    (:class:`~mutualsense.pipeline.prepare.FramePreparer`) run by ``reference``."""
    from mutualsense.backends.batching import pad_batch
    from mutualsense.pipeline.prepare import FramePreparer
    from mutualsense.sources.synthetic import SyntheticSource

    offer = getattr(backend, "device_frames", None)
    if offer is None:
        return StepResult(GPU_FRAMES, None, f"skipped: the {type(backend).__name__} backend has no frame kernels")
    spec = bundle.input_spec
    frames = offer(spec)
    if frames is None:
        return StepResult(
            GPU_FRAMES,
            False,
            "the plugin library lacks the frame kernels (ms_align_depth, ms_prepare_rgb, ms_prepare_depth) or the "
            "engine's inputs are not float32: streams will align and preprocess on the CPU",
        )
    with SyntheticSource(frames=1, seed=3, real_time=False, motion="object") as source:
        fs = source.read(1000)
    assert fs is not None
    try:
        outputs, (prepared,), _, _ = frames.infer([fs])
    except MutualSenseError as exc:
        return StepResult(GPU_FRAMES, False, str(exc))
    cpu = FramePreparer(spec).prepare(fs)
    feed = {"rgb": pad_batch(cpu.rgb, bundle.batch), "depth": pad_batch(cpu.depth, bundle.batch)}
    expected = reference.infer(feed)["saliency"][0].astype(np.float32)
    err = float(np.abs(outputs["saliency"][0].astype(np.float32) - expected).max())
    differing = int(np.count_nonzero(prepared.aligned_depth != cpu.aligned_depth))
    detail = (
        f"aligned depth: {differing} of {cpu.aligned_depth.size} pixels differ from the CPU path; max abs logit "
        f"difference {err:.2e} (limit {limit:g}); on the GPU align {prepared.align_ms:.2f} ms, "
        f"preprocess {prepared.preprocess_ms:.2f} ms"
    )
    return StepResult(GPU_FRAMES, differing == 0 and err <= limit, detail)


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
            later = ("build engine", "run engine", "compare with ONNX Runtime", GPU_FRAMES)
            return results + [StepResult(n, None, "skipped") for n in later]
        scratch = work / "bundle"
        shutil.copytree(bundle.path, scratch)
        try:
            with_engine = make_engine(scratch, plugin)
            entry = with_engine.manifest["engines"][-1]
            results.append(StepResult("build engine", True, f"{entry['file']}"))
        except MutualSenseError as exc:
            results.append(StepResult("build engine", False, str(exc)))
            rest = ("run engine", "compare with ONNX Runtime", GPU_FRAMES)
            return results + [StepResult(n, None, "skipped") for n in rest]
        limit = TOLERANCE[bundle.precision]
        try:
            with make_backend(with_engine) as trt, OnnxRuntimeBackend(with_engine) as ort:
                results.append(StepResult("run engine", True, "inference ran"))
                err = compare_backends(ort, trt, with_engine)
                detail = f"max abs logit difference {err:.2e} (limit {limit:g})"
                results.append(StepResult("compare with ONNX Runtime", err <= limit, detail))
                results.append(check_device_frames(trt, ort, with_engine, limit))
        except MutualSenseError as exc:
            results.append(StepResult("run engine", False, str(exc)))
            return results + [StepResult(n, None, "skipped") for n in ("compare with ONNX Runtime", GPU_FRAMES)]
    return results
