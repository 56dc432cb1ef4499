"""The INT8 accuracy gate: S-measure of the Q/DQ model vs FP32 on held-out data, and the automatic FP16 fallback.

Held-out data: generated scenes (seed ``EVAL_SEED``, never used for calibration) by default, an RGB-D
SOD dataset folder, or recordings. Recordings have no ground truth: there the FP32 model's own
binarised output is the reference mask for both precisions, so the drop measures agreement with FP32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import onnx

from mutualsense.calibration.quantize import (
    LayerError,
    QuantizedModel,
    QuantizerChoice,
    layer_sensitivity,
    quantize_int8,
    resolve_quantizer,
)
from mutualsense.calibration.set import CalibrationSet
from mutualsense.errors import MutualSenseError
from mutualsense.evaluation.data import EVAL_SEED, LabelledFrame, labelled_frames, parse_data_spec
from mutualsense.evaluation.metrics import Scores
from mutualsense.evaluation.scoring import backend_predictor, evaluate_predictor
from mutualsense.export.onnx_graph import OrtSession
from mutualsense.preprocess import InputSpec

__all__ = ["DEFAULT_MAX_DROP", "AccuracyGateError", "GateResult", "held_out_frames", "quantize_gated"]

DEFAULT_MAX_DROP = 0.01


class AccuracyGateError(MutualSenseError):
    """The INT8 model loses more accuracy against FP32 than the gate allows."""


def held_out_frames(
    data: str | os.PathLike[str], count: int, spec: InputSpec, fp32: onnx.ModelProto | None = None, batch: int = 1
) -> tuple[list[LabelledFrame], dict[str, Any]]:
    """The held-out frames and a description for the manifest.

    Args:
        data: a data spec (:func:`~mutualsense.evaluation.data.parse_data_spec`): ``synthetic`` (seed
            ``EVAL_SEED`` unless the spec names one), a dataset folder, or recordings (which need ``fp32``
            for the reference masks).
        count: generated scenes, or at most this many dataset images / recording framesets.
    """
    parsed = parse_data_spec(data)
    if parsed.kind == "recordings" and fp32 is None:
        raise ValueError("recordings need the fp32 model for reference masks")
    reference = backend_predictor(OrtSession(fp32), batch) if parsed.kind == "recordings" and fp32 else None
    frames = list(labelled_frames(parsed, spec, count, EVAL_SEED, reference))
    if parsed.kind == "synthetic":
        return frames, {"data": parsed.text, "seed": parsed.resolve(count, EVAL_SEED)[1]}
    if parsed.kind == "recordings":
        return frames, {"data": str(parsed.path), "reference": "fp32 output > 0.5 (recordings carry no ground truth)"}
    return frames, {"data": str(parsed.path)}


def scores_of(model: onnx.ModelProto, frames: list[LabelledFrame], spec: InputSpec, batch: int) -> Scores:
    """Saliency scores of a model on ONNX Runtime CPU."""
    return evaluate_predictor(backend_predictor(OrtSession(model), batch), iter(frames), spec)


@dataclass
class GateResult:
    """What the gate measured and decided."""

    quantized: QuantizedModel
    scores: Scores
    fp32: Scores
    max_drop: float
    passed: bool
    forced: bool
    attempts: list[dict[str, Any]] = field(default_factory=list)
    sensitivity: list[LayerError] = field(default_factory=list)

    @property
    def drop(self) -> float:
        return self.fp32.s_measure - self.scores.s_measure


def quantize_gated(
    fp32_model: onnx.ModelProto,
    calib: CalibrationSet,
    frames: list[LabelledFrame],
    spec: InputSpec,
    batch: int,
    fp32_scores: Scores,
    method: str = "minmax",
    max_drop: float = DEFAULT_MAX_DROP,
    auto_fp16: bool = False,
    force: bool = False,
    held_out: str = "held-out scenes",
    on_step: Any = None,
    quantizer: str = "auto",
) -> GateResult:
    """Quantise, measure against FP32, and (``auto_fp16``) keep the most sensitive layers in float until it passes.

    ``quantizer``: ``auto`` (nvidia-modelopt, else ONNX Runtime with the reason), ``modelopt`` or
    ``onnxruntime``; it is resolved once, and every attempt uses the same one.

    Raises:
        AccuracyGateError: the drop exceeds ``max_drop`` and ``force`` is False (nothing is written).
        QuantizerError: ``quantizer="modelopt"`` and modelopt cannot run.
    """
    step = on_step or (lambda name: None)
    if not frames:
        raise AccuracyGateError(
            "the INT8 accuracy gate needs held-out frames, and none were given.", "pass --eval-count 1 or more."
        )
    choice = resolve_quantizer(quantizer, method, create=True, on_step=step)
    if choice.note:
        step(f"using ONNX Runtime's quantiser: {choice.note}")
    step(f"quantise to int8 with {choice.name} ({method}, {len(calib)} calibration samples)")
    q = quantize_int8(fp32_model, calib, method, quantizer=choice)
    if q.quantizer != choice.name:
        step(f"using ONNX Runtime's quantiser: {q.quantizer_note}")
        choice = QuantizerChoice(q.quantizer, None, q.quantizer_note, choice.requested)
    step(f"measure int8 accuracy on {len(frames)} {held_out}")
    s = scores_of(q.model, frames, spec, batch)
    attempts = [{"kept_in_higher_precision": 0, "s_measure": s.s_measure, "drop": fp32_scores.s_measure - s.s_measure}]
    step("per-layer sensitivity")  # always: the report goes into the manifest (and the refusal, if any)
    sensitivity = layer_sensitivity(fp32_model, q, calib)
    passed = fp32_scores.s_measure - s.s_measure <= max_drop
    if not passed and auto_fp16:
        k = 1
        while not passed and k <= len(sensitivity):
            keep = [e.node for e in sensitivity[:k]]
            step(f"keep the {k} most sensitive layers in higher precision")
            q = quantize_int8(fp32_model, calib, method, exclude=keep, quantizer=choice)
            s = scores_of(q.model, frames, spec, batch)
            drop = fp32_scores.s_measure - s.s_measure
            attempts.append({"kept_in_higher_precision": k, "s_measure": s.s_measure, "drop": drop})
            passed = drop <= max_drop
            k = k * 2 if k * 2 <= len(sensitivity) or k == len(sensitivity) else len(sensitivity)
    result = GateResult(q, s, fp32_scores, max_drop, passed, force and not passed, attempts, sensitivity)
    if not passed and not force:
        tried = f" (--auto-fp16 tried keeping up to {attempts[-1]['kept_in_higher_precision']} layers in float)"
        worst = ", ".join(f"{e.node} (+{e.added_error:.3f})" for e in sensitivity[:3]) or "none measured"
        raise AccuracyGateError(
            f"INT8 accuracy gate failed: S-measure {fp32_scores.s_measure:.4f} (fp32) → {s.s_measure:.4f} (int8), "
            f"a drop of {result.drop:.4f} > the allowed {max_drop:g}, MAE {fp32_scores.mae:.4f} → {s.mae:.4f}, "
            f"on {len(frames)} {held_out}{tried if auto_fp16 else ''}; calibration: {len(calib)} samples "
            f"from {calib.manifest.get('data')!r}, method {method}, quantiser {q.quantizer}; the layers adding the "
            f"most error: {worst}. No bundle was written.",
            "calibrate on more and more representative data (`mutualsense calibrate --data <your recordings or "
            "dataset> --samples 512`), try --calib-method entropy or percentile, pass --auto-fp16 to keep the most "
            "sensitive layers in higher precision, raise --max-drop, or pass --force to write the bundle with the "
            "failure recorded.",
        )
    return result
