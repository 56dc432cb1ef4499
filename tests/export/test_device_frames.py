"""Frames prepared on the GPU (mutualsense.tensorrt.device_frames), checked on the CPU: the unmodified
preprocess_kernels.cu runs on the CUDA-on-CPU stand-in (the ``cuda_on_cpu`` library of
test_preprocess_kernels.py) and device memory is host memory, so what DeviceFrames enqueues — uploads,
tables, batch slots, kernel arguments, downloads — is run for real and compared with the CPU path
(FramePreparer), and a stream whose backend prepares frames on its device gives the CPU path's results.
Only the cuda-python calls of the TensorRT backend are left to `mutualsense doctor` on a target."""

from __future__ import annotations

import ctypes
import time
from types import TracebackType
from typing import Any

import numpy as np
import pytest
from test_preprocess_kernels import COLOR, _depth, cuda_on_cpu, gpu_kernels  # noqa: F401 - the fixtures

import mutualsense
import mutualsense.pipeline.stream as pipeline_stream
from mutualsense.backends.onnxruntime import OnnxRuntimeBackend
from mutualsense.bundle import Bundle
from mutualsense.errors import MutualSenseError
from mutualsense.pipeline import FramePreparer
from mutualsense.preprocess import InputSpec
from mutualsense.sources.frameset import Extrinsics, FrameSet, Intrinsics
from mutualsense.sources.synthetic import SyntheticSource
from mutualsense.tensorrt.device_frames import DeviceFrames, FrameKernels
from mutualsense.tensorrt.target_check import TOLERANCE, check_device_frames


class HostMemory:
    """DeviceMemory where the device is this process's memory and the stream runs at once."""

    stream = 0

    def __init__(self) -> None:
        self.buffers: list[np.ndarray] = []
        self.uploads = 0

    def alloc(self, nbytes: int) -> int:
        buffer = np.full(nbytes, 0xAB, np.uint8)  # garbage, as cudaMalloc gives
        self.buffers.append(buffer)
        return int(buffer.ctypes.data)

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return np.zeros(shape, dtype)

    def upload(self, dst: int, src: np.ndarray) -> None:
        assert src.flags.c_contiguous
        self.uploads += 1
        ctypes.memmove(dst, src.ctypes.data, src.nbytes)

    def download(self, dst: np.ndarray, src: int) -> None:
        ctypes.memmove(dst.ctypes.data, src, dst.nbytes)

    def mark(self) -> float:
        return time.perf_counter()

    def elapsed_ms(self, start: float, end: float) -> float:
        return 1000 * (end - start)

    def synchronize(self) -> None: ...


class Inputs:
    """An engine's float32 input tensors and a stand-in engine that records what it was given."""

    def __init__(self, spec: InputSpec, batch: int) -> None:
        self.rgb = np.zeros((batch, 3, spec.height, spec.width), np.float32)
        self.depth = np.zeros((batch, 1, spec.height, spec.width), np.float32)
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def engine(self) -> None:
        self.runs.append((self.rgb.copy(), self.depth.copy()))

    def frames(self, spec: InputSpec, kernels: FrameKernels, memory: HostMemory, batch: int) -> DeviceFrames:
        return DeviceFrames(
            spec,
            kernels,
            memory,
            self.rgb.ctypes.data,
            self.depth.ctypes.data,
            batch,
            engine=self.engine,
            outputs=lambda: {"saliency": self.depth[:, :1] * 2},
        )


def _frameset(depth_intrinsics: Intrinsics, seed: int, source: str, scale: float = 0.001) -> FrameSet:
    rgb = np.random.default_rng(seed).integers(0, 256, (COLOR.height, COLOR.width, 3), dtype=np.uint8)
    depth = _depth((depth_intrinsics.height, depth_intrinsics.width), seed)
    return FrameSet(
        rgb, depth, scale, COLOR, depth_intrinsics, Extrinsics(translation=(0.015, 0.0, 0.0)),
        0.0, 0.0, "system_time", 0.0, source=source,
    )  # fmt: skip


