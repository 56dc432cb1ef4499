"""Inference backends behind one protocol: a context manager with ``infer(feed) -> outputs``."""

from __future__ import annotations

from mutualsense.backends.base import Backend
from mutualsense.backends.onnxruntime import OnnxRuntimeBackend, choose_providers

__all__ = ["Backend", "OnnxRuntimeBackend", "choose_providers"]
