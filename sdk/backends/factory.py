"""Opening a backend by name: ``open_backend("ort", bundle)`` or ``open_backend("tensorrt", bundle)``."""

from __future__ import annotations

import os

from mutualsense.backends.base import Backend
from mutualsense.bundle import Bundle
from mutualsense.errors import MutualSenseError

__all__ = ["BACKEND_NAMES", "open_backend"]

#: What ``backend=`` (``--backend``) accepts.
BACKEND_NAMES = ("ort", "onnxruntime", "tensorrt", "trt")


def open_backend(
    kind: str,
    bundle: Bundle,
    providers: list[str] | None = None,
    threads: int | None = None,
    spin: bool | None = None,
) -> Backend:
    """The backend ``kind`` for ``bundle``, not yet entered (use it as a context manager).

    Args:
        kind: ``ort``/``onnxruntime`` (ONNX Runtime, everywhere) or ``tensorrt``/``trt`` (an engine of the bundle).
        bundle: the loaded bundle.
        providers: ONNX Runtime execution providers (default: the best available).
        threads: ONNX Runtime intra-op threads (default: all cores but one, which the capture thread
            uses to align and preprocess the next frameset while the model runs).
        spin: ONNX Runtime's idle threads spin-wait (None: its default, yes); see ``OnnxRuntimeBackend``.

    Raises:
        MutualSenseError: an unknown ``kind``.
    """
    if kind in ("ort", "onnxruntime"):
        from mutualsense.backends.onnxruntime import OnnxRuntimeBackend

        if threads is None:  # leave a core to the capture thread, which aligns and preprocesses the next frameset
            threads = max(1, (os.cpu_count() or 2) - 1)
        return OnnxRuntimeBackend(bundle, providers=providers, threads=threads, spin=spin)
    if kind in ("tensorrt", "trt"):
        from mutualsense.backends.tensorrt import TensorRTBackend

        return TensorRTBackend(bundle)
    raise MutualSenseError(f"unknown backend {kind!r}.", "use --backend ort or --backend tensorrt.")
