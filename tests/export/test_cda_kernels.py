"""The CDA kernels and TensorRT plugin sources (export/plugin/): compile, CPU build vs torch, GPU vs torch, CMake.

- nvcc compiles the kernels (device code) for Orin (sm_87) and the newer targets this nvcc knows;
- the CPU build of the same tile functions (g++ → .so via ctypes) matches the PyTorch reference;
- on a machine with a CUDA GPU (cupy, or torch with CUDA) the kernels themselves match it, fp32 and fp16;
- the CMake project and ``build_plugin`` refuse clearly, before any work, where TensorRT is absent.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mutualsense.errors import PluginError
from mutualsense.export import plugin_build as pb
from mutualsense.gpu import gpu_info

NVCC = pb.find_nvcc()
NVCC_ARCHS = pb.nvcc_architectures(NVCC) if NVCC else []
CMAKE = pb.find_cmake()

SHAPES = [(1, 2, 16, 8), (2, 4, 100, 16), (1, 8, 484, 32)]

_PTR = ctypes.c_void_p
_CDA_ARGS = [_PTR] * 11 + [ctypes.c_int] * 4 + [ctypes.c_float] * 2


def _inputs(shape: tuple[int, int, int, int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.ascontiguousarray(rng.standard_normal(shape, dtype=np.float32)) for _ in range(6)]


def _torch_reference(ins: list[np.ndarray], alpha: float, scale: float) -> list[np.ndarray]:
    torch = pytest.importorskip("torch")
    from mutualsense.export.model.cda import cross_diffusion_attention

    with torch.no_grad():
        outs = cross_diffusion_attention(*(torch.from_numpy(a) for a in ins), alpha=alpha, scale=scale)
    return [o.numpy() for o in outs]


def _max_errors(got: list[np.ndarray], want: list[np.ndarray]) -> list[float]:
    return [float(np.abs(g.astype(np.float64) - w.astype(np.float64)).max()) for g, w in zip(got, want, strict=True)]


# ---- (1) nvcc compiles the kernels ---------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["87", "89", "90", "110"])
def test_nvcc_compiles_kernels(arch: str, tmp_path: Path) -> None:
    if NVCC is None:
        pytest.skip("nvcc not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin): cannot compile the CUDA kernels")
    if arch != "87" and arch not in NVCC_ARCHS:
        pytest.skip(f"this nvcc does not list compute_{arch} in --list-gpu-arch")
    obj = pb.compile_kernels(arch, tmp_path)  # sm_87 (Orin) is required whenever nvcc exists
    assert obj.is_file() and obj.stat().st_size > 10_000


# ---- (2) the CPU build of the tile functions vs torch --------------------------------------------------


@pytest.fixture(scope="module")
def host_lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    try:
        path = pb.build_host_library(tmp_path_factory.mktemp("cda_host"))
    except PluginError as exc:
        pytest.skip(f"cannot build the host library: {exc}")
    lib = ctypes.CDLL(str(path))
    lib.cda_forward_host.restype = ctypes.c_int
    lib.cda_forward_host.argtypes = _CDA_ARGS
    lib.cda_workspace_bytes.restype = ctypes.c_size_t
    lib.cda_workspace_bytes.argtypes = [ctypes.c_int] * 3
    return lib


def _run_host(lib: ctypes.CDLL, ins: list[np.ndarray], alpha: float, scale: float) -> tuple[list[np.ndarray], Any]:
    B, H, N, d = ins[0].shape
    outs = [np.full_like(ins[0], np.nan) for _ in range(4)]
    workspace = np.empty(lib.cda_workspace_bytes(B, H, N) // 4, np.float32)
    rc = lib.cda_forward_host(*(a.ctypes.data for a in [*ins, *outs, workspace]), B, H, N, d, alpha, scale)
    assert rc == 0
    return outs, workspace


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_host_build_matches_torch(host_lib: ctypes.CDLL, shape: tuple[int, int, int, int]) -> None:
    ins = _inputs(shape)
    scale = shape[-1] ** -0.5
    got, _ = _run_host(host_lib, ins, 0.6, scale)
    errors = _max_errors(got, _torch_reference(ins, 0.6, scale))
    assert np.max(errors) <= 1e-4, f"max abs error per output (o_r, o_d, o_rd, o_dr): {errors}"


def test_host_build_other_alpha_scale_and_workspace(host_lib: ctypes.CDLL) -> None:
    ins = _inputs((1, 3, 37, 12), seed=1)
    got, workspace = _run_host(host_lib, ins, 0.3, 0.2)
    assert np.max(_max_errors(got, _torch_reference(ins, 0.3, 0.2))) <= 1e-4
    # the workspace holds A_r for every (b, h), then A_d: row-stochastic N×N maps
    maps = workspace.reshape(2, 1, 3, 37, 37)
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
    logits = ins[0] @ np.swapaxes(ins[1], -1, -2) * 0.2
    a_r = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(maps[0], a_r / a_r.sum(-1, keepdims=True), atol=1e-6)
    assert host_lib.cda_forward_host(*([None] * 11), 1, 1, 4, 4, 0.6, 0.5) == -1  # null pointers refused


# ---- (3) the CUDA kernels on a GPU vs torch ------------------------------------------------------------


class _Device:
    """Device memory through cupy (preferred) or torch with CUDA: enough to call the C ABI via ctypes."""

    def __init__(self) -> None:
        self.kind = ""
        self.cc = ""
        reasons: list[str] = []
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                self.kind, self.cc, self._cp = "cupy", str(cupy.cuda.Device(0).compute_capability), cupy
                return
            reasons.append("cupy sees no CUDA device")
        except Exception as exc:  # ImportError, or CUDARuntimeError without a driver
            reasons.append(f"cupy unusable ({type(exc).__name__}: {exc})")
        try:
            import torch

            if torch.cuda.is_available():
                major, minor = torch.cuda.get_device_capability(0)
                self.kind, self.cc, self._torch = "torch", f"{major}{minor}", torch
                return
            reasons.append("torch has no CUDA device")
        except ImportError:
            reasons.append("torch not installed")
        self.reason = "; ".join(reasons)

    def to_device(self, a: np.ndarray) -> Any:
        return self._cp.asarray(a) if self.kind == "cupy" else self._torch.from_numpy(a).cuda()

    def empty(self, shape: tuple[int, ...], dtype: Any) -> Any:
        if self.kind == "cupy":
            return self._cp.full(shape, np.nan, dtype=dtype)
        return self._torch.full(shape, float("nan"), dtype=getattr(self._torch, np.dtype(dtype).name), device="cuda")

    def ptr(self, x: Any) -> int:
        return int(x.data.ptr) if self.kind == "cupy" else int(x.data_ptr())

    def to_host(self, x: Any) -> np.ndarray:
        return self._cp.asnumpy(x) if self.kind == "cupy" else x.cpu().numpy()

    def synchronize(self) -> None:
        if self.kind == "cupy":
            self._cp.cuda.runtime.deviceSynchronize()
        else:
            self._torch.cuda.synchronize()


def _kernel_arch(cc: str) -> str:
    """The device's architecture if nvcc knows it, else the newest older one (its PTX is JIT-compiled)."""
    if cc in NVCC_ARCHS:
        return cc
    older = [a for a in NVCC_ARCHS if a.isdigit() and int(a) <= int(cc)]
    if not older:
        pytest.skip(f"nvcc lists no architecture at or below the GPU's sm_{cc}")
    return max(older, key=int)


