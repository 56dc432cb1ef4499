"""Export as steps: check the options → trace the checkpoint → measure accuracy → convert → write the bundle
(→ build an engine). :func:`export_bundle` runs them for fp32 and fp16; INT8 adds its calibration and
accuracy-gate steps in :func:`mutualsense.calibration.export_int8.export_int8`, built on the same steps."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import onnx

from mutualsense import __version__
from mutualsense.bundle import Bundle, finalize_manifest, refuse_replacing, write_bundle
from mutualsense.errors import MutualSenseError
from mutualsense.evaluation.data import EVAL_SEED, LabelledFrame, labelled_frames
from mutualsense.evaluation.metrics import Scores
from mutualsense.evaluation.scoring import backend_predictor, evaluate_predictor
from mutualsense.export.model import LoadedCheckpoint, load_checkpoint
from mutualsense.export.onnx_export import OnnxExport, export_onnx
from mutualsense.export.onnx_graph import OrtSession, strip_functions, to_fp16
from mutualsense.export.precisions import PRECISIONS, ExportOptions, check_precision
from mutualsense.gpu import gpu_info, tensorrt_version
from mutualsense.preprocess import InputSpec
from mutualsense.tensorrt import build_engine, require_tensorrt

__all__ = [
    "PRECISIONS",
    "Traced",
    "check_export",
    "export_bundle",
    "export_float",
    "fp32_accuracy",
    "held_out_scenes",
    "scores_entry",
    "trace_checkpoint",
    "write_export",
]

log = logging.getLogger(__name__)

FP16_EVALUATION = "ONNX Runtime CPU with float16 storage and float32 arithmetic at every op (cpu_fp16_emulation)"


def _versions() -> dict[str, str | None]:
    def v(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "mutualsense": __version__,
        "torch": v("torch"),
        "onnx": v("onnx"),
        "onnxsim": v("onnxsim"),
        "onnxruntime": v("onnxruntime"),
        "onnxconverter-common": v("onnxconverter-common"),
    }


def scores_entry(s: Scores) -> dict[str, Any]:
    """The manifest's figures of one precision."""
    return {k: s.as_dict()[k] for k in ("s_measure", "max_f", "max_e", "mae", "count")}


@dataclass(frozen=True)
class Traced:
    """A checkpoint traced to a verified FP32 ONNX model at the export's input spec."""

    loaded: LoadedCheckpoint
    spec: InputSpec
    exported: OnnxExport


def check_export(out: str | os.PathLike[str], options: ExportOptions) -> None:
    """Refuse bad common options before any work (precision-specific ones: :func:`check_precision`)."""
    if options.batch < 1:
        raise MutualSenseError(f"batch must be >= 1, got {options.batch}.", "pass --batch 1 or more.")
    size = options.input_size
    if size is not None and (size[0] % 32 or size[1] % 32 or min(size) < 64):
        raise MutualSenseError(f"input size {size} must be multiples of 32, at least 64.", "use e.g. 192 192.")
    if options.engine:
        require_tensorrt(tensorrt_version(), gpu_info())  # fail before any work
    if Path(out).exists() and not options.overwrite:
        raise MutualSenseError(f"{out} already exists.", "choose another --out, or pass --overwrite to replace it.")
    refuse_replacing(out)  # before any work: --overwrite replaces only a bundle or an empty folder


def trace_checkpoint(checkpoint: str | os.PathLike[str], options: ExportOptions, step: Callable[[str], None]) -> Traced:
    """Load the checkpoint, trace it to ONNX with the CDA node, simplify, and verify it against PyTorch."""
    step("load checkpoint")
    loaded = load_checkpoint(checkpoint)
    spec = loaded.config.input
    if options.input_size is not None:
        spec = replace(spec, height=options.input_size[0], width=options.input_size[1])
    step("trace, simplify and verify against PyTorch")
    exported = export_onnx(loaded.model, batch=options.batch, input_size=(spec.height, spec.width))
    return Traced(loaded, spec, exported)


def held_out_scenes(spec: InputSpec, count: int) -> tuple[list[LabelledFrame], dict[str, Any]]:
    """The standard held-out generated scenes (seed ``EVAL_SEED``) and their description for the manifest."""
    frames = list(labelled_frames("synthetic", spec, count, EVAL_SEED)) if count > 0 else []
    return frames, {"data": "synthetic", "seed": EVAL_SEED}


def measure(model: onnx.ModelProto, frames: list[LabelledFrame], spec: InputSpec, batch: int) -> Scores:
    """Saliency scores of an ONNX model on ONNX Runtime CPU."""
    return evaluate_predictor(backend_predictor(OrtSession(model), batch), iter(frames), spec)


def fp32_accuracy(
    traced: Traced, frames: list[LabelledFrame], held_out: dict[str, Any], batch: int, step: Callable[[str], None]
) -> tuple[Scores, dict[str, Any]]:
    """The FP32 model's scores and manifest entry (with its largest logit error against PyTorch)."""
    step(f"measure fp32 accuracy on {len(frames)} held-out scenes")
    scores = measure(traced.exported.model, frames, traced.spec, batch)
    return scores, {**scores_entry(scores), **held_out, "max_abs_logit_error_vs_torch": traced.exported.max_abs_error}


