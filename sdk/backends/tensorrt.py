"""The TensorRT backend, beside ONNX Runtime's; it lives in the TensorRT wing (:mod:`mutualsense.tensorrt`)."""

from __future__ import annotations

from mutualsense.tensorrt.backend import ALIGNMENT, IOTensor, TensorRTBackend, plan_io, select_engine

__all__ = ["ALIGNMENT", "IOTensor", "TensorRTBackend", "plan_io", "select_engine"]
