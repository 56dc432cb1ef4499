"""Calibration sets, INT8 quantisation and the accuracy gate (needs the export extra).

* :func:`build_calibration_set` / :func:`load_calibration_set` / :func:`verify_calibration_set`:
  paired RGB-D inputs from recordings, dataset folders or the generator, preprocessed by the
  runtime's code path, in a compressed ``.npz`` with its manifest (``mutualsense calibrate``).
* :func:`quantize_int8`: Q/DQ int8 ONNX (symmetric, per-channel weights, opset of the export ≥ 19),
  with the ``CrossDiffusionAttention`` node and the data-movement nodes feeding it kept in float.
* :func:`mutualsense.calibration.export_int8.export_int8`: the INT8 export (the export steps plus
  calibration and the gate; imported on its own, it needs torch).
* :func:`quantize_gated`: the accuracy gate (S-measure drop vs FP32 on held-out data) and the
  automatic mode that keeps the most sensitive layers in higher precision (:func:`layer_sensitivity`).

The quantiser is nvidia-modelopt's ONNX PTQ by default (``quantizer="auto"``). modelopt pins its own
onnx (1.21) and onnxruntime-gpu, which would replace the toolchain's onnx 1.23 / CPU onnxruntime
(docs/design.md §2, §7), so it runs in a venv of its own, made on first use (:mod:`.modelopt`), as a
subprocess. Where it cannot run (no network to make the venv, a calibration method it lacks, a
failure on the model), ONNX Runtime's ``quantize_static`` writes the same kind of Q/DQ graph in
process, and the manifest records why. The gate and the sensitivity report work on either.
"""

from mutualsense.calibration.gate import DEFAULT_MAX_DROP, AccuracyGateError, GateResult, quantize_gated
from mutualsense.calibration.modelopt import QuantizerError
from mutualsense.calibration.quantize import (
    METHODS,
    QUANTIZERS,
    QuantizedModel,
    quantize_int8,
)
from mutualsense.calibration.sensitivity import LayerError, layer_sensitivity
from mutualsense.calibration.set import (
    CalibrationSet,
    build_calibration_set,
    load_calibration_set,
    rebuild_calibration_set,
    verify_calibration_set,
)

__all__ = [
    "DEFAULT_MAX_DROP",
    "METHODS",
    "QUANTIZERS",
    "AccuracyGateError",
    "CalibrationSet",
    "GateResult",
    "LayerError",
    "QuantizedModel",
    "QuantizerError",
    "build_calibration_set",
    "layer_sensitivity",
    "load_calibration_set",
    "quantize_gated",
    "quantize_int8",
    "rebuild_calibration_set",
    "verify_calibration_set",
]