def _manifest(traced: Traced, model: onnx.ModelProto, precision: str, batch: int, accuracy: dict[str, Any]) -> dict:
    dtype = "float32"  # the FP16 graph keeps float32 inputs and outputs
    h, w = traced.spec.height, traced.spec.width
    config, exported = traced.loaded.config, traced.exported
    return {
        "model": {"name": f"mutualsense-{config.name}", "config": config.to_dict()},
        "input": {
            "spec": traced.spec.to_dict(),
            "batch": batch,
            "tensors": {
                "rgb": {"shape": [batch, 3, h, w], "dtype": dtype},
                "depth": {"shape": [batch, 1, h, w], "dtype": dtype},
            },
        },
        "output": {"tensors": {"saliency": {"shape": [batch, 1, h, w], "dtype": dtype}}, "kind": "logits"},
        "precision": precision,
        "onnx": {
            "file": "model.onnx",
            "trt_file": "model.trt.onnx",
            "opset": exported.opset,
            "ir_version": int(model.ir_version),
            "cda_nodes": exported.cda_nodes,
        },
        "toolchain": {**_versions(), "opset": exported.opset},
        "source_checkpoint": {"name": traced.loaded.path.name, "sha256": traced.loaded.sha256},
        "accuracy": accuracy,
        "engines": [],
    }


def write_export(
    out: str | os.PathLike[str],
    traced: Traced,
    model: onnx.ModelProto,
    options: ExportOptions,
    accuracy: dict[str, Any],
    step: Callable[[str], None],
    extra_json: dict[str, Any] | None = None,
) -> Bundle:
    """Write the bundle atomically (the model, its TensorRT copy without function bodies, the manifest and
    ``extra_json`` files), then build the engine when asked."""
    t0 = time.perf_counter()
    manifest = _manifest(traced, model, options.precision, options.batch, accuracy)
    step("write bundle")
    with write_bundle(out, overwrite=options.overwrite) as tmp:
        onnx.save(model, tmp / "model.onnx")
        onnx.save(strip_functions(model), tmp / "model.trt.onnx")
        roles = {"model.onnx": "onnx", "model.trt.onnx": "trt_onnx"}
        for rel, body in (extra_json or {}).items():
            (tmp / rel).write_text(json.dumps(body, indent=2) + "\n")
            roles[rel] = "calibration"
        finalize_manifest(tmp, manifest, roles)
    log.info("wrote %s in %.1f s", out, time.perf_counter() - t0)
    if options.engine:
        step("build TensorRT engine")
        return build_engine(out, options.plugin)
    return Bundle.load(out)


def export_float(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: ExportOptions,
    on_step: Callable[[str], None] | None = None,
) -> Bundle:
    """The fp32 / fp16 export (the table's entry for both; see :func:`export_bundle`)."""
    step = on_step or (lambda name: None)
    check_precision(options.precision, {"int8": "int8="} if options.int8 is not None else {})
    if options.precision == "int8":
        raise MutualSenseError(
            "INT8 export needs a calibration set and the accuracy gate, which mutualsense.calibration runs.",
            "call mutualsense.calibration.export_int8(checkpoint, out, ExportOptions(precision='int8', "
            "int8=Int8Options(calib=...))), or `mutualsense export --precision int8 --calib FILE`.",
        )
    check_export(out, options)
    traced = trace_checkpoint(checkpoint, options, step)
    model, accuracy = traced.exported.model, {}
    frames, held_out = held_out_scenes(traced.spec, options.eval_count)
    if frames:
        fp32, accuracy["fp32"] = fp32_accuracy(traced, frames, held_out, options.batch, step)
    if options.precision == "fp16":
        step("convert to fp16")
        model = to_fp16(model)
        if frames:
            step(f"measure fp16 accuracy on {len(frames)} held-out scenes")
            fp16 = measure(model, frames, traced.spec, options.batch)
            drop = fp32.s_measure - fp16.s_measure
            accuracy["fp16"] = {
                **scores_entry(fp16),
                **held_out,
                "s_measure_drop_vs_fp32": drop,
                "evaluated_with": FP16_EVALUATION,
            }
    return write_export(out, traced, model, options, accuracy, step)


def export_bundle(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    precision: str = "fp16",
    input_size: tuple[int, int] | None = None,
    batch: int = 1,
    engine: bool = False,
    plugin: str | os.PathLike[str] | None = None,
    eval_count: int = 200,
    overwrite: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> Bundle:
    """Export a checkpoint to an fp32 or fp16 bundle folder and return it (verified, as :meth:`Bundle.load` reads it).

    INT8 (calibration and the accuracy gate) is :func:`mutualsense.calibration.export_int8.export_int8`.

    Args:
        checkpoint: a MutualSense checkpoint (``mutualsense train``).
        out: bundle folder to create (atomically; refused if it exists unless ``overwrite``).
        precision: ``fp32`` (CPU demo) or ``fp16`` (Jetson default).
        input_size / batch / engine / plugin / eval_count / overwrite: see :class:`ExportOptions`.
        on_step: called with the name of each step as it starts (for progress displays).
    """
    options = ExportOptions(precision, input_size, batch, engine, plugin, eval_count, overwrite)
    return export_float(checkpoint, out, options, on_step)
