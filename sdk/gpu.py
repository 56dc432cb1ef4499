"""What GPU and TensorRT this machine has, without importing TensorRT or a CUDA Python binding.

The CUDA driver API is reached through ctypes (``libcuda``), so these probes work on any machine
and simply answer ``None`` where there is no driver.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GpuInfo", "cuda_driver", "gpu_info", "jetpack_version", "tensorrt_version"]

_CC_MAJOR, _CC_MINOR = 75, 76  # CUdevice_attribute values of compute capability major/minor


@dataclass(frozen=True)
class GpuInfo:
    """The first CUDA device."""

    name: str
    compute_capability: str  # "8.7"
    driver_version: str  # "12.6"
    count: int


def _libcuda() -> ctypes.CDLL | None:
    for name in filter(None, (ctypes.util.find_library("cuda"), "libcuda.so.1")):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def cuda_driver() -> tuple[int, int] | None:
    """(driver version as an int like 12060, device count), or None where there is no usable driver."""
    lib = _libcuda()
    if lib is None:
        return None
    version, count = ctypes.c_int(0), ctypes.c_int(0)
    if lib.cuInit(0) != 0 or lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return None
    return version.value, count.value


def gpu_info() -> GpuInfo | None:
    """Name and compute capability of device 0, or None without a GPU."""
    found = cuda_driver()
    lib = _libcuda()
    if found is None or found[1] == 0 or lib is None:
        return None
    version, count = found
    dev, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    name = ctypes.create_string_buffer(256)
    if lib.cuDeviceGet(ctypes.byref(dev), 0) != 0:
        return None
    lib.cuDeviceGetAttribute(ctypes.byref(major), _CC_MAJOR, dev)
    lib.cuDeviceGetAttribute(ctypes.byref(minor), _CC_MINOR, dev)
    lib.cuDeviceGetName(name, 256, dev)
    return GpuInfo(
        name.value.decode(errors="replace"),
        f"{major.value}.{minor.value}",
        f"{version // 1000}.{version % 1000 // 10}",
        count,
    )


def tensorrt_version() -> str | None:
    """TensorRT's version from package metadata (pip wheels or JetPack's python3-libnvinfer), else None."""
    for dist in ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt_libs"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        import tensorrt
    except ImportError:
        return None
    version = getattr(tensorrt, "__version__", None)  # None: something else named tensorrt is on the path
    return str(version) if version else None


def jetpack_version(release_file: Path = Path("/etc/nv_tegra_release")) -> str | None:
    """The L4T release of a Jetson (e.g. "R36.4.0" for JetPack 6.1), or None elsewhere."""
    try:
        text = release_file.read_text()
    except OSError:
        return None
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"R{m.group(1)}.{m.group(2)}" if m else None
