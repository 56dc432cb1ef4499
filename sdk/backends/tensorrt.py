"""TensorRT backend: runs a bundle's engine for this GPU, with the CDA plugin, through cuda-python.

TensorRT and cuda-python are imported only when a backend is entered. Everything that decides
*what* to run — which engine fits this device, which plugin to load, how the I/O buffers are laid
out — is plain Python, tested without a GPU; the CUDA calls follow NVIDIA's documented APIs
(``IExecutionContext.set_tensor_address`` + ``execute_async_v3``; ``cudaMallocHost``/``cudaMalloc``/
``cudaMemcpyAsync`` on one stream; optional CUDA graph capture).
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from mutualsense.backends.base import require_active
from mutualsense.bundle import Bundle
from mutualsense.errors import EngineError, MissingDependencyError, PluginError
from mutualsense.gpu import GpuInfo, gpu_info, tensorrt_version

__all__ = ["IOTensor", "TensorRTBackend", "plan_io", "select_engine"]

ALIGNMENT = 256  # bytes; TensorRT wants 256-byte aligned device addresses for its I/O tensors


def _major_minor(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:2])


def rebuild_command(bundle: Bundle) -> str:
    plugin = next((rel for rel, f in bundle.manifest["files"].items() if f["role"] == "plugin"), None)
    extra = f" --plugin {bundle.path / plugin}" if plugin else " --plugin libmutualsense_cda.so"
    return f"mutualsense build-engine {bundle.path}{extra}"


def select_engine(bundle: Bundle, trt: str | None, gpu: GpuInfo | None) -> Mapping[str, Any]:
    """The manifest entry of the engine built for this TensorRT (major.minor) and compute capability."""
    if trt is None:
        raise EngineError(
            "TensorRT is not installed here, so the tensorrt backend cannot run.",
            "use --backend ort, or run on a Jetson with JetPack >= 6.",
        )
    if gpu is None:
        raise EngineError("no CUDA GPU is visible, so the tensorrt backend cannot run.", "use --backend ort.")
    engines = bundle.manifest.get("engines") or []
    if not engines:
        raise EngineError(
            f"bundle {bundle.path} has no TensorRT engine yet.", f"build one here: `{rebuild_command(bundle)}`."
        )
    for e in engines:
        if e["compute_capability"] == gpu.compute_capability and _major_minor(e["tensorrt"]) == _major_minor(trt):
            return e
    found = ", ".join(f"TensorRT {e['tensorrt']} on sm {e['compute_capability']}" for e in engines)
    raise EngineError(
        f"bundle {bundle.path} has no engine for this device "
        f"(TensorRT {trt}, {gpu.name}, sm {gpu.compute_capability}); "
        f"it holds engines for: {found}. Engines only run on the TensorRT version and GPU they were built for.",
        f"build one for this device: `{rebuild_command(bundle)}`.",
    )


@dataclass(frozen=True)
class IOTensor:
    """One engine I/O tensor and where it lives in the device arena."""

    name: str
    is_input: bool
    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int  # bytes from the start of the device arena (ALIGNMENT-aligned)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize


def plan_io(
    tensors: Sequence[tuple[str, bool, tuple[int, ...], np.dtype]], expected: Mapping[str, Sequence[int]]
) -> list[IOTensor]:
    """Lay the engine's I/O tensors out in one aligned arena and check them against the manifest's shapes."""
    plan, offset = [], 0
    for name, is_input, shape, dtype in tensors:
        if any(s < 0 for s in shape):
            raise EngineError(
                f"engine tensor {name!r} has a dynamic shape {shape}.", "re-export with a fixed batch size."
            )
        if name in expected and tuple(expected[name]) != tuple(shape):
            raise EngineError(
                f"engine tensor {name!r} has shape {tuple(shape)}, the bundle manifest says {tuple(expected[name])}.",
                "the engine belongs to another export of the model: rebuild it with `mutualsense build-engine`.",
            )
        t = IOTensor(name, is_input, tuple(shape), np.dtype(dtype), offset)
        plan.append(t)
        offset += -(-t.nbytes // ALIGNMENT) * ALIGNMENT
    missing = set(expected) - {t.name for t in plan}
    if missing:
        raise EngineError(f"engine lacks tensors {sorted(missing)} named in the manifest.", "rebuild the engine.")
    return plan


def _check(result: Any) -> Any:
    """cuda-python calls return (err, *values): raise on error, return the values."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise EngineError(f"CUDA call failed: {err}.", "check `mutualsense doctor` for the driver and GPU state.")
    return values[0] if len(values) == 1 else values


