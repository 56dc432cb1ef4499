"""ONNX Runtime backend: runs a bundle's ONNX (CDA nodes through their function bodies) anywhere."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from mutualsense.backends.base import require_active
from mutualsense.bundle import Bundle
from mutualsense.errors import BundleError, MissingDependencyError

__all__ = ["OnnxRuntimeBackend", "choose_providers"]

PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def choose_providers(available: list[str], requested: list[str] | None = None) -> list[str]:
    """The providers to use, best first: requested ones that exist, else TensorRT EP > CUDA EP > CPU."""
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise BundleError(
                f"ONNX Runtime providers {missing} are not available here (available: {available}).",
                "install onnxruntime-gpu for CUDA/TensorRT, or leave providers unset to pick automatically.",
            )
        return list(requested)
    return [p for p in PREFERENCE if p in available] or ["CPUExecutionProvider"]


class OnnxRuntimeBackend:
    """``with OnnxRuntimeBackend(bundle) as b: out = b.infer({"rgb": x, "depth": d})``.

    Args:
        model: a :class:`Bundle`, a bundle folder, or a path to an ``.onnx`` file.
        providers: ONNX Runtime execution providers; default best available.
        threads: intra-op threads (default: ONNX Runtime's choice).
        spin: whether idle intra-op threads spin-wait for work (ONNX Runtime's default: yes). Spinning
            wins for a model alone on its cores; next to other busy threads (a pipeline's capture and
            postprocessing, other processes) it takes their CPU time, so the pipeline turns it off.
    """

    name = "onnxruntime"
    concurrent = True  # InferenceSession.run may be called from several threads at once

    def __init__(
        self,
        model: Bundle | str | os.PathLike[str],
        providers: list[str] | None = None,
        threads: int | None = None,
        spin: bool | None = None,
    ) -> None:
        if isinstance(model, Bundle):
            self.onnx_path = model.onnx_path
        else:
            p = Path(model)
            self.onnx_path = p if p.suffix == ".onnx" else Bundle.load(p).onnx_path
        self._requested = providers
        self._threads = threads
        self._spin = spin
        self._session: Any = None
        self.providers: list[str] = []

    def __enter__(self) -> OnnxRuntimeBackend:
        try:
            import onnxruntime as ort
        except ModuleNotFoundError as exc:
            raise MissingDependencyError(
                "onnxruntime (or onnxruntime-gpu)",
                "cpu",
                "for the ONNX Runtime backend; on a Jetson install NVIDIA's onnxruntime-gpu build instead",
            ) from exc
        opts = ort.SessionOptions()
        if self._threads:
            opts.intra_op_num_threads = self._threads
        if self._spin is not None:
            for key in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
                opts.add_session_config_entry(key, "1" if self._spin else "0")
        providers = choose_providers(ort.get_available_providers(), self._requested)
        try:
            self._session = ort.InferenceSession(str(self.onnx_path), opts, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for bad files
            raise BundleError(
                f"ONNX Runtime cannot load {self.onnx_path}: {str(exc).splitlines()[0]}",
                "the file is corrupt or not an ONNX model; re-export the bundle.",
            ) from exc
        self.providers = self._session.get_providers()
        self.inputs = {i.name: tuple(i.shape) for i in self._session.get_inputs()}
        self.outputs = [o.name for o in self._session.get_outputs()]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._session = None

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        require_active(self._session is not None, self)
        for name, shape in self.inputs.items():
            if name not in feed:
                raise ValueError(f"missing input {name!r}; the model takes {sorted(self.inputs)}")
            if tuple(feed[name].shape) != shape:
                raise ValueError(f"input {name!r} has shape {tuple(feed[name].shape)}, the model expects {shape}")
        results = self._session.run(self.outputs, {k: np.ascontiguousarray(feed[k], np.float32) for k in self.inputs})
        return dict(zip(self.outputs, results, strict=True))
