"""Build the CDA TensorRT plugin (``libmutualsense_cda.so``) from its shipped sources, with CMake and nvcc.

Torch-free and TensorRT-import-free: ``mutualsense build-plugin``, ``doctor --target`` and the TensorRT
backend (which builds the plugin on first use when an engine needs one) all call :func:`build_plugin`.
The tool finders (nvcc, cmake, TensorRT's headers) are shared with the kernel build helpers of
``mutualsense.export.plugin_build``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

from mutualsense.errors import PluginError

__all__ = [
    "DEFAULT_CUDA_ARCH",
    "PLUGIN_LIBRARY_NAME",
    "build_plugin",
    "check_arch",
    "find_cmake",
    "find_nvcc",
    "find_tensorrt",
    "nvcc_architectures",
    "plugin_sources",
    "require_nvcc",
    "run_tool",
]

PLUGIN_LIBRARY_NAME = "libmutualsense_cda.so"
DEFAULT_CUDA_ARCH = "87"  # Jetson Orin

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
    """The folder of the plugin's C++/CUDA sources and its CMakeLists.txt.

    They are package data of ``mutualsense.export`` (``export/plugin/``, next to the model whose node they
    implement). The folder is located through the import system *without importing* that package, so the
    runtime can build the plugin on first use and still never imports the export toolchain.
    """
    spec = importlib.util.find_spec("mutualsense.export")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        if (Path(folder) / "plugin" / "CMakeLists.txt").is_file():
            return Path(folder) / "plugin"
    raise PluginError(
        f"the CDA plugin sources are not installed (looked in {', '.join(locations) or 'mutualsense.export'}).",
        "reinstall mutualsense (`pip install --force-reinstall mutualsense`).",
    )


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


def run_tool(cmd: list[str], what: str, remedy: str, cwd: Path | None = None, timeout: float = 1800) -> None:
    """Run a build tool; on failure a PluginError with the command and the last lines of its output."""
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False)
    if out.returncode != 0:
        log = (out.stderr + out.stdout).strip()
        tail = "\n".join(log.splitlines()[-25:])
        raise PluginError(f"{what} failed (exit {out.returncode}): {' '.join(cmd)}\n{tail}", remedy)


def require_nvcc() -> str:
    """nvcc's path, or a PluginError saying how to install the CUDA toolkit."""
    nvcc = find_nvcc()
    if nvcc is None:
        raise PluginError(
            "nvcc (the CUDA compiler) was not found on PATH, in $CUDA_HOME/bin or /usr/local/cuda/bin.",
            "install the CUDA toolkit (on a Jetson it comes with JetPack: sudo apt install nvidia-jetpack) "
            "or set CUDACXX=/path/to/nvcc.",
        )
    return nvcc


def check_arch(nvcc: str, arch: str) -> str:
    """``"sm_87"``/``"8.7"``/``"87"`` → ``"87"``, refused when this nvcc cannot compile for it."""
    arch = arch.removeprefix("sm_").removeprefix("compute_").replace(".", "")
    known = nvcc_architectures(nvcc)
    if arch not in known:
        raise PluginError(
            f"this nvcc ({nvcc}) cannot compile for sm_{arch}; it knows {', '.join(known)}.",
            "pick one of those (87 for Jetson Orin), or use a newer CUDA toolkit.",
        )
    return arch


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
    nvcc = require_nvcc()
    trt = find_tensorrt()
    if trt is None:
        root = _tensorrt_root()
        where = f"in TensorRT_ROOT={root}" if root else "in " + ", ".join(i for i, _ in _TENSORRT_LOCATIONS)
        raise PluginError(
            f"TensorRT headers not found (NvInfer.h and libnvinfer.so {where}).",
            f"{_JETPACK_HINT} (sudo apt install nvidia-jetpack provides them), "
            "or set TensorRT_ROOT to a TensorRT install with include/ and lib/.",
        )
    arch = check_arch(nvcc, cuda_arch or _default_arch())
    include_dir, lib_dir = trt

    out = Path(out_dir)
    build = out / "cda-build"
    build.mkdir(parents=True, exist_ok=True)
    library = next((p for p in sorted(lib_dir.glob("libnvinfer.so*")) if p.name == "libnvinfer.so"), None)
    library = library or sorted(lib_dir.glob("libnvinfer.so*"))[0]
    configure = [
        cmake,
        "-S",
        str(plugin_sources()),
        "-B",
        str(build),
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_CUDA_ARCHITECTURES={arch}",
        f"-DCMAKE_CUDA_COMPILER={nvcc}",
        f"-DTensorRT_INCLUDE_DIR={include_dir}",
        f"-DTensorRT_LIBRARY={library}",
    ]
    run_tool(configure, "configuring the CDA plugin (cmake)", "read the CMake message above.")
    jobs = str(max(1, min(4, os.cpu_count() or 1)))
    run_tool([cmake, "--build", str(build), "-j", jobs], "building the CDA plugin", "read the compiler output above.")
    built = build / PLUGIN_LIBRARY_NAME
    if not built.is_file():
        raise PluginError(f"the build finished but {built} is missing.", "rebuild from a clean --out folder.")
    target = out / PLUGIN_LIBRARY_NAME
    tmp = out / (PLUGIN_LIBRARY_NAME + ".tmp")
    shutil.copy2(built, tmp)
    os.replace(tmp, target)
    return target
