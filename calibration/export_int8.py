"""INT8 export: the export steps of :mod:`mutualsense.export.bundle_export` plus calibration, quantisation and
the accuracy gate (S-measure drop against FP32 on held-out data), with the FP16 float parts where they keep
the gate. The table's entry for ``precision="int8"``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx

from mutualsense.bundle import Bundle, sha256_file
from mutualsense.calibration.gate import GateResult, held_out_frames, quantize_gated
from mutualsense.calibration.quantize import METHODS, check_quantizer
from mutualsense.calibration.set import CalibrationSet, load_calibration_set
from mutualsense.errors import MutualSenseError
from mutualsense.evaluation.data import LabelledFrame
from mutualsense.evaluation.metrics import Scores
from mutualsense.export.bundle_export import (
    Traced,
    check_export,
    fp32_accuracy,
    held_out_scenes,
    measure,
    scores_entry,
    trace_checkpoint,
    write_export,
)
from mutualsense.export.onnx_graph import to_fp16
from mutualsense.export.precisions import ExportOptions, Int8Options, check_precision

__all__ = ["export_int8"]

INT8_EVALUATION = "ONNX Runtime CPU (Q/DQ; fp16 parts with float16 storage and float32 arithmetic per op)"


def _check_int8(int8: Int8Options, eval_count: int) -> CalibrationSet:
    """Refuse bad INT8 options and load the calibration set, before any work."""
    if int8.calib_method not in METHODS:
        raise MutualSenseError(
            f"unknown calibration method {int8.calib_method!r}.", f"use one of {', '.join(METHODS)}."
        )
    check_quantizer(int8.quantizer, int8.calib_method)
    if int8.calib is None:
        raise MutualSenseError(
            "INT8 export needs a calibration set.", "make one with `mutualsense calibrate` and pass --calib FILE."
        )
    calib = load_calibration_set(int8.calib)
    if eval_count < 1:
        raise MutualSenseError("the INT8 accuracy gate needs held-out data.", "pass --eval-count 1 or more.")
    return calib


def _held_out(
    traced: Traced, int8: Int8Options, options: ExportOptions, step: Callable[[str], None]
) -> tuple[list[LabelledFrame], dict[str, Any]]:
    if str(int8.eval_data) == "synthetic":
        return held_out_scenes(traced.spec, options.eval_count)
    step(f"read held-out data {int8.eval_data}")
    frames, held_out = held_out_frames(
        int8.eval_data, options.eval_count, traced.spec, traced.exported.model, options.batch
    )
    if not frames:
        raise MutualSenseError(f"held-out data {int8.eval_data} delivered no frames.", "check --eval-data.")
    return frames, held_out


def _int8_entry(
    gate: GateResult, final: Scores, mixed: Scores, float_parts: str, calib: CalibrationSet, int8: Int8Options
) -> dict[str, Any]:
    assert int8.calib is not None
    q = gate.quantized
    return {
        **scores_entry(final),
        "s_measure_drop_vs_fp32": gate.fp32.s_measure - final.s_measure,
        "float_parts": float_parts,
        "s_measure_with_fp32_float_parts": gate.scores.s_measure,
        "s_measure_with_fp16_float_parts": mixed.s_measure,
        "gate": {"max_drop": int8.max_drop, "passed": gate.passed, "forced": gate.forced},
        "calibration": {
            # the set's manifest, not its arrays (40 MB for 256 samples): it rebuilds the set exactly
            # (`mutualsense.calibration.rebuild_calibration_set`), and the robot never needs the arrays
            "file": "calibration.json",
            "npz_sha256": sha256_file(Path(int8.calib)),
            "count": len(calib),
            "data": calib.manifest["data"],
            "method": int8.calib_method,
            "quantizer": q.quantizer_detail,
            **({"quantizer_note": q.quantizer_note} if q.quantizer_note else {}),
        },
        "kept_in_higher_precision": q.excluded,
        "cda_in_higher_precision": q.guarded,
        "auto_fp16_attempts": gate.attempts,
        "sensitivity_top": [e.as_dict() for e in gate.sensitivity[:10]],
        "evaluated_with": INT8_EVALUATION,
    }


def _fp16_float_parts(
    gate: GateResult,
    frames: list[LabelledFrame],
    traced: Traced,
    batch: int,
    max_drop: float,
    step: Callable[[str], None],
) -> tuple[onnx.ModelProto, Scores, Scores, str]:
    """FP16 for what stays unquantised (Q/DQ pairs untouched), when that keeps the gate passing."""
    step("convert the unquantised parts to fp16")
    mixed = to_fp16(gate.quantized.model, extra_blocked_ops=("QuantizeLinear", "DequantizeLinear"))
    mixed_scores = measure(mixed, frames, traced.spec, batch)
    if gate.fp32.s_measure - mixed_scores.s_measure <= max_drop or gate.forced:
        return mixed, mixed_scores, mixed_scores, "fp16"
    return gate.quantized.model, gate.scores, mixed_scores, "fp32"


def export_int8(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: ExportOptions,
    on_step: Callable[[str], None] | None = None,
) -> Bundle:
    """Export a checkpoint to an accuracy-gated INT8 bundle.

    Args:
        checkpoint: a MutualSense checkpoint.
        out: bundle folder to create.
        options: ``precision="int8"`` and ``int8=Int8Options(calib=...)`` (see both for the rest).
        on_step: called with the name of each step as it starts.

    Raises:
        AccuracyGateError: the INT8 model loses more than ``max_drop`` of S-measure and ``force`` is off
            (nothing is written).
        MutualSenseError: bad options (refused before any work).
    """
    step = on_step or (lambda name: None)
    int8 = options.int8 or Int8Options()
    check_precision(options.precision, {} if options.precision == "int8" else {"int8": "int8="})
    calib = _check_int8(int8, options.eval_count)
    check_export(out, options)
    traced = trace_checkpoint(checkpoint, options, step)
    if calib.spec != traced.spec:
        raise MutualSenseError(
            f"calibration set {int8.calib} was made for input spec {calib.spec}, the export uses {traced.spec}.",
            "rebuild it with `mutualsense calibrate --bundle` for this model and --input-size.",
        )
    frames, held_out = _held_out(traced, int8, options, step)
    fp32, fp32_entry = fp32_accuracy(traced, frames, held_out, options.batch, step)
    gate = quantize_gated(
        traced.exported.model,
        calib,
        frames,
        traced.spec,
        options.batch,
        fp32,
        method=int8.calib_method,
        max_drop=int8.max_drop,
        auto_fp16=int8.auto_fp16,
        force=int8.force,
        held_out="held-out frames" if held_out.get("data") != "synthetic" else "held-out generated scenes",
        on_step=step,
        quantizer=int8.quantizer,
    )
    model, final, mixed, float_parts = _fp16_float_parts(gate, frames, traced, options.batch, int8.max_drop, step)
    accuracy = {"fp32": fp32_entry, "int8": {**_int8_entry(gate, final, mixed, float_parts, calib, int8), **held_out}}
    return write_export(out, traced, model, options, accuracy, step, {"calibration.json": calib.manifest})
