"""Opening a backend by name: ``open_backend("ort", bundle)`` or ``open_backend("tensorrt", bundle)``."""

from __future__ import annotations

import os
from typing import Any

from mutualsense.backends.base import Backend
from mutualsense.bundle import Bundle
from mutualsense.errors import MutualSenseError

__all__ = ["BACKEND_NAMES", "backend_class", "open_backend"]

_ORT, _TENSORRT = ("ort", "onnxruntime"), ("tensorrt", "trt")
#: What ``backend=`` (``--backend``) accepts.
BACKEND_NAMES = _ORT + _TENSORRT


def backend_class(kind: str) -> type[Any]:
    """The class behind ``kind`` (its ``name`` and whether its calls may run at once, ``concurrent``), without
    opening anything: neither ONNX Runtime nor TensorRT is imported until a backend is entered.

    Raises:
        MutualSenseError: an unknown ``kind``.
    """
    if kind in _ORT:
        from mutualsense.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend
    if kind in _TENSORRT:
        from mutualsense.backends.tensorrt import TensorRTBackend

        return TensorRTBackend
    raise MutualSenseError(f"unknown backend {kind!r}.", "use --backend ort or --backend tensorrt.")


def open_backend(
    kind: str,
    bundle: Bundle,
    providers: list[str] | None = None,
    threads: int | None = None,
    spin: bool | None = None,
    build_engine: bool = True,
) -> Backend:
    """The backend ``kind`` for ``bundle``, not yet entered (use it as a context manager).

    Args:
        kind: ``ort``/``onnxruntime`` (ONNX Runtime, everywhere) or ``tensorrt``/``trt`` (an engine of the bundle).
        bundle: the loaded bundle.
        providers: ONNX Runtime execution providers (default: the best available).
        threads: ONNX Runtime intra-op threads (default: all cores but one, which the capture thread
            uses to align and preprocess the next frameset while the model runs).
        spin: ONNX Runtime's idle threads spin-wait (None: its default, yes); see ``OnnxRuntimeBackend``.
        build_engine: TensorRT only: build an engine for this GPU into the bundle when it has none
            (first run, JetPack upgrade); False (``--no-build``) refuses instead.

    Raises:
        MutualSenseError: an unknown ``kind``.
    """
    cls = backend_class(kind)
    if kind in _ORT:
        if threads is None:  # leave a core to the capture thread, which aligns and preprocesses the next frameset
            threads = max(1, (os.cpu_count() or 2) - 1)
        return cls(bundle, providers=providers, threads=threads, spin=spin)
    return cls(bundle, build=build_engine)
