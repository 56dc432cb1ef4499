"""Build the CDA kernels and the TensorRT plugin from the sources shipped in ``export/plugin/``.

Torch-free: this runs on the target (a Jetson with JetPack >= 6), where ``mutualsense build-plugin``
compiles ``libmutualsense_cda.so`` with CMake, nvcc and the TensorRT headers. The same module builds the
pieces the tests and the benchmark need on any machine:

- :func:`build_host_library`: the CPU (float32) build of the kernel arithmetic, ``g++ -shared``;
- :func:`compile_kernels`: ``nvcc -c`` of the CUDA kernels for one architecture (a compile check);
- :func:`build_kernel_library`: the CUDA kernels alone as a shared library (their C ABI, no TensorRT),
  for GPU tests through ctypes.

The C ABI (see ``export/plugin/cda_kernels.cu``): ``cda_forward_f32`` / ``cda_forward_f16`` (device
pointers, a stream) and ``cda_workspace_bytes(B, H, N)`` = 2·B·H·N·N·4 bytes; the host library exports
``cda_forward_host`` (same arguments, host pointers, no stream) and ``cda_workspace_bytes``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from mutualsense.errors import PluginError

__all__ = [
    "DEFAULT_CUDA_ARCH",
    "HOST_LIBRARY_NAME",
    "PLUGIN_LIBRARY_NAME",
    "build_host_library",
    "build_kernel_library",
    "build_plugin",
    "compile_kernels",
    "find_cmake",
    "find_nvcc",
    "find_tensorrt",
    "nvcc_architectures",
    "plugin_sources",
]

PLUGIN_LIBRARY_NAME = "libmutualsense_cda.so"
HOST_LIBRARY_NAME = "libmutualsense_cda_host.so"
DEFAULT_CUDA_ARCH = "87"  # Jetson Orin

_SOURCES = Path(__file__).parent / "plugin"
_ROOT_VARIABLES = ("TensorRT_ROOT", "TENSORRT_ROOT")  # CMake's spelling first
_JETPACK_HINT = "run it on the Jetson with JetPack >= 6"

# (include dir, lib dir) pairs searched for TensorRT when TensorRT_ROOT is not set: JetPack / Debian packages.
_TENSORRT_LOCATIONS = (
    ("/usr/include/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"),
    ("/usr/include/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"),
    ("/usr/include", "/usr/lib"),
    ("/usr/local/include", "/usr/local/lib"),
)


def plugin_sources() -> Path:
    """The folder of the plugin's C++/CUDA sources and its CMakeLists.txt (package data)."""
    return _SOURCES


def find_nvcc() -> str | None:
    """nvcc from $CUDACXX, PATH, $CUDA_HOME/bin or /usr/local/cuda/bin (where JetPack puts it), else None."""
    candidates = [os.environ.get("CUDACXX"), shutil.which("nvcc")]
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home:
            candidates.append(str(Path(home) / "bin" / "nvcc"))
    for path in candidates:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return path
    return None


def find_cmake() -> str | None:
    """cmake on PATH, else None."""
    return shutil.which("cmake")


def nvcc_architectures(nvcc: str | os.PathLike[str]) -> list[str]:
    """The virtual architectures ``nvcc --list-gpu-arch`` lists, as numbers: ``["75", "80", ..., "121"]``."""
    out = subprocess.run([str(nvcc), "--list-gpu-arch"], capture_output=True, text=True, timeout=60, check=False)
    if out.returncode != 0:
        raise PluginError(
            f"`{nvcc} --list-gpu-arch` failed: {out.stderr.strip() or out.stdout.strip()}",
            "use CUDA 11.x or newer (JetPack >= 6 ships CUDA 12.6).",
        )
    return re.findall(r"compute_(\w+)", out.stdout)


def _run(cmd: list[str], what: str, remedy: str, cwd: Path | None = None, timeout: float = 1800) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False)
    if out.returncode != 0:
        log = (out.stderr + out.stdout).strip()
        tail = "\n".join(log.splitlines()[-25:])
        raise PluginError(f"{what} failed (exit {out.returncode}): {' '.join(cmd)}\n{tail}", remedy)


def _require_nvcc() -> str:
    nvcc = find_nvcc()
    if nvcc is None:
        raise PluginError(
            "nvcc (the CUDA compiler) was not found on PATH, in $CUDA_HOME/bin or /usr/local/cuda/bin.",
            "install the CUDA toolkit (on a Jetson it comes with JetPack: sudo apt install nvidia-jetpack) "
            "or set CUDACXX=/path/to/nvcc.",
        )
    return nvcc


def _check_arch(nvcc: str, arch: str) -> str:
    arch = arch.removeprefix("sm_").removeprefix("compute_").replace(".", "")
    known = nvcc_architectures(nvcc)
    if arch not in known:
        raise PluginError(
            f"this nvcc ({nvcc}) cannot compile for sm_{arch}; it knows {', '.join(known)}.",
            "pick one of those (87 for Jetson Orin), or use a newer CUDA toolkit.",
        )
    return arch


def compile_kernels(arch: str, out_dir: str | os.PathLike[str]) -> Path:
    """``nvcc -c`` the CUDA kernels for one architecture (``"87"``, ``"sm_90"``); returns the object file."""
    nvcc = _require_nvcc()
    arch = _check_arch(nvcc, arch)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    obj = out / f"cda_kernels_sm{arch}.o"
    src = _SOURCES / "cda_kernels.cu"
    cmd = [nvcc, "-std=c++17", "-O3", "-c", f"-gencode=arch=compute_{arch},code=sm_{arch}", str(src), "-o", str(obj)]
    _run(cmd, f"compiling the CDA kernels for sm_{arch}", "see the compiler output above.")
    return obj


