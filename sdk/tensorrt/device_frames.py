"""Align + preprocess on the GPU: raw frames go to the device once and the plugin library's frame kernels
(``export/plugin/preprocess_kernels.cu``) write the model's inputs straight into the engine's input tensors.

The TensorRT backend chooses this by itself when its plugin library exports the kernels and the engine
takes float32 inputs; the CPU path (:class:`~mutualsense.pipeline.prepare.FramePreparer`) stays the
reference, and the kernels use its tables and its arithmetic (``frame_math.h``), so the inputs are the
same to the bit (tests/export/test_preprocess_kernels.py). Everything here is enqueued on the backend's
one CUDA stream, in order: uploads, alignment and depth input per frameset, then the colour inputs, then
the engine, then the map and the aligned depths (which postprocessing needs for distances) come back.
One stream means no buffer is reused before the GPU is done with it. See docs/design.md §9.

The CUDA calls themselves go through :class:`DeviceMemory` (cuda-python in the backend, numpy in the
tests, where the unmodified .cu runs on the CUDA-on-CPU stand-in).
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mutualsense.align import AlignTables, DepthAligner
from mutualsense.errors import EngineError
from mutualsense.pipeline.prepare import Prepared
from mutualsense.preprocess import InputSpec, depth_table, rgb_table
from mutualsense.sources.frameset import FrameSet

__all__ = ["KERNELS", "AlignParams", "DeviceFrames", "DeviceMemory", "FrameKernels"]

log = logging.getLogger(__name__)

#: The frame kernels' C entry points (``MS_EXPORT`` in preprocess_kernels.cu).
KERNELS = ("ms_align_depth", "ms_prepare_rgb", "ms_prepare_depth")

_P = ctypes.c_void_p
_I = ctypes.c_int


class AlignParams(ctypes.Structure):
    """``frame::AlignParams`` of frame_math.h, passed by pointer to ``ms_align_depth``."""

    _fields_ = [(n, ctypes.c_float) for n in ("t0", "t1", "t2", "fx", "fy", "cx", "cy", "scale")] + [
        ("out_w", ctypes.c_int),
        ("out_h", ctypes.c_int),
    ]

    @classmethod
    def of(cls, tables: AlignTables, depth_scale: float) -> AlignParams:
        h, w = tables.out_size
        return cls(*tables.translation, tables.fx, tables.fy, tables.cx, tables.cy, float(depth_scale), w, h)


class FrameKernels:
    """The frame kernels of a loaded library, called with device addresses on a stream.

    Args:
        lib: the plugin library (or any build of preprocess_kernels.cu) loaded with ``ctypes.CDLL``.
    """

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._align = lib.ms_align_depth
        self._align.argtypes = [_P, _I, _I, _I, _P, _I, _I, ctypes.POINTER(AlignParams), _I, _P, _P, _P]
        self._rgb = lib.ms_prepare_rgb
        self._rgb.argtypes = [_P, _I, _I, _P, _P, _I, _I, _P]
        self._depth = lib.ms_prepare_depth
        self._depth.argtypes = [_P, _I, _P, _P, _P]
        for fn in (self._align, self._rgb, self._depth):
            fn.restype = _I

    @classmethod
    def load(cls, path: Path) -> FrameKernels | None:
        """The kernels of the library at ``path``, or None when it does not export them (an older plugin) or
        cannot be loaded here (then the frames are prepared on the CPU, as before)."""
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            log.warning("frame kernels unavailable, preparing frames on the CPU: %s", exc)
            return None
        return cls(lib) if all(hasattr(lib, name) for name in KERNELS) else None

    def align_depth(
        self, depth: int, depth_w: int, tables: AlignTables, rays: int, scale: float, zbuf: int, out: int, stream: int
    ) -> None:
        """Raw depth (device, uint16, ``depth_w`` wide) → aligned raw depth ``out`` on the grid of ``tables``."""
        params = AlignParams.of(tables, scale)
        rows, cols = tables.rays.shape[1:]
        args = (depth, depth_w, tables.step_x, tables.step_y, rays, rows, cols, ctypes.byref(params), int(tables.fill))
        _launched("ms_align_depth", self._align(*args, zbuf, out, stream))

    def prepare_rgb(
        self, rgb: int, size: tuple[int, int], table: int, out: int, grid: tuple[int, int], stream: int
    ) -> None:
        """(h, w, 3) uint8 colour of ``size`` (w, h) → (3, grid) float32 input planes at ``out``."""
        _launched("ms_prepare_rgb", self._rgb(rgb, size[0], size[1], table, out, grid[1], grid[0], stream))

    def prepare_depth(self, aligned: int, n: int, table: int, out: int, stream: int) -> None:
        """``n`` aligned raw depths → their input values ``table[aligned]`` at ``out``."""
        _launched("ms_prepare_depth", self._depth(aligned, n, table, out, stream))


def _launched(name: str, rc: int) -> None:
    if rc != 0:
        raise EngineError(
            f"{name} could not be launched (CUDA error {rc}).",
            "check `mutualsense doctor`; pass gpu_prepare=False to align and preprocess on the CPU meanwhile.",
        )


class DeviceMemory(Protocol):
    """The CUDA calls :class:`DeviceFrames` makes, all on one stream (``stream``, as an address for the kernels)."""

    stream: int

    def alloc(self, nbytes: int) -> int:
        """Device memory (freed by the owner of this object when it closes)."""
        ...

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A host array the device can copy into asynchronously (page-locked)."""
        ...

    def upload(self, dst: int, src: np.ndarray) -> None:
        """Copy a C-contiguous host array to ``dst``, in stream order."""
        ...

    def download(self, dst: np.ndarray, src: int) -> None:
        """Copy into a pinned host array from ``src``, in stream order (valid after :meth:`synchronize`)."""
        ...

    def mark(self) -> Any:
        """An event recorded on the stream now."""
        ...

    def elapsed_ms(self, start: Any, end: Any) -> float:
        """Device time between two marks (after :meth:`synchronize`)."""
        ...

    def synchronize(self) -> None:
        """Wait until the stream has done everything enqueued."""
        ...


