"""Inference backends behind one protocol: a context manager with ``infer(feed) -> outputs``."""

from __future__ import annotations

from mutualsense.backends.base import Backend
from mutualsense.backends.factory import open_backend
from mutualsense.backends.onnxruntime import OnnxRuntimeBackend, choose_providers
from mutualsense.backends.tensorrt import TensorRTBackend

__all__ = ["Backend", "OnnxRuntimeBackend", "TensorRTBackend", "choose_providers", "open_backend"]