class TensorRTBackend:  # pragma: no cover - exercised by `mutualsense doctor` on a target
    """``with TensorRTBackend(bundle) as b: out = b.infer({"rgb": x, "depth": d})`` — same protocol as ONNX Runtime.

    Args:
        bundle: a bundle holding an engine built for this device (``mutualsense build-engine``).
        cuda_graph: capture copy-in → enqueue → copy-out as one CUDA graph after the first run.
    """

    name = "tensorrt"

    def __init__(self, bundle: Bundle | str | Path, cuda_graph: bool = False) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
        self.engine_entry = select_engine(self.bundle, tensorrt_version(), gpu_info())
        self.cuda_graph = cuda_graph
        self._graph_exec: Any = None
        self._allocations: list[tuple[str, int]] = []
        self._active = False

    def __enter__(self) -> TensorRTBackend:
        try:
            import tensorrt as trt
            from cuda.bindings import runtime as cudart
        except ModuleNotFoundError as exc:
            raise MissingDependencyError(exc.name or "tensorrt", "jetson", "for the TensorRT backend") from exc
        self._cudart = cudart
        logger = trt.Logger(trt.Logger.WARNING)
        trt.init_libnvinfer_plugins(logger, "")
        plugin = self.engine_entry.get("plugin")
        if plugin:
            path = self.bundle.path / plugin
            if not path.is_file():
                raise PluginError(f"plugin library {path} is missing.", f"rebuild: `{rebuild_command(self.bundle)}`.")
            trt.get_plugin_registry().load_library(str(path))
        self._runtime = trt.Runtime(logger)
        engine_bytes = (self.bundle.path / self.engine_entry["file"]).read_bytes()
        self._engine = self._runtime.deserialize_cuda_engine(engine_bytes)
        if self._engine is None:
            raise EngineError(
                f"TensorRT could not deserialize {self.engine_entry['file']} (built with TensorRT "
                f"{self.engine_entry['tensorrt']}; this is {tensorrt_version()}).",
                f"rebuild it on this device: `{rebuild_command(self.bundle)}`.",
            )
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        described = [
            (
                n,
                self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT,
                tuple(self._engine.get_tensor_shape(n)),
                np.dtype(trt.nptype(self._engine.get_tensor_dtype(n))),
            )
            for n in names
        ]
        shapes = {k: v["shape"] for k, v in self.bundle.manifest["input"]["tensors"].items()}
        shapes |= {k: v["shape"] for k, v in self.bundle.manifest["output"]["tensors"].items()}
        self.io = plan_io(described, shapes)
        arena = sum(-(-t.nbytes // ALIGNMENT) * ALIGNMENT for t in self.io)
        self._stream = _check(cudart.cudaStreamCreate())
        self._device = _check(cudart.cudaMalloc(arena))
        self._allocations.append(("device", self._device))
        self._host: dict[str, np.ndarray] = {}
        for t in self.io:
            ptr = _check(cudart.cudaMallocHost(t.nbytes))
            self._allocations.append(("host", ptr))
            raw = np.ctypeslib.as_array((ctypes.c_byte * t.nbytes).from_address(ptr))
            self._host[t.name] = raw.view(t.dtype).reshape(t.shape)
            self._context.set_tensor_address(t.name, int(self._device) + t.offset)
        self._active = True
        return self

    def _run(self) -> None:
        cudart = self._cudart
        kind_h2d, kind_d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for t in self.io:
            if t.is_input:
                _check(
                    cudart.cudaMemcpyAsync(
                        int(self._device) + t.offset, self._host[t.name].ctypes.data, t.nbytes, kind_h2d, self._stream
                    )
                )
        if not self._context.execute_async_v3(self._stream):
            raise EngineError("TensorRT enqueue failed.", "see the TensorRT log above.")
        for t in self.io:
            if not t.is_input:
                _check(
                    cudart.cudaMemcpyAsync(
                        self._host[t.name].ctypes.data, int(self._device) + t.offset, t.nbytes, kind_d2h, self._stream
                    )
                )

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        require_active(self._active, self)
        cudart = self._cudart
        for t in self.io:
            if t.is_input:
                if tuple(feed[t.name].shape) != t.shape:
                    raise ValueError(
                        f"input {t.name!r} has shape {tuple(feed[t.name].shape)}, the engine expects {t.shape}"
                    )
                np.copyto(self._host[t.name], feed[t.name], casting="same_kind")
        if self.cuda_graph and self._graph_exec is None:
            self._run()  # first run outside capture (TensorRT may allocate lazily)
            _check(cudart.cudaStreamSynchronize(self._stream))
            _check(
                cudart.cudaStreamBeginCapture(self._stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal)
            )
            self._run()
            graph = _check(cudart.cudaStreamEndCapture(self._stream))
            self._graph_exec = _check(cudart.cudaGraphInstantiate(graph, 0))
        if self._graph_exec is not None:
            _check(cudart.cudaGraphLaunch(self._graph_exec, self._stream))
        else:
            self._run()
        _check(cudart.cudaStreamSynchronize(self._stream))
        return {t.name: self._host[t.name].astype(np.float32) for t in self.io if not t.is_input}

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._active = False
        cudart = self._cudart
        for kind, ptr in self._allocations:
            (cudart.cudaFree if kind == "device" else cudart.cudaFreeHost)(ptr)
        self._allocations.clear()
        if self._graph_exec is not None:
            cudart.cudaGraphExecDestroy(self._graph_exec)
        cudart.cudaStreamDestroy(self._stream)