def test_a_batch_of_two_cameras_gets_the_cpu_paths_inputs_and_aligned_depth(cuda_on_cpu: ctypes.CDLL) -> None:  # noqa: F811
    cuda_on_cpu.cuda_cpu_configure(166912, 2, 11)  # shuffled thread order
    spec = InputSpec(height=96, width=128)
    d435 = Intrinsics(848, 480, 423.0, 423.0, 423.5, 239.5)
    small = Intrinsics(424, 240, 211.5, 211.5, 211.75, 119.75)
    memory, inputs = HostMemory(), Inputs(spec, 2)
    frames = inputs.frames(spec, FrameKernels(cuda_on_cpu), memory, 2)
    cpu = FramePreparer(spec)
    calls = [
        [_frameset(d435, 1, "front"), _frameset(small, 2, "wrist")],
        [_frameset(d435, 3, "front", scale=0.0001)],  # another depth scale: another nearness table; one slot
        [_frameset(d435, 4, "front"), _frameset(small, 5, "wrist")],  # tables already on the device
    ]
    for framesets in calls:
        uploads = memory.uploads
        outputs, prepared, t0, t1 = frames.infer(framesets)
        rgb, depth = inputs.runs[-1]
        for k, fs in enumerate(framesets):
            expected = cpu.prepare(fs)
            assert (expected.aligned_depth > 0).mean() > 0.5
            np.testing.assert_array_equal(prepared[k].aligned_depth, expected.aligned_depth)
            np.testing.assert_array_equal(depth[k], expected.depth[0])
            np.testing.assert_array_equal(rgb[k], expected.rgb[0])
            assert prepared[k].align_ms >= 0 and prepared[k].preprocess_ms >= 0 and prepared[k].rgb.size == 0
        np.testing.assert_array_equal(outputs["saliency"], inputs.depth[:, :1] * 2)
        assert t0 <= t1
    assert memory.uploads - uploads == 4, "on the third call only the raw frames went up, no tables"
    assert len(inputs.runs) == 3


class CupyMemory:
    """DeviceMemory on a real GPU through cupy (the CUDA calls the TensorRT backend makes with cuda-python)."""

    def __init__(self, cupy: Any) -> None:
        import cupyx

        self.cupy, self.cupyx = cupy, cupyx
        self._stream = cupy.cuda.Stream(non_blocking=True)
        self.stream = self._stream.ptr
        self.keep: list[Any] = []

    def alloc(self, nbytes: int) -> int:
        memory = self.cupy.cuda.alloc(nbytes)
        self.keep.append(memory)
        return int(memory.ptr)

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        array = self.cupyx.empty_pinned(shape, dtype)
        self.keep.append(array)
        return array

    def _copy(self, dst: int, src: int, nbytes: int, kind: int) -> None:
        self.cupy.cuda.runtime.memcpyAsync(dst, src, nbytes, kind, self.stream)

    def upload(self, dst: int, src: np.ndarray) -> None:
        self._copy(dst, src.ctypes.data, src.nbytes, self.cupy.cuda.runtime.memcpyHostToDevice)

    def download(self, dst: np.ndarray, src: int) -> None:
        self._copy(dst.ctypes.data, src, dst.nbytes, self.cupy.cuda.runtime.memcpyDeviceToHost)

    def mark(self) -> Any:
        event = self.cupy.cuda.Event()
        event.record(self._stream)
        return event

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(self.cupy.cuda.get_elapsed_time(start, end))

    def synchronize(self) -> None:
        self._stream.synchronize()


