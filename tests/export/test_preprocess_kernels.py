"""Frame preparation on the GPU (export/plugin/preprocess_kernels.cu) against the CPU path it replaces.

- nvcc compiles the kernels for Orin (sm_87) and the newer targets this nvcc knows;
- the CPU build of the same per-pixel functions (frame_math.h via preprocess_host.cpp, g++ → ctypes)
  gives the runtime's aligned depth, depth tensor and colour tensor exactly (cv2's fixed-point
  bilinear resize reproduced to the bit);
- the .cu itself, unmodified, runs on the CPU through the CUDA-on-CPU stand-in (tests/export/cuda_on_cpu,
  every CUDA thread a fibre) and gives the same, under forward, reverse and shuffled thread orders;
- on a machine with a CUDA GPU and cupy, the kernels themselves give the same.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mutualsense.align import DepthAligner
from mutualsense.export import plugin_build as pb
from mutualsense.preprocess import InputSpec, depth_table, preprocess_depth, preprocess_rgb, rgb_table
from mutualsense.sources.frameset import Extrinsics, Intrinsics
from mutualsense.tensorrt.device_frames import AlignParams

SOURCES = Path(pb.__file__).parent / "plugin"
NVCC = pb.find_nvcc()
NVCC_ARCHS = pb.nvcc_architectures(NVCC) if NVCC else []
COLOR = Intrinsics(640, 480, 615.0, 615.0, 319.5, 239.5)
GEOMETRIES = {
    "d435 848x480 into 192x192": (Intrinsics(848, 480, 423.0, 423.0, 423.5, 239.5), (192, 192)),
    "424x240 into 160x224, pinholes filled": (Intrinsics(424, 240, 307.5, 307.5, 211.5, 119.5), (160, 224)),
}


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    assert a.flags.c_contiguous
    return ctypes.c_void_p(a.ctypes.data)


def _depth(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy = np.mgrid[0 : shape[0], 0 : shape[1]][0]
    depth = 1200 + 3000 * (1 - yy / shape[0]) + rng.normal(0, 30, shape)
    depth[shape[0] // 3 : shape[0] // 2, shape[1] // 4 : shape[1] // 2] = 600  # a near box
    depth[rng.random(shape) < 0.05] = 0
    depth[:3, :3] = 65535  # the largest raw value counts as "nothing landed", as on the CPU
    return depth.astype(np.uint16)


@pytest.mark.parametrize("arch", ["87", "90", "110"])
def test_nvcc_compiles_the_kernels(arch: str, tmp_path: Path) -> None:
    if NVCC is None:
        pytest.skip("nvcc not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin): cannot compile the CUDA kernels")
    if arch != "87" and arch not in NVCC_ARCHS:
        pytest.skip(f"this nvcc does not list compute_{arch} in --list-gpu-arch")
    obj = tmp_path / f"preprocess_kernels_sm{arch}.o"
    cmd = [NVCC, "-std=c++17", "-O3", "-c", f"-gencode=arch=compute_{arch},code=sm_{arch}"]
    out = subprocess.run([*cmd, str(SOURCES / "preprocess_kernels.cu"), "-o", str(obj)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    symbols = subprocess.run(["nm", str(obj)], capture_output=True, text=True).stdout if shutil.which("nm") else ""
    for name in ("ms_align_depth", "ms_prepare_rgb", "ms_prepare_depth"):
        assert not symbols or f" T {name}" in symbols


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler (g++) to build the CPU version of the kernels")
    lib = tmp_path_factory.mktemp("frame_host") / "libmutualsense_frame_host.so"
    cmd = [cxx, "-std=c++17", "-O2", "-ffp-contract=off", "-shared", "-fPIC", str(SOURCES / "preprocess_host.cpp")]
    subprocess.run([*cmd, "-o", str(lib)], check=True, capture_output=True)
    return ctypes.CDLL(str(lib))


def _align_host(host: ctypes.CDLL, aligner: DepthAligner, depth: np.ndarray, scale: float, cuda: bool = False):  # noqa: ANN202
    t = aligner.tables
    h, w = t.out_size
    params = AlignParams(*t.translation, t.fx, t.fy, t.cx, t.cy, np.float32(scale), w, h)
    zbuf, out = np.empty((h, w), np.uint32), np.empty((h, w), np.uint16)
    rays = np.ascontiguousarray(t.rays, np.float32)
    args = [_ptr(depth), depth.shape[1], t.step_x, t.step_y, _ptr(rays), rays.shape[1], rays.shape[2]]
    args += [ctypes.byref(params), int(t.fill), _ptr(zbuf), _ptr(out)]
    rc = host.ms_align_depth(*args, None) if cuda else host.ms_align_depth_host(*args)
    assert rc == 0
    return out


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_aligned_depth_and_depth_tensor_are_identical(host: ctypes.CDLL, geometry: str) -> None:
    di, grid = GEOMETRIES[geometry]
    extrinsics = Extrinsics(translation=(0.015, 0.0, 0.0))
    aligner = DepthAligner(di, COLOR, extrinsics, grid)
    spec = InputSpec(height=grid[0], width=grid[1])
    for seed, scale in ((0, 0.001), (1, 0.0001)):
        depth = _depth((di.height, di.width), seed)
        expected = aligner(depth, scale)
        got = _align_host(host, aligner, depth, scale)
        assert (expected > 0).mean() > 0.5
        np.testing.assert_array_equal(got, expected)
        table = np.ascontiguousarray(depth_table("<u2", scale, spec))
        tensor = np.empty(grid, np.float32)
        assert host.ms_prepare_depth_host(_ptr(got), got.size, _ptr(table), _ptr(tensor)) == 0
        np.testing.assert_array_equal(tensor, preprocess_depth(expected, scale, spec)[0])


@pytest.mark.parametrize("size", [(480, 640), (192, 192), (100, 150), (720, 1280), (191, 97), (37, 500)])
def test_colour_tensor_is_identical(host: ctypes.CDLL, size: tuple[int, int]) -> None:
    spec = InputSpec()
    rgb = np.random.default_rng(size[0]).integers(0, 256, (*size, 3), dtype=np.uint8)  # noise: every tie and edge
    table = np.ascontiguousarray(rgb_table(spec).reshape(3, 256))
    got = np.empty((3, spec.height, spec.width), np.float32)
    assert host.ms_prepare_rgb_host(_ptr(rgb), size[1], size[0], _ptr(table), _ptr(got), spec.width, spec.height) == 0
    np.testing.assert_array_equal(got, preprocess_rgb(rgb, spec))


@pytest.fixture(scope="module")
def gpu_kernels(tmp_path_factory: pytest.TempPathFactory) -> tuple[ctypes.CDLL, Any]:
    """The kernels built by nvcc for this machine's GPU, and cupy (skips without either)."""
    cupy = pytest.importorskip("cupy", reason="cupy (and a CUDA GPU) is needed to run the kernels themselves")
    try:
        gpus = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError:
        gpus = 0
    if NVCC is None or gpus == 0:
        pytest.skip("no CUDA GPU or no nvcc here: the kernels are checked on the CPU build and the stand-in")
    lib = tmp_path_factory.mktemp("frame_gpu") / "libmutualsense_frame.so"
    cmd = [NVCC, "-std=c++17", "-O3", "-shared", "-Xcompiler", "-fPIC", str(SOURCES / "preprocess_kernels.cu")]
    subprocess.run([*cmd, "-o", str(lib)], check=True)
    return ctypes.CDLL(str(lib)), cupy