@pytest.fixture(scope="module")
def gpu(tmp_path_factory: pytest.TempPathFactory) -> tuple[_Device, ctypes.CDLL]:
    dev = _Device()
    if not dev.kind:
        pytest.skip(f"no CUDA GPU / cupy: {dev.reason}")
    if NVCC is None:
        pytest.skip("no nvcc: the kernels cannot be compiled for the GPU test")
    lib = ctypes.CDLL(str(pb.build_kernel_library(tmp_path_factory.mktemp("cda_gpu"), _kernel_arch(dev.cc))))
    for name in ("cda_forward_f32", "cda_forward_f16"):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [*_CDA_ARGS, _PTR]
    lib.cda_workspace_bytes.restype = ctypes.c_size_t
    lib.cda_workspace_bytes.argtypes = [ctypes.c_int] * 3
    return dev, lib


GPU_SHAPES = [*SHAPES, (1, 2, 37, 48), (2, 1, 1, 4), (1, 1, 8192, 16)]  # odd sizes, d > 32, N = 1, R = 1 fallback


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("shape", GPU_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_gpu_kernels_match_torch(
    gpu: tuple[_Device, ctypes.CDLL], shape: tuple[int, int, int, int], dtype: str
) -> None:
    dev, lib = gpu
    B, H, N, d = shape
    scale = d**-0.5
    ins = _inputs(shape, seed=2)
    if dtype == "float16":
        ins = [a.astype(np.float16) for a in ins]
    d_ins = [dev.to_device(a) for a in ins]
    d_outs = [dev.empty(shape, ins[0].dtype) for _ in range(4)]
    workspace = dev.empty((lib.cda_workspace_bytes(B, H, N) // 4,), np.float32)
    forward = lib.cda_forward_f32 if dtype == "float32" else lib.cda_forward_f16
    rc = forward(*(dev.ptr(x) for x in [*d_ins, *d_outs, workspace]), B, H, N, d, 0.6, scale, None)
    dev.synchronize()
    assert rc == 0, f"cda_forward_{dtype} returned {rc}"
    got = [dev.to_host(x).astype(np.float32) for x in d_outs]
    want = _torch_reference([a.astype(np.float32) for a in ins], 0.6, scale)  # fp32 on the same (rounded) inputs
    errors = _max_errors(got, want)
    tol = 1e-4 if dtype == "float32" else 1e-2
    assert np.max(errors) <= tol, f"{dtype} max abs error per output (o_r, o_d, o_rd, o_dr): {errors}"


# ---- the kernels' C ABI, loadable anywhere --------------------------------------------------------------


def test_kernel_library_abi(tmp_path: Path) -> None:
    if NVCC is None:
        pytest.skip("nvcc not found: cannot build the kernel library")
    lib = ctypes.CDLL(str(pb.build_kernel_library(tmp_path, "87")))
    lib.cda_workspace_bytes.restype = ctypes.c_size_t
    lib.cda_workspace_bytes.argtypes = [ctypes.c_int] * 3
    assert lib.cda_workspace_bytes(1, 8, 1024) == 2 * 8 * 1024 * 1024 * 4
    fn = lib.cda_forward_f32
    fn.restype = ctypes.c_int
    fn.argtypes = [*_CDA_ARGS, _PTR]
    buf = np.zeros(64, np.float32)
    ptrs = [buf.ctypes.data] * 11
    assert fn(*ptrs, 1, 1, 0, 4, 0.6, 0.5, None) == -1  # invalid sizes are refused before any CUDA call
    assert fn(*ptrs[:10], None, 1, 1, 4, 4, 0.6, 0.5, None) == -1  # so is a missing workspace
    if gpu_info() is None:  # no GPU here: the launch reports a CUDA error code instead of crashing
        assert fn(*ptrs, 1, 1, 4, 4, 0.6, 0.5, None) > 0


# ---- (4) the plugin sources: CMake and build_plugin refuse clearly without TensorRT --------------------


def _cmake_configure(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TensorRT_ROOT", "TENSORRT_ROOT")}
    cmd = [str(CMAKE), "-S", str(pb.plugin_sources()), "-B", str(tmp_path / "build"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.mark.skipif(CMAKE is None, reason="cmake not found")
def test_cmake_fails_clearly_without_tensorrt(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = _cmake_configure(tmp_path, f"-DTensorRT_ROOT={tmp_path / 'empty'}")
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode != 0
    assert "TensorRT headers (NvInfer.h) not found in TensorRT_ROOT=" in text
    assert "JetPack >= 6" in text and "-DTensorRT_ROOT=" in text
    assert "CUDA compiler identification" not in text  # refused before CUDA is even looked at


@pytest.mark.skipif(CMAKE is None, reason="cmake not found")
@pytest.mark.skipif(pb.find_tensorrt() is not None, reason="TensorRT is installed: the refusal does not apply")
def test_cmake_default_search_fails_clearly(tmp_path: Path) -> None:
    out = _cmake_configure(tmp_path)
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode != 0 and "TensorRT headers (NvInfer.h) not found" in text and "JetPack >= 6" in text


def _refused(out: Path, exc: pytest.ExceptionInfo[PluginError]) -> str:
    assert not out.exists(), "build_plugin did work before refusing"
    return f"{exc.value.what} {exc.value.remedy}"


def test_build_plugin_refuses_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    cases: list[tuple[dict[str, Callable[[], Any]], str]] = [
        ({"find_cmake": lambda: None}, "cmake was not found"),
        ({"find_cmake": lambda: "/usr/bin/cmake", "find_nvcc": lambda: None}, "nvcc (the CUDA compiler)"),
        (
            {
                "find_cmake": lambda: "/usr/bin/cmake",
                "find_nvcc": lambda: "/usr/bin/nvcc",
                "find_tensorrt": lambda: None,
            },
            "TensorRT headers not found",
        ),
    ]
    for patches, message in cases:
        with monkeypatch.context() as m:
            for name, fn in patches.items():
                m.setattr(pb, name, fn)
            with pytest.raises(PluginError) as exc:
                pb.build_plugin(out)
            text = _refused(out, exc)
            assert message in text
            if "TensorRT" in message:
                assert "JetPack >= 6" in text and "TensorRT_ROOT" in text


@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
def test_build_plugin_refuses_unknown_arch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pb, "find_cmake", lambda: "/usr/bin/cmake")
    monkeypatch.setattr(pb, "find_tensorrt", lambda: (tmp_path, tmp_path))
    out = tmp_path / "out"
    with pytest.raises(PluginError) as exc:
        pb.build_plugin(out, "12")
    assert "cannot compile for sm_12" in _refused(out, exc)


@pytest.mark.tensorrt
@pytest.mark.slow
@pytest.mark.skipif(pb.find_tensorrt() is None, reason="TensorRT headers not found")
@pytest.mark.skipif(CMAKE is None or NVCC is None, reason="cmake or nvcc not found")
def test_build_plugin_for_real(tmp_path: Path) -> None:
    lib = pb.build_plugin(tmp_path)
    assert lib.name == pb.PLUGIN_LIBRARY_NAME and lib.is_file()
    handle = ctypes.CDLL(str(lib))
    assert hasattr(handle, "getCreators") and hasattr(handle, "setLoggerFinder")


def _signatures(text: str) -> dict[str, str]:
    """C ABI signatures (name → whitespace-free parameter list) declared or defined in a source text."""
    found = re.findall(r"\b(?:int|size_t)\s+(cda_\w+)\s*\(([^)]*)\)", text)
    return {name: re.sub(r"\s+", "", params) for name, params in found}


def test_plugin_sources_agree_with_the_node_contract() -> None:
    from mutualsense.export.cda_onnx import CDA_ATTRIBUTES, CDA_OP, CDA_VERSION

    src = pb.plugin_sources()
    header = (src / "cda_plugin.h").read_text()
    plugin = (src / "cda_plugin.cpp").read_text()
    kernels = (src / "cda_kernels.cu").read_text()
    assert f'kCdaPluginName = "{CDA_OP}"' in header
    assert f'kCdaPluginVersion = "{CDA_VERSION}"' in header and 'kCdaPluginNamespace = ""' in header
    for field in ("alpha", "scale"):
        assert field in CDA_ATTRIBUTES
        assert f'mFieldNames.emplace_back("{field}", nullptr, nvinfer1::PluginFieldType::kFLOAT32, 1)' in plugin
    # the loadLibrary entry points, with the signatures TensorRT looks up
    assert "CDA_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators)" in plugin
    assert "CDA_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder)" in plugin
    assert '#define CDA_EXPORT extern "C" __attribute__((visibility("default")))' in plugin
    # the plugin declares the kernels' C ABI exactly as cda_kernels.cu defines it
    declared, defined = _signatures(header), _signatures(kernels)
    for name in ("cda_workspace_bytes", "cda_forward_f32", "cda_forward_f16"):
        assert declared[name] == defined[name], name
    for name in ("IPluginV3OneCore", "IPluginV3OneBuild", "IPluginV3OneRuntime", "IPluginCreatorV3One"):
        assert f"nvinfer1::{name}" in header
