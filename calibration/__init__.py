"""Calibration sets, INT8 quantisation and the accuracy gate (needs the export extra).

* :func:`build_calibration_set` / :func:`load_calibration_set` / :func:`verify_calibration_set`:
  paired RGB-D inputs from recordings, dataset folders or the generator, preprocessed by the
  runtime's code path, in a compressed ``.npz`` with its manifest (``mutualsense calibrate``).
* :func:`quantize_int8`: Q/DQ int8 ONNX (symmetric, per-channel weights, opset of the export ≥ 19),
  with the ``CrossDiffusionAttention`` node and the data-movement nodes feeding it kept in float.
* :func:`quantize_gated`: the accuracy gate (S-measure drop vs FP32 on held-out data) and the
  automatic mode that keeps the most sensitive layers in higher precision (:func:`layer_sensitivity`).

Why ONNX Runtime's quantiser and not nvidia-modelopt: modelopt installs its own onnx (1.21) and
onnxruntime-gpu, which would replace the toolchain's onnx 1.23 / CPU onnxruntime (design §2, §7),
so it must live in a separate virtual environment (several hundred MB of wheels, made on demand)
and be driven as a subprocess; on a CPU-only workstation it calibrates through ONNX Runtime CPU
anyway, the same engine ``quantize_static`` uses. ``quantize_static`` runs in-process, keeps the
custom node and its function body, and writes the same kind of Q/DQ graph (symmetric int8
QuantizeLinear/DequantizeLinear pairs) that TensorRT 10.x and 11 consume. modelopt would plug in
behind :func:`quantize_int8` as one more ``method``: save the FP32 model and the calibration
arrays to a temporary folder, run ``<venv>/bin/python -m modelopt.onnx.quantization
--onnx_path fp32.onnx --calibration_data calib.npz --calibration_method {max,entropy}
--high_precision_dtype fp32 --output_path int8.onnx`` in its venv, and load the result; the gate
and the sensitivity report work on any Q/DQ model unchanged.
"""

from mutualsense.calibration.gate import DEFAULT_MAX_DROP, AccuracyGateError, GateResult, quantize_gated
from mutualsense.calibration.quantize import METHODS, LayerError, QuantizedModel, layer_sensitivity, quantize_int8
from mutualsense.calibration.set import (
    CalibrationSet,
    build_calibration_set,
    load_calibration_set,
    verify_calibration_set,
)

__all__ = [
    "DEFAULT_MAX_DROP",
    "METHODS",
    "AccuracyGateError",
    "CalibrationSet",
    "GateResult",
    "LayerError",
    "QuantizedModel",
    "build_calibration_set",
    "layer_sensitivity",
    "load_calibration_set",
    "quantize_gated",
    "quantize_int8",
    "verify_calibration_set",
]