def test_kernels_on_the_gpu_match_the_cpu_build(gpu_kernels: tuple[ctypes.CDLL, Any]) -> None:
    gpu, cupy = gpu_kernels
    di, grid = GEOMETRIES["d435 848x480 into 192x192"]
    aligner = DepthAligner(di, COLOR, Extrinsics(translation=(0.015, 0.0, 0.0)), grid)
    depth = _depth((di.height, di.width), 3)
    t = aligner.tables
    params = AlignParams(*t.translation, t.fx, t.fy, t.cx, t.cy, np.float32(0.001), grid[1], grid[0])
    d_depth, d_rays = cupy.asarray(depth), cupy.asarray(np.ascontiguousarray(t.rays, np.float32))
    d_zbuf, d_out = cupy.empty(grid, cupy.uint32), cupy.empty(grid, cupy.uint16)
    rc = gpu.ms_align_depth(
        ctypes.c_void_p(d_depth.data.ptr), di.width, t.step_x, t.step_y, ctypes.c_void_p(d_rays.data.ptr),
        t.rays.shape[1], t.rays.shape[2], ctypes.byref(params), int(t.fill), ctypes.c_void_p(d_zbuf.data.ptr),
        ctypes.c_void_p(d_out.data.ptr), ctypes.c_void_p(0),
    )  # fmt: skip
    assert rc == 0
    cupy.cuda.runtime.deviceSynchronize()
    np.testing.assert_array_equal(cupy.asnumpy(d_out), aligner(depth, 0.001))


