"""TensorRT backend: runs a bundle's engine for this GPU, with the CDA plugin, through cuda-python.

TensorRT and cuda-python are imported only when a backend is entered. Everything that decides
*what* to run — which engine fits this device, whether one must be built first, which plugin to load,
how the I/O buffers are laid out — is plain Python, tested without a GPU; the CUDA calls follow NVIDIA's
documented APIs (``IExecutionContext.set_tensor_address`` + ``execute_async_v3``;
``cudaMallocHost``/``cudaMalloc``/``cudaMemcpyAsync`` on one stream; optional CUDA graph capture).

Like jetson-inference, a bundle without an engine for this TensorRT and GPU (first run, or after a
JetPack upgrade) gets one built into it on first use, unless ``build=False`` (``--no-build``).
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from mutualsense.backends.base import require_active
from mutualsense.bundle import Bundle
from mutualsense.errors import EngineError, MissingDependencyError
from mutualsense.gpu import GpuInfo, gpu_info, tensorrt_version
from mutualsense.preprocess import InputSpec
from mutualsense.tensorrt.device_frames import DeviceFrames, FrameKernels
from mutualsense.tensorrt.engine_build import Progress, build_engine
from mutualsense.tensorrt.plugin_loading import load_plugin
from mutualsense.tensorrt.versions import parse_version, stale_reason

__all__ = ["IOTensor", "TensorRTBackend", "ensure_engine", "find_engine", "plan_io", "rebuild_command", "select_engine"]

ALIGNMENT = 256  # bytes; TensorRT wants 256-byte aligned device addresses for its I/O tensors


def rebuild_command(bundle: Bundle) -> str:
    """The command that builds an engine (and, when missing, the plugin) for this device into the bundle."""
    return f"mutualsense build-engine {bundle.path}"


def find_engine(bundle: Bundle, trt: str, gpu: GpuInfo) -> Mapping[str, Any] | None:
    """The manifest entry of an engine that fits this TensorRT and GPU (the exact version preferred), or None."""
    fitting = [e for e in bundle.manifest.get("engines") or [] if stale_reason(e, trt, gpu) is None]
    exact = [e for e in fitting if parse_version(str(e["tensorrt"])) == parse_version(trt)]
    return (exact or fitting or [None])[-1]


def select_engine(bundle: Bundle, trt: str | None, gpu: GpuInfo | None, build_hint: str = "") -> Mapping[str, Any]:
    """The manifest entry of the engine built for this TensorRT (major.minor) and compute capability."""
    if trt is None:
        raise EngineError(
            "TensorRT is not installed here (or this Python cannot see it), so the tensorrt backend cannot run.",
            "use --backend ort; on a Jetson, make the venv with `python3 -m venv --system-site-packages` so "
            "JetPack's TensorRT is seen (`mutualsense doctor` checks it).",
        )
    if gpu is None:
        raise EngineError("no CUDA GPU is visible, so the tensorrt backend cannot run.", "use --backend ort.")
    engines = bundle.manifest.get("engines") or []
    if not engines:
        raise EngineError(
            f"bundle {bundle.path} has no TensorRT engine yet.",
            f"{build_hint}build one here: `{rebuild_command(bundle)}`.",
        )
    found = find_engine(bundle, trt, gpu)
    if found is not None:
        return found
    held = ", ".join(f"TensorRT {e['tensorrt']} on sm {e['compute_capability']}" for e in engines)
    raise EngineError(
        f"bundle {bundle.path} has no engine for this device "
        f"(TensorRT {trt}, {gpu.name}, sm {gpu.compute_capability}); "
        f"it holds engines for: {held}. Engines only run on the TensorRT version and GPU they were built for.",
        f"{build_hint}build one for this device: `{rebuild_command(bundle)}`.",
    )


def ensure_engine(
    bundle: Bundle,
    build: bool = True,
    progress: Progress | None = None,
    trt_version: str | None = None,
    gpu: GpuInfo | None = None,
    builder: Callable[..., Bundle] = build_engine,
) -> tuple[Bundle, Mapping[str, Any]]:
    """The bundle and its engine entry for this device, building the engine into the bundle when it has none.

    Args:
        build: False (``--no-build``) refuses instead of building.
        progress: one line per step of a build (default: stderr, since a first build takes minutes).
        trt_version, gpu, builder: default to this machine and :func:`build_engine`; parameters for tests.
    """
    trt_version = trt_version or tensorrt_version()
    gpu = gpu or gpu_info()
    if trt_version is None or gpu is None or find_engine(bundle, trt_version, gpu) is not None or not build:
        hint = "" if build else "leave out --no-build to build it on first use, or "
        return bundle, select_engine(bundle, trt_version, gpu, hint)
    say = progress or _to_stderr
    say(
        f"bundle {bundle.path} has no engine for TensorRT {trt_version} on {gpu.name} (sm {gpu.compute_capability}): "
        "building one now (first run or after a JetPack upgrade; minutes, once — pass --no-build to refuse instead)"
    )
    updated = builder(bundle.path, trt_version=trt_version, gpu=gpu, progress=say)
    return updated, select_engine(updated, trt_version, gpu)


def _to_stderr(line: str) -> None:
    print(f"mutualsense: {line}", file=sys.stderr, flush=True)


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


class _CudaMemory:  # pragma: no cover - exercised by `mutualsense doctor` on a target
    """:class:`~mutualsense.tensorrt.device_frames.DeviceMemory` through cuda-python, on the backend's stream;
    what it allocates joins the backend's allocations (freed when it closes)."""

    def __init__(self, cudart: Any, stream: Any, allocations: list[tuple[str, Any]]) -> None:
        self._cudart, self._stream, self._allocations = cudart, stream, allocations
        self.stream = int(stream)  # the cudaStream_t itself, for the kernels' C entry points
        self._events = [_check(cudart.cudaEventCreate()) for _ in range(8)]  # reused: a batch marks four
        self._next_event = 0

    def alloc(self, nbytes: int) -> int:
        ptr = _check(self._cudart.cudaMalloc(nbytes))
        self._allocations.append(("device", ptr))
        return int(ptr)

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        nbytes = int(np.prod(shape)) * dtype.itemsize
        ptr = _check(self._cudart.cudaMallocHost(nbytes))
        self._allocations.append(("host", ptr))
        return np.ctypeslib.as_array((ctypes.c_byte * nbytes).from_address(int(ptr))).view(dtype).reshape(shape)

    def upload(self, dst: int, src: np.ndarray) -> None:
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        _check(self._cudart.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, self._stream))

    def download(self, dst: np.ndarray, src: int) -> None:
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _check(self._cudart.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, self._stream))

    def mark(self) -> Any:
        event = self._events[self._next_event % len(self._events)]
        self._next_event += 1
        _check(self._cudart.cudaEventRecord(event, self._stream))
        return event

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(_check(self._cudart.cudaEventElapsedTime(start, end)))

    def synchronize(self) -> None:
        _check(self._cudart.cudaStreamSynchronize(self._stream))

    def close(self) -> None:
        for event in self._events:
            self._cudart.cudaEventDestroy(event)


