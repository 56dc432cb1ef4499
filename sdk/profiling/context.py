"""What every profile records besides its samples: the machine, the software, the bundle, the backend;
and the checks and orderings both profilers share."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from mutualsense import __version__
from mutualsense.errors import MutualSenseError
from mutualsense.profiling.stages import COPY_STAGES, STAGE_ORDER

if TYPE_CHECKING:
    from mutualsense.bundle import Bundle

__all__ = [
    "absent_copy_stages",
    "bundle_info",
    "check_counts",
    "dist_version",
    "machine_info",
    "ordered_stages",
    "provider_name",
    "software_versions",
    "wall_clock_offset",
]


# ----------------------------------------------------------------------------------- environment
def dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def machine_info() -> dict[str, Any]:
    """The machine, in a few plain fields (no host name)."""
    from mutualsense.gpu import gpu_info, jetpack_version

    gpu = gpu_info()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "gpu": None if gpu is None else f"{gpu.name} (sm {gpu.compute_capability}, driver {gpu.driver_version})",
        "jetpack_l4t": jetpack_version(),
    }


def software_versions() -> dict[str, str | None]:
    """Versions of what the run depended on (None: not installed)."""
    from mutualsense.gpu import tensorrt_version

    return {
        "mutualsense": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": dist_version("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
        "onnxruntime": dist_version("onnxruntime", "onnxruntime-gpu"),
        "pyrealsense2": dist_version("pyrealsense2", "pyrealsense2-beta"),
        "tensorrt": tensorrt_version(),
    }


def bundle_info(bundle: Bundle) -> dict[str, Any]:
    spec = bundle.input_spec
    return {
        "path": str(bundle.path),
        "sha256": bundle.sha256,
        "model": bundle.manifest.get("model", {}).get("name"),
        "precision": bundle.precision,
        "input": [spec.height, spec.width],
        "batch": bundle.batch,
    }


def provider_name(backend: Any) -> str:
    providers = getattr(backend, "providers", None)
    if providers:
        return ", ".join(providers)
    entry = getattr(backend, "engine_entry", None)
    if entry:
        return f"TensorRT {entry.get('tensorrt')} engine for sm {entry.get('compute_capability')} ({entry.get('file')})"
    return str(getattr(backend, "name", "unknown"))


def absent_copy_stages(backend_name: str, present: Iterable[str]) -> dict[str, str]:
    why = (
        "ONNX Runtime copies inputs and outputs inside session.run: included in inference"
        if backend_name == "onnxruntime"
        else f"the {backend_name} backend does not time its copies separately: included in inference"
    )
    return {s: why for s in COPY_STAGES if s not in set(present)}


def wall_clock_offset() -> float:
    """``time.time() - time.monotonic()``, read between two monotonic reads to halve the error."""
    m0 = time.monotonic()
    w = time.time()
    m1 = time.monotonic()
    return w - (m0 + m1) / 2.0


def ordered_stages(names: Iterable[str]) -> tuple[str, ...]:
    names = list(dict.fromkeys(names))
    known = [s for s in STAGE_ORDER if s in names and s != "unaccounted"]
    extra = [s for s in names if s not in STAGE_ORDER]
    tail = ["unaccounted"] if "unaccounted" in names else []
    return tuple(known + extra + tail)


def check_counts(frames: int, warmup: int, what: str) -> None:
    if frames < 1:
        raise MutualSenseError(f"{what} must be at least 1, got {frames}.", f"pass {what} 100 or more.")
    if warmup < 0:
        raise MutualSenseError(f"the warm-up must be 0 or more, got {warmup}.", "pass --warmup 10.")