def test_on_a_gpu_the_device_path_gives_the_cpu_paths_inputs(gpu_kernels: tuple[ctypes.CDLL, Any]) -> None:  # noqa: F811
    library, cupy = gpu_kernels
    spec = InputSpec(height=192, width=192)
    rgb_in, depth_in = cupy.zeros((2, 3, 192, 192), cupy.float32), cupy.zeros((2, 1, 192, 192), cupy.float32)
    frames = DeviceFrames(
        spec, FrameKernels(library), CupyMemory(cupy), rgb_in.data.ptr, depth_in.data.ptr, 2,
        engine=lambda: None, outputs=lambda: {"saliency": cupy.asnumpy(depth_in)},
    )  # fmt: skip
    framesets = [
        _frameset(Intrinsics(848, 480, 423.0, 423.0, 423.5, 239.5), 1, "front"),
        _frameset(Intrinsics(424, 240, 211.5, 211.5, 211.75, 119.75), 2, "wrist"),
    ]
    for _ in range(2):  # the second time with the tables already on the device
        _, prepared, _, _ = frames.infer(framesets)
        cpu = [FramePreparer(spec).prepare(fs) for fs in framesets]
        for k in range(2):
            np.testing.assert_array_equal(prepared[k].aligned_depth, cpu[k].aligned_depth)
            np.testing.assert_array_equal(cupy.asnumpy(depth_in[k]), cpu[k].depth[0])
            np.testing.assert_array_equal(cupy.asnumpy(rgb_in[k]), cpu[k].rgb[0])
            assert 0 < prepared[k].align_ms < 1000 and 0 < prepared[k].preprocess_ms < 1000


def test_a_batch_larger_than_the_engines_is_refused(cuda_on_cpu: ctypes.CDLL) -> None:  # noqa: F811
    spec = InputSpec(height=96, width=128)
    frames = Inputs(spec, 1).frames(spec, FrameKernels(cuda_on_cpu), HostMemory(), 1)
    fs = _frameset(Intrinsics(424, 240, 211.5, 211.5, 211.75, 119.75), 1, "cam")
    with pytest.raises(ValueError, match="does not fit a model of batch 1"):
        frames.infer([fs, fs])


def test_a_library_without_the_frame_kernels_offers_none(tmp_path) -> None:  # noqa: ANN001
    import shutil
    import subprocess

    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler (g++) to build a library")
    (tmp_path / "other.cpp").write_text('extern "C" int ms_align_depth() { return 0; }\n')
    lib = tmp_path / "libother.so"
    subprocess.run([cxx, "-shared", "-fPIC", str(tmp_path / "other.cpp"), "-o", str(lib)], check=True)
    assert FrameKernels.load(lib) is None


class DeviceBackend:
    """The TensorRT backend's shape on the CPU: ONNX Runtime runs the model on input tensors that only the
    frame kernels (on the stand-in) write."""

    name, concurrent = "tensorrt", False
    memory: type[HostMemory] = HostMemory

    def __init__(self, bundle: Bundle, kernels: FrameKernels) -> None:
        self.ort = OnnxRuntimeBackend(bundle, threads=1)
        self.kernels, self.batch = kernels, bundle.batch
        self.offered = 0

    def __enter__(self) -> DeviceBackend:
        self.ort.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.ort.__exit__(exc_type, exc, tb)

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.ort.infer(feed)

    def device_frames(self, spec: InputSpec) -> DeviceFrames:
        self.offered += 1
        inputs, out = Inputs(spec, self.batch), {}
        return DeviceFrames(
            spec,
            self.kernels,
            self.memory(),
            inputs.rgb.ctypes.data,
            inputs.depth.ctypes.data,
            self.batch,
            engine=lambda: out.update(self.ort.infer({"rgb": inputs.rgb, "depth": inputs.depth})),
            outputs=lambda: out,
        )


@pytest.fixture
def device_backend(tiny_bundle: Bundle, cuda_on_cpu: ctypes.CDLL) -> DeviceBackend:  # noqa: F811
    cuda_on_cpu.cuda_cpu_configure(166912, 0, 0)
    return DeviceBackend(tiny_bundle, FrameKernels(cuda_on_cpu))


def _source() -> SyntheticSource:
    return SyntheticSource(frames=6, seed=9, color=(160, 120), real_time=False, motion="object")