class TensorRTBackend:  # pragma: no cover - exercised by `mutualsense doctor` on a target
    """``with TensorRTBackend(bundle) as b: out = b.infer({"rgb": x, "depth": d})`` — same protocol as ONNX Runtime.

    Args:
        bundle: a bundle; an engine for this device is built into it on first use unless ``build`` is False.
        cuda_graph: capture copy-in → enqueue → copy-out as one CUDA graph after the first run.
        build: build a missing engine (and plugin) into the bundle; False refuses with the command to run.
        progress: where the lines of a first build go (default: stderr).
    """

    name = "tensorrt"

    def __init__(
        self,
        bundle: Bundle | str | Path,
        cuda_graph: bool = False,
        build: bool = True,
        progress: Progress | None = None,
    ) -> None:
        loaded = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
        self.bundle, self.engine_entry = ensure_engine(loaded, build, progress)
        self.cuda_graph = cuda_graph
        self._graph_exec: Any = None
        self._plugin_path: Path | None = None  # the loaded plugin library, which may hold the frame kernels
        self._memory: _CudaMemory | None = None
        self._frames: DeviceFrames | None = None
        self._allocations: list[tuple[str, int]] = []
        self._active = False

    def __enter__(self) -> TensorRTBackend:
        try:
            import tensorrt as trt
            from cuda.bindings import runtime as cudart
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("tensorrt"):
                raise EngineError(
                    "this Python cannot import tensorrt.",
                    "on a Jetson, JetPack's TensorRT lives in the system site-packages: recreate the venv with "
                    "`python3 -m venv --system-site-packages` (`mutualsense doctor` checks it).",
                ) from exc
            raise MissingDependencyError(
                "cuda-python", "jetpack6", "for the TensorRT backend; on JetPack 7 use the jetpack7 extra"
            ) from exc
        self._cudart = cudart
        gpu = gpu_info()
        stale = stale_reason(self.engine_entry, str(trt.__version__), gpu) if gpu else "no CUDA GPU is visible"
        if stale:  # the metadata said one TensorRT, the module imported is another: refuse before deserialising
            raise EngineError(
                f"engine {self.engine_entry['file']} is stale here ({stale}).",
                f"rebuild it on this device: `{rebuild_command(self.bundle)}`.",
            )
        logger = trt.Logger(trt.Logger.WARNING)
        plugin = self.engine_entry.get("plugin")
        if plugin:
            remedy = (
                "rebuild the plugin and the engine here: `mutualsense build-plugin --out DIR`, then "
                f"`mutualsense build-engine {self.bundle.path} --plugin DIR/libmutualsense_cda.so`."
            )
            load_plugin(trt, self.bundle.path / plugin, logger, remedy)
            self._plugin_path = self.bundle.path / plugin
        else:
            trt.init_libnvinfer_plugins(logger, "")
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
        self._memory = _CudaMemory(cudart, self._stream, self._allocations)
        self._active = True
        return self

    def device_frames(self, spec: InputSpec) -> DeviceFrames | None:
        """Align + preprocess on this GPU, into the engine's inputs (:mod:`mutualsense.tensorrt.device_frames`),
        or None where that cannot be: the plugin library lacks the frame kernels (built before them), or
        the engine's rgb and depth inputs are not float32."""
        require_active(self._active, self)
        io = {t.name: t for t in self.io}
        if self._frames is not None or self._plugin_path is None or self._memory is None:
            return self._frames
        if any(name not in io or io[name].dtype != np.float32 for name in ("rgb", "depth")):
            return None
        kernels = FrameKernels.load(self._plugin_path)  # None: a plugin built before the frame kernels
        if kernels is None:
            return None
        base = int(self._device)
        self._frames = DeviceFrames(
            spec,
            kernels,
            self._memory,
            base + io["rgb"].offset,
            base + io["depth"].offset,
            self.bundle.batch,
            engine=lambda: self._run(copy_inputs=False),
            outputs=self._outputs,
        )
        return self._frames

    def _outputs(self) -> dict[str, np.ndarray]:
        """The output tensors as float32 (copies of the pinned buffers), once the stream is done."""
        return {t.name: self._host[t.name].astype(np.float32) for t in self.io if not t.is_input}

    def _run(self, copy_inputs: bool = True) -> None:
        cudart = self._cudart
        kind_h2d, kind_d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for t in self.io:
            if t.is_input and copy_inputs:
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
        return self._outputs()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._active = False
        cudart = self._cudart
        if self._memory is not None:
            self._memory.close()
            self._memory = self._frames = None
        for kind, ptr in self._allocations:
            (cudart.cudaFree if kind == "device" else cudart.cudaFreeHost)(ptr)
        self._allocations.clear()
        if self._graph_exec is not None:
            cudart.cudaGraphExecDestroy(self._graph_exec)
        cudart.cudaStreamDestroy(self._stream)
