"""Build the CDA kernels on their own, for the kernel tests and the GPU benchmark (not the plugin).

- :func:`build_host_library`: the CPU (float32) build of the kernel arithmetic, ``g++ -shared``;
- :func:`compile_kernels`: ``nvcc -c`` of the CUDA kernels for one architecture (a compile check);
- :func:`build_kernel_library`: the CUDA kernels alone as a shared library (their C ABI, no TensorRT),
  for GPU tests through ctypes.

The TensorRT plugin itself (``libmutualsense_cda.so``) is built by the runtime's TensorRT wing,
:func:`mutualsense.tensorrt.plugin_build.build_plugin`, which the target needs without this toolchain;
the tool finders come from there and are re-exported here for the kernel tests.

The C ABI (see ``export/plugin/cda_kernels.cu``): ``cda_forward_f32`` / ``cda_forward_f16`` (device
pointers, a stream) and ``cda_workspace_bytes(B, H, N)`` = 2·B·H·N·N·4 bytes; the host library exports
``cda_forward_host`` (same arguments, host pointers, no stream) and ``cda_workspace_bytes``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mutualsense.errors import PluginError
from mutualsense.tensorrt.plugin_build import (
    check_arch,
    find_cmake,
    find_nvcc,
    find_tensorrt,
    nvcc_architectures,
    plugin_sources,
    require_nvcc,
    run_tool,
)

__all__ = [
    "HOST_LIBRARY_NAME",
    "build_host_library",
    "build_kernel_library",
    "compile_kernels",
    "find_cmake",
    "find_nvcc",
    "find_tensorrt",
    "nvcc_architectures",
    "plugin_sources",
]

HOST_LIBRARY_NAME = "libmutualsense_cda_host.so"


def compile_kernels(arch: str, out_dir: str | os.PathLike[str]) -> Path:
    """``nvcc -c`` the CUDA kernels for one architecture (``"87"``, ``"sm_90"``); returns the object file."""
    nvcc = require_nvcc()
    arch = check_arch(nvcc, arch)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    obj = out / f"cda_kernels_sm{arch}.o"
    src = plugin_sources() / "cda_kernels.cu"
    cmd = [nvcc, "-std=c++17", "-O3", "-c", f"-gencode=arch=compute_{arch},code=sm_{arch}", str(src), "-o", str(obj)]
    run_tool(cmd, f"compiling the CDA kernels for sm_{arch}", "see the compiler output above.")
    return obj


def build_kernel_library(out_dir: str | os.PathLike[str], arch: str) -> Path:
    """The CUDA kernels alone as a shared library (C ABI of cda_kernels.cu, no TensorRT), for ctypes.

    Compiled for ``sm_<arch>`` with PTX embedded, so a newer GPU can JIT it.
    """
    nvcc = require_nvcc()
    arch = check_arch(nvcc, arch)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lib = out / f"libmutualsense_cda_kernels_sm{arch}.so"
    src = plugin_sources() / "cda_kernels.cu"
    cmd = [
        nvcc,
        "-std=c++17",
        "-O3",
        "-shared",
        "-Xcompiler",
        "-fPIC",
        f"-gencode=arch=compute_{arch},code=[sm_{arch},compute_{arch}]",
        str(src),
        "-o",
        str(lib),
    ]
    run_tool(cmd, f"building the CDA kernel library for sm_{arch}", "see the compiler output above.")
    return lib


def build_host_library(out_dir: str | os.PathLike[str]) -> Path:
    """The CPU build of the kernel arithmetic (``cda_host.cpp``) as a shared library; returns its path."""
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise PluginError("no C++ compiler (g++) was found.", "install one: sudo apt install g++.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lib = out / HOST_LIBRARY_NAME
    src = plugin_sources() / "cda_host.cpp"
    cmd = [cxx, "-std=c++17", "-O2", "-shared", "-fPIC", f"-I{plugin_sources()}", str(src), "-o", str(lib)]
    run_tool(cmd, "building the CDA host library", "see the compiler output above.")
    return lib
