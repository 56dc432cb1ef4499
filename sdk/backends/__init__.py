"""Inference backends behind one protocol: a context manager with ``infer(feed) -> outputs``."""

from __future__ import annotations

from typing import Any

from mutualsense.backends.base import Backend
from mutualsense.backends.factory import open_backend
from mutualsense.backends.onnxruntime import OnnxRuntimeBackend, choose_providers

__all__ = ["Backend", "OnnxRuntimeBackend", "TensorRTBackend", "choose_providers", "open_backend"]


def __getattr__(name: str) -> Any:
    # The TensorRT backend lives in the TensorRT wing (mutualsense.tensorrt), which itself builds on
    # backends.base: it is imported on first use, so either package may be imported first.
    if name == "TensorRTBackend":
        from mutualsense.tensorrt.backend import TensorRTBackend

        return TensorRTBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