def build_kernel_library(out_dir: str | os.PathLike[str], arch: str) -> Path:
    """The CUDA kernels alone as a shared library (C ABI of cda_kernels.cu, no TensorRT), for ctypes.

    Compiled for ``sm_<arch>`` with PTX embedded, so a newer GPU can JIT it.
    """
    nvcc = _require_nvcc()
    arch = _check_arch(nvcc, arch)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lib = out / f"libmutualsense_cda_kernels_sm{arch}.so"
    src = _SOURCES / "cda_kernels.cu"
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
    _run(cmd, f"building the CDA kernel library for sm_{arch}", "see the compiler output above.")
    return lib


def build_host_library(out_dir: str | os.PathLike[str]) -> Path:
    """The CPU build of the kernel arithmetic (``cda_host.cpp``) as a shared library; returns its path."""
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise PluginError("no C++ compiler (g++) was found.", "install one: sudo apt install g++.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lib = out / HOST_LIBRARY_NAME
    src = _SOURCES / "cda_host.cpp"
    cmd = [cxx, "-std=c++17", "-O2", "-shared", "-fPIC", f"-I{_SOURCES}", str(src), "-o", str(lib)]
    _run(cmd, "building the CDA host library", "see the compiler output above.")
    return lib


def _tensorrt_root() -> str | None:
    return next((os.environ[v] for v in _ROOT_VARIABLES if os.environ.get(v)), None)


def _tensorrt_lib_present(lib_dir: Path) -> bool:
    return any(lib_dir.glob("libnvinfer.so*"))


def find_tensorrt() -> tuple[Path, Path] | None:
    """(include dir with NvInfer.h, lib dir with libnvinfer.so) of a TensorRT install, or None.

    ``$TensorRT_ROOT`` (or ``$TENSORRT_ROOT``), when set, is the only place looked at (its ``include`` and
    ``lib``/``lib64``); otherwise the JetPack / Debian-package locations (as the CMake project does).
    """
    root = _tensorrt_root()
    if root:
        inc = Path(root) / "include"
        if (inc / "NvInfer.h").is_file():
            for lib in (Path(root) / "lib", Path(root) / "lib64"):
                if _tensorrt_lib_present(lib):
                    return inc, lib
        return None
    for inc_dir, lib_dir in _TENSORRT_LOCATIONS:
        inc, lib = Path(inc_dir), Path(lib_dir)
        if (inc / "NvInfer.h").is_file() and _tensorrt_lib_present(lib):
            return inc, lib
    return None


def _default_arch() -> str:
    """This machine's GPU architecture (``"87"`` on Orin), else the Orin default."""
    from mutualsense.gpu import gpu_info

    info = gpu_info()
    return info.compute_capability.replace(".", "") if info else DEFAULT_CUDA_ARCH


def build_plugin(out_dir: str | os.PathLike[str], cuda_arch: str | None = None) -> Path:
    """Configure and build ``libmutualsense_cda.so`` with CMake into ``out_dir``; returns the library's path.

    Args:
        out_dir: where the library goes (the CMake build tree is ``out_dir/cda-build``).
        cuda_arch: GPU architecture such as ``"87"`` (Orin); default: this machine's GPU, else 87.

    Raises:
        PluginError: before any work when cmake, nvcc or the TensorRT headers/library are missing or the
            architecture is unknown to nvcc; after, when the build fails (with the compiler's last lines).
    """
    cmake = find_cmake()
    if cmake is None:
        raise PluginError(
            "cmake was not found on PATH; it is needed to build the CDA TensorRT plugin.",
            "install it (sudo apt install cmake, version >= 3.18) and run again.",
        )
    nvcc = _require_nvcc()
    trt = find_tensorrt()
    if trt is None:
        root = _tensorrt_root()
        where = f"in TensorRT_ROOT={root}" if root else "in " + ", ".join(i for i, _ in _TENSORRT_LOCATIONS)
        raise PluginError(
            f"TensorRT headers not found (NvInfer.h and libnvinfer.so {where}).",
            f"{_JETPACK_HINT} (sudo apt install nvidia-jetpack provides them), "
            "or set TensorRT_ROOT to a TensorRT install with include/ and lib/.",
        )
    arch = _check_arch(nvcc, cuda_arch or _default_arch())
    include_dir, lib_dir = trt

    out = Path(out_dir)
    build = out / "cda-build"
    build.mkdir(parents=True, exist_ok=True)
    library = next((p for p in sorted(lib_dir.glob("libnvinfer.so*")) if p.name == "libnvinfer.so"), None)
    library = library or sorted(lib_dir.glob("libnvinfer.so*"))[0]
    configure = [
        cmake,
        "-S",
        str(_SOURCES),
        "-B",
        str(build),
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_CUDA_ARCHITECTURES={arch}",
        f"-DCMAKE_CUDA_COMPILER={nvcc}",
        f"-DTensorRT_INCLUDE_DIR={include_dir}",
        f"-DTensorRT_LIBRARY={library}",
    ]
    _run(configure, "configuring the CDA plugin (cmake)", "read the CMake message above.")
    jobs = str(max(1, min(4, os.cpu_count() or 1)))
    _run([cmake, "--build", str(build), "-j", jobs], "building the CDA plugin", "read the compiler output above.")
    built = build / PLUGIN_LIBRARY_NAME
    if not built.is_file():
        raise PluginError(f"the build finished but {built} is missing.", "rebuild from a clean --out folder.")
    target = out / PLUGIN_LIBRARY_NAME
    tmp = out / (PLUGIN_LIBRARY_NAME + ".tmp")
    shutil.copy2(built, tmp)
    os.replace(tmp, target)
    return target
