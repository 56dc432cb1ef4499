"""``export_bundle``: checkpoint → verified ONNX (+ FP16) → bundle folder, optionally with an engine."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import onnx

from mutualsense import __version__
from mutualsense.bundle import Bundle, finalize_manifest, refuse_replacing, sha256_file, write_bundle
from mutualsense.errors import MutualSenseError
from mutualsense.evaluation import EVAL_SEED, backend_predictor, evaluate_predictor, iter_frames
from mutualsense.evaluation.metrics import Scores
from mutualsense.export.engine import build_engine, require_tensorrt
from mutualsense.export.model import load_checkpoint
from mutualsense.export.onnx_export import export_onnx
from mutualsense.export.onnx_graph import OrtSession, strip_functions, to_fp16
from mutualsense.gpu import gpu_info, tensorrt_version

__all__ = ["PRECISIONS", "export_bundle"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8")
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


def _scores(s: Scores) -> dict[str, Any]:
    return {k: s.as_dict()[k] for k in ("s_measure", "max_f", "max_e", "mae", "count")}


def export_bundle(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    precision: str = "fp16",
    input_size: tuple[int, int] | None = None,
    batch: int = 1,
    calib: str | os.PathLike[str] | None = None,
    engine: bool = False,
    plugin: str | os.PathLike[str] | None = None,
    eval_count: int = 200,
    overwrite: bool = False,
    on_step: Callable[[str], None] | None = None,
    eval_data: str | os.PathLike[str] = "synthetic",
    max_drop: float = 0.01,
    force: bool = False,
    auto_fp16: bool = False,
    calib_method: str = "minmax",
    quantizer: str = "auto",
) -> Bundle:
    """Export a checkpoint to a bundle folder and return it (verified, as :meth:`Bundle.load` reads it).

    Args:
        checkpoint: a MutualSense checkpoint (``mutualsense train``).
        out: bundle folder to create (atomically; refused if it exists unless ``overwrite``).
        precision: ``fp32`` (CPU demo), ``fp16`` (Jetson default) or ``int8``.
        input_size: (height, width) to export at; default from the checkpoint's config.
        batch: fixed batch size (several cameras batch when > 1).
        calib: INT8 calibration set (``mutualsense calibrate``).
        engine: also build a TensorRT engine (needs TensorRT and a GPU; checked before any work).
        plugin: the CDA plugin library for the engine build.
        eval_count: held-out generated scenes used for the accuracy figures (0 to skip).
        on_step: called with the name of each step as it starts (for progress displays).
        eval_data: INT8 held-out data: ``synthetic`` (``eval_count`` generated scenes), a dataset
            folder or a recording (the FP32 output is then the reference).
        max_drop: INT8 gate: the largest S-measure drop vs FP32 that is accepted.
        force: write an INT8 bundle that fails the gate, with the failure recorded.
        auto_fp16: keep the most sensitive layers in higher precision until the gate passes.
        calib_method: INT8 activation calibration: ``minmax``, ``entropy`` or ``percentile``.
        quantizer: INT8: ``auto`` (nvidia-modelopt in its own venv, made on first use; ONNX Runtime's
            quantiser where modelopt cannot run, with the reason recorded), ``modelopt`` or ``onnxruntime``.
    """
    step = on_step or (lambda name: None)
    if precision not in PRECISIONS:
        raise MutualSenseError(f"unknown precision {precision!r}.", f"use one of {', '.join(PRECISIONS)}.")
    calib_set = None
    if precision == "int8":
        from mutualsense.calibration import METHODS, load_calibration_set
        from mutualsense.calibration.quantize import check_quantizer

        if calib_method not in METHODS:
            raise MutualSenseError(f"unknown calibration method {calib_method!r}.", f"use one of {', '.join(METHODS)}.")
        check_quantizer(quantizer, calib_method)

        if calib is None:
            raise MutualSenseError(
                "INT8 export needs a calibration set.", "make one with `mutualsense calibrate` and pass --calib FILE."
            )
        calib_set = load_calibration_set(calib)  # fail before any work
        if eval_count < 1:
            raise MutualSenseError("the INT8 accuracy gate needs held-out data.", "pass --eval-count 1 or more.")
    if batch < 1:
        raise MutualSenseError(f"batch must be >= 1, got {batch}.", "pass --batch 1 or more.")
    if input_size is not None and (input_size[0] % 32 or input_size[1] % 32 or min(input_size) < 64):
        raise MutualSenseError(f"input size {input_size} must be multiples of 32, at least 64.", "use e.g. 192 192.")
    if engine:
        require_tensorrt(tensorrt_version(), gpu_info())  # fail before any work
    if Path(out).exists() and not overwrite:
        raise MutualSenseError(f"{out} already exists.", "choose another --out, or pass --overwrite to replace it.")
    refuse_replacing(out)  # before any work: --overwrite replaces only a bundle or an empty folder
    t0 = time.perf_counter()
    step("load checkpoint")
    loaded = load_checkpoint(checkpoint)
    spec = loaded.config.input
    if input_size is not None:
        spec = replace(spec, height=input_size[0], width=input_size[1])
    step("trace, simplify and verify against PyTorch")
    exported = export_onnx(loaded.model, batch=batch, input_size=(spec.height, spec.width))
    model = exported.model
    accuracy: dict[str, Any] = {}
    if calib_set is not None and calib_set.spec != spec:
        raise MutualSenseError(
            f"calibration set {calib} was made for input spec {calib_set.spec}, the export uses {spec}.",
            "rebuild it with `mutualsense calibrate --bundle` for this model and --input-size.",
        )
    frames = list(iter_frames("synthetic", eval_count, EVAL_SEED, spec)) if eval_count > 0 else []
    held_out: dict[str, Any] = {"data": "synthetic", "seed": EVAL_SEED}
    if precision == "int8" and str(eval_data) != "synthetic":
        from mutualsense.calibration.gate import held_out_frames

        step(f"read held-out data {eval_data}")
        frames, held_out = held_out_frames(eval_data, eval_count, spec, model, batch)
    if frames:
        step(f"measure fp32 accuracy on {len(frames)} held-out scenes")
        fp32 = evaluate_predictor(backend_predictor(OrtSession(model), batch), iter(frames), spec)
        accuracy["fp32"] = {**_scores(fp32), **held_out, "max_abs_logit_error_vs_torch": exported.max_abs_error}
    if precision == "fp16":
        step("convert to fp16")
        model = to_fp16(model)
        if frames:
            step(f"measure fp16 accuracy on {len(frames)} held-out scenes")
            fp16 = evaluate_predictor(backend_predictor(OrtSession(model), batch), iter(frames), spec)
            accuracy["fp16"] = {
                **_scores(fp16),
                **held_out,
                "s_measure_drop_vs_fp32": accuracy["fp32"]["s_measure"] - fp16.s_measure,
                "evaluated_with": FP16_EVALUATION,
            }
    extra_json: dict[str, Any] = {}
    if precision == "int8":
        from mutualsense.calibration.gate import quantize_gated

        assert calib is not None and calib_set is not None
        if not frames:
            raise MutualSenseError(f"held-out data {eval_data} delivered no frames.", "check --eval-data.")
        fp32_scores = fp32
        gate = quantize_gated(
            model,
            calib_set,
            frames,
            spec,
            batch,
            fp32_scores,
            method=calib_method,
            max_drop=max_drop,
            auto_fp16=auto_fp16,
            force=force,
            held_out="held-out frames" if held_out.get("data") != "synthetic" else "held-out generated scenes",
            on_step=step,
            quantizer=quantizer,
        )
        model, final = gate.quantized.model, gate.scores
        # FP16 for what stays unquantised (Q/DQ pairs untouched), when that keeps the gate passing
        step("convert the unquantised parts to fp16")
        mixed = to_fp16(model, extra_blocked_ops=("QuantizeLinear", "DequantizeLinear"))
        mixed_scores = evaluate_predictor(backend_predictor(OrtSession(mixed), batch), iter(frames), spec)
        float_parts = "fp32"
        if fp32_scores.s_measure - mixed_scores.s_measure <= max_drop or gate.forced:
            model, final, float_parts = mixed, mixed_scores, "fp16"
        accuracy["int8"] = {
            **_scores(final),
            **held_out,
            "s_measure_drop_vs_fp32": fp32_scores.s_measure - final.s_measure,
            "float_parts": float_parts,
            "s_measure_with_fp32_float_parts": gate.scores.s_measure,
            "s_measure_with_fp16_float_parts": mixed_scores.s_measure,
            "gate": {"max_drop": max_drop, "passed": gate.passed, "forced": gate.forced},
            "calibration": {
                # the set's manifest, not its arrays (40 MB for 256 samples): it rebuilds the set exactly
                # (`mutualsense.calibration.rebuild_calibration_set`), and the robot never needs the arrays
                "file": "calibration.json",
                "npz_sha256": sha256_file(Path(calib)),
                "count": len(calib_set),
                "data": calib_set.manifest["data"],
                "method": calib_method,
                "quantizer": gate.quantized.quantizer_detail,
                **({"quantizer_note": gate.quantized.quantizer_note} if gate.quantized.quantizer_note else {}),
            },
            "kept_in_higher_precision": gate.quantized.excluded,
            "cda_in_higher_precision": gate.quantized.guarded,
            "auto_fp16_attempts": gate.attempts,
            "sensitivity_top": [e.as_dict() for e in gate.sensitivity[:10]],
            "evaluated_with": "ONNX Runtime CPU (Q/DQ; fp16 parts with float16 storage and float32 arithmetic per op)",
        }
        extra_json["calibration.json"] = calib_set.manifest
    trt_model = strip_functions(model)
    dtype = "float32"  # the FP16 graph keeps float32 inputs and outputs
    h, w = spec.height, spec.width
    manifest = {
        "model": {"name": f"mutualsense-{loaded.config.name}", "config": loaded.config.to_dict()},
        "input": {
            "spec": spec.to_dict(),
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
        "source_checkpoint": {"name": loaded.path.name, "sha256": loaded.sha256},
        "accuracy": accuracy,
        "engines": [],
    }
    step("write bundle")
    with write_bundle(out, overwrite=overwrite) as tmp:
        onnx.save(model, tmp / "model.onnx")
        onnx.save(trt_model, tmp / "model.trt.onnx")
        roles = {"model.onnx": "onnx", "model.trt.onnx": "trt_onnx"}
        for rel, body in extra_json.items():
            (tmp / rel).write_text(json.dumps(body, indent=2) + "\n")
            roles[rel] = "calibration"
        finalize_manifest(tmp, manifest, roles)
    log.info("wrote %s in %.1f s", out, time.perf_counter() - t0)
    if engine:
        step("build TensorRT engine")
        return build_engine(out, plugin)
    return Bundle.load(out)