def test_a_stream_prepares_on_the_device_by_itself_and_gives_the_cpu_paths_results(
    tiny_bundle: Bundle, device_backend: DeviceBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mutualsense.open(tiny_bundle, source=_source(), threads=1) as stream:
        reference = list(stream)
    assert stream.device is None
    backend = device_backend
    monkeypatch.setattr(pipeline_stream, "open_backend", lambda *a, **kw: backend)
    with _source() as source:
        first = source.read(1000)
    assert first is not None
    with mutualsense.open(tiny_bundle, source=_source(), backend="tensorrt") as stream:
        on_device = list(stream)
        assert stream.device is not None and backend.offered == 1
        single = stream.process(first)  # in the calling thread: the same device path
    assert stream.stats.processed == stream.stats.produced == 6
    assert len(on_device) == len(reference) == 6
    for a, b in zip(reference, on_device, strict=True):
        np.testing.assert_array_equal(a.model_saliency, b.model_saliency)
        assert a.objects == b.objects
        assert b.latency_ms["align"] >= 0 and b.latency_ms["preprocess"] >= 0
    assert any(r.objects for r in on_device)
    np.testing.assert_array_equal(single.model_saliency, reference[0].model_saliency)
    with mutualsense.open(tiny_bundle, source=_source(), backend="tensorrt", gpu_prepare=False) as stream:
        cpu = list(stream)
    assert stream.device is None and backend.offered == 1
    np.testing.assert_array_equal(cpu[-1].model_saliency, reference[-1].model_saliency)


def test_gpu_prepare_true_is_refused_where_the_backend_cannot(tiny_bundle: Bundle) -> None:
    stream = mutualsense.open(tiny_bundle, source=_source(), threads=1, gpu_prepare=True)
    with pytest.raises(MutualSenseError, match="cannot align and preprocess on the GPU") as err:
        stream.__enter__()
    assert "leave gpu_prepare out" in str(err.value)
    assert not stream._open and not stream._threads


class CorruptingMemory(HostMemory):
    """Uploads that flip one raw depth value: what a wrong size or offset would do to a frame."""

    def upload(self, dst: int, src: np.ndarray) -> None:
        if src.dtype == np.uint16 and src.ndim == 2:
            src = src.copy()
            src[src.shape[0] // 2, src.shape[1] // 2 :] = 700
        super().upload(dst, src)


def test_doctor_target_proves_the_gpu_frames_against_the_cpu_path(
    tiny_bundle: Bundle, device_backend: DeviceBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = device_backend
    limit = TOLERANCE[tiny_bundle.precision]
    with backend, OnnxRuntimeBackend(tiny_bundle, threads=1) as ort:
        good = check_device_frames(backend, ort, tiny_bundle, limit)
        monkeypatch.setattr(backend, "memory", CorruptingMemory)
        bad = check_device_frames(backend, ort, tiny_bundle, limit)
        monkeypatch.setattr(backend, "device_frames", lambda spec: None)
        missing = check_device_frames(backend, ort, tiny_bundle, limit)
    assert good.ok is True and "0 of" in good.detail, good.detail
    assert bad.ok is False and " 0 of" not in bad.detail, bad.detail
    assert missing.ok is False and "lacks the frame kernels" in missing.detail


def test_the_profile_says_where_frames_were_prepared(
    tiny_bundle: Bundle, device_backend: DeviceBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mutualsense.profiling import profile_pipeline

    backend = device_backend
    monkeypatch.setattr(pipeline_stream, "open_backend", lambda *a, **kw: backend)
    notes = {}
    for wanted in (None, False):
        report = profile_pipeline(tiny_bundle, _source(), frames=3, warmup=1, backend="tensorrt", gpu_prepare=wanted)
        notes[wanted] = " ".join(report.notes)
    assert "ran on the GPU" in notes[None] and "ran on the GPU" not in notes[False]
    assert backend.offered == 1, "--cpu-prepare never asks the backend for its frame kernels"