@dataclass
class _Camera:
    """A source's alignment tables, on the device once per calibration."""

    aligner: DepthAligner
    rays: int
    depth_tables: dict[tuple[str, float], int] = field(default_factory=dict)


class DeviceFrames:
    """Aligns and preprocesses a batch of framesets on the GPU, into the engine's input tensors.

    Args:
        spec: the model's input spec.
        kernels: the plugin library's frame kernels.
        memory: the backend's device memory and stream.
        rgb_input / depth_input: device addresses of the engine's float32 [batch, 3, h, w] and
            [batch, 1, h, w] input tensors.
        batch: the engine's batch.
        engine: enqueues the engine and the copies of its outputs to the host, on the memory's stream.
        outputs: the outputs, once the stream is done.
    """

    def __init__(
        self,
        spec: InputSpec,
        kernels: FrameKernels,
        memory: DeviceMemory,
        rgb_input: int,
        depth_input: int,
        batch: int,
        engine: Callable[[], None],
        outputs: Callable[[], dict[str, np.ndarray]],
    ) -> None:
        self.spec, self.kernels, self.memory, self.batch = spec, kernels, memory, batch
        self._engine, self._outputs = engine, outputs
        self.grid = (spec.height, spec.width)
        self.rgb_input, self.depth_input = rgb_input, depth_input
        pixels = spec.height * spec.width
        self._plane_bytes = pixels * 4
        self._rgb_table = memory.alloc(3 * 256 * 4)
        memory.upload(self._rgb_table, np.ascontiguousarray(rgb_table(spec).reshape(3, 256)))
        self._cameras: dict[str, _Camera] = {}
        self._raw: dict[tuple[str, int], tuple[int, np.ndarray]] = {}  # (what, slot) -> device address, staging
        self._zbuf = [memory.alloc(pixels * 4) for _ in range(batch)]
        self._aligned = [memory.alloc(pixels * 2) for _ in range(batch)]
        self._aligned_host = [memory.pinned(self.grid, np.dtype(np.uint16)) for _ in range(batch)]

    def _camera(self, fs: FrameSet) -> _Camera:
        cam = self._cameras.get(fs.source)
        if cam is None or not cam.aligner.matches_frameset(fs, self.grid):
            aligner = DepthAligner(fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color, self.grid)
            rays = np.ascontiguousarray(aligner.tables.rays, np.float32)
            cam = self._cameras[fs.source] = _Camera(aligner, self.memory.alloc(rays.nbytes))
            self.memory.upload(cam.rays, rays)
        return cam

    def _depth_table(self, cam: _Camera, fs: FrameSet) -> int:
        key = (fs.depth.dtype.str, float(fs.depth_scale))
        address = cam.depth_tables.get(key)
        if address is None:
            table = np.ascontiguousarray(depth_table(key[0], fs.depth_scale, self.spec), np.float32)
            address = cam.depth_tables[key] = self.memory.alloc(table.nbytes)
            self.memory.upload(address, table)
        return address

    def _upload_raw(self, what: str, slot: int, frame: np.ndarray) -> int:
        """``frame`` in the slot's device buffer for ``what``, through a page-locked staging copy so the
        upload is asynchronous (the previous call's copies were waited for). Both buffers grow when a
        larger frame comes; the smaller ones are freed with the backend."""
        address, staging = self._raw.get((what, slot), (0, _NO_STAGING))
        if frame.nbytes > staging.nbytes:
            address, staging = self.memory.alloc(frame.nbytes), self.memory.pinned((frame.nbytes,), np.dtype(np.uint8))
            self._raw[(what, slot)] = (address, staging)
        staged = staging[: frame.nbytes].view(frame.dtype).reshape(frame.shape)
        np.copyto(staged, frame)
        self.memory.upload(address, staged)
        return address

    def infer(self, framesets: Sequence[FrameSet]) -> tuple[dict[str, np.ndarray], list[Prepared], float, float]:
        """Prepare ``framesets`` into batch slots 0…n-1, run the engine, wait, and return its outputs with
        each frameset's :class:`Prepared` (aligned depth on the host; align and preprocess times measured
        on the device; no host tensors) and the host times when the engine's part began and ended. Slots
        past n keep their last inputs: their outputs are not used."""
        if not 1 <= len(framesets) <= self.batch:  # a FrameSet holds uint16 depth and uint8 RGB: nothing else to check
            raise ValueError(f"a batch of {len(framesets)} framesets does not fit a model of batch {self.batch}")
        memory, kernels, grid = self.memory, self.kernels, self.grid
        n = self.grid[0] * self.grid[1]
        started = time.monotonic()
        marks = [memory.mark()]
        for k, fs in enumerate(framesets):  # align, writing the aligned depth and the depth input
            cam = self._camera(fs)
            depth = self._upload_raw("depth", k, fs.depth)
            tables = cam.aligner.tables
            kernels.align_depth(
                depth,
                fs.depth.shape[1],
                tables,
                cam.rays,
                fs.depth_scale,
                self._zbuf[k],
                self._aligned[k],
                memory.stream,
            )
            depth_in = self.depth_input + k * self._plane_bytes
            kernels.prepare_depth(self._aligned[k], n, self._depth_table(cam, fs), depth_in, memory.stream)
            memory.download(self._aligned_host[k], self._aligned[k])
        marks.append(memory.mark())
        for k, fs in enumerate(framesets):  # colour
            rgb = self._upload_raw("colour", k, fs.color)
            size = (fs.color.shape[1], fs.color.shape[0])
            out = self.rgb_input + k * 3 * self._plane_bytes
            kernels.prepare_rgb(rgb, size, self._rgb_table, out, grid, memory.stream)
        marks.append(memory.mark())
        self._engine()
        marks.append(memory.mark())
        memory.synchronize()
        finished = time.monotonic()
        align_ms, preprocess_ms, engine_ms = (memory.elapsed_ms(a, b) for a, b in zip(marks, marks[1:], strict=False))
        # the host times of the engine's part: what the device spent on it, ending when the wait ended
        t0 = max(started, finished - engine_ms / 1000)
        prepared = [
            Prepared(_NONE, _NONE, self._aligned_host[k].copy(), align_ms, preprocess_ms, t0)
            for k in range(len(framesets))
        ]
        return self._outputs(), prepared, t0, finished


_NO_STAGING = np.zeros((0,), np.uint8)
_NONE = np.zeros((0,), np.float32)  # the input tensors of a frameset prepared on the device live there only
_NONE.flags.writeable = False