# ---- the .cu on the CPU, through the CUDA-on-CPU stand-in -------------------------------------------------------

# What the stand-in does not provide yet and these kernels use: round-to-nearest float operations (plain
# operations with -ffp-contract=off), atomicMin (fibres switch only at barriers, so read-modify-write is
# atomic), cudaMemsetAsync (synchronous).
_STAND_IN_EXTRAS = r"""
#include "cuda_runtime.h"
#include <cstring>
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
template <typename T> T atomicMin(T* address, T value)
{
    T const old = *address;
    *address = old < value ? old : value;
    return old;
}
inline cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t)
{
    std::memset(p, value, bytes);
    return cudaSuccess;
}
"""


@pytest.fixture(scope="module")
def cuda_on_cpu(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    cxx = shutil.which("g++") or shutil.which("c++")
    try:
        from test_cda_kernels_cpu import HARNESS, cuda_to_cpp
    except ImportError:
        pytest.skip("the CUDA-on-CPU stand-in (tests/export/test_cda_kernels_cpu.py) is not importable here")
    if cxx is None:
        pytest.skip("no C++ compiler (g++) to build the kernels on the CPU")
    out = tmp_path_factory.mktemp("frame_on_cpu")
    source = SOURCES / "preprocess_kernels.cu"
    (out / "preprocess_kernels.cpu.cpp").write_text(cuda_to_cpp(source.read_text(), source))
    (out / "extras.h").write_text(_STAND_IN_EXTRAS)
    lib = out / "libframe_on_cpu.so"
    flags = ["-std=c++17", "-D__CUDACC__", "-D__CUDA_ARCH__=870", "-O2", "-fPIC", "-shared", "-ffp-contract=off"]
    flags += ["-pthread", "-I", str(HARNESS), "-I", str(SOURCES), "-include", str(out / "extras.h")]
    cmd = [cxx, *flags, str(out / "preprocess_kernels.cpu.cpp"), str(HARNESS / "cuda_on_cpu.cpp"), "-o", str(lib)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    cdll = ctypes.CDLL(str(lib))
    cdll.cuda_cpu_configure.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_uint]
    return cdll


@pytest.mark.parametrize("schedule", [0, 1, 2], ids=["forward", "reverse", "shuffled"])
def test_the_cu_file_on_the_cpu_stand_in_is_identical(cuda_on_cpu: ctypes.CDLL, schedule: int) -> None:
    cuda_on_cpu.cuda_cpu_configure(166912, schedule, 7)
    di, grid = GEOMETRIES["424x240 into 160x224, pinholes filled"]
    aligner = DepthAligner(di, COLOR, Extrinsics(translation=(0.015, 0.0, 0.0)), grid)
    spec = InputSpec(height=grid[0], width=grid[1])
    depth = _depth((di.height, di.width), 5)
    expected = aligner(depth, 0.001)
    got = _align_host(cuda_on_cpu, aligner, depth, 0.001, cuda=True)
    np.testing.assert_array_equal(got, expected)
    table = np.ascontiguousarray(depth_table("<u2", 0.001, spec))
    tensor = np.empty(grid, np.float32)
    assert cuda_on_cpu.ms_prepare_depth(_ptr(got), got.size, _ptr(table), _ptr(tensor), None) == 0
    np.testing.assert_array_equal(tensor, preprocess_depth(expected, 0.001, spec)[0])
    rgb = np.random.default_rng(schedule).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    levels = np.ascontiguousarray(rgb_table(spec).reshape(3, 256))
    colour = np.empty((3, *grid), np.float32)
    assert cuda_on_cpu.ms_prepare_rgb(_ptr(rgb), 640, 480, _ptr(levels), _ptr(colour), grid[1], grid[0], None) == 0
    np.testing.assert_array_equal(colour, preprocess_rgb(rgb, spec))
