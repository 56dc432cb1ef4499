"""TensorRT versions: parsing, the minimum we support, and whether an engine fits this device.

The one place that reads version strings (``"10.3.0"``, ``"10.13.3.9"``, ``"11.4.0.106"``); the builder,
the backend and ``doctor`` all ask here. Engines are tied to the TensorRT release and GPU architecture
they were built for: a plan from another TensorRT major.minor or compute capability is *stale* and is
refused (or rebuilt) before TensorRT ever sees it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mutualsense.errors import EngineError
from mutualsense.gpu import GpuInfo

__all__ = ["MIN_TENSORRT", "major_minor", "parse_version", "require_tensorrt", "stale_reason"]

MIN_TENSORRT = (10, 0)


def parse_version(version: str) -> tuple[int, ...]:
    """``"10.13.3.9.post1"`` → ``(10, 13, 3, 9)``: the leading numeric components."""
    parts: list[int] = []
    for piece in version.split("."):
        m = re.match(r"\d+", piece)
        if m is None:
            break
        parts.append(int(m.group()))
        if m.group() != piece:
            break
    return tuple(parts)


def major_minor(version: str) -> tuple[int, ...]:
    """The part of a TensorRT version an engine depends on: ``"10.3.1"`` → ``(10, 3)``."""
    return parse_version(version)[:2]


def require_tensorrt(trt_version: str | None, gpu: GpuInfo | None) -> tuple[str, GpuInfo]:
    """Refuse early, with the reason and the fix, where no engine can be built or run."""
    if trt_version is None:
        raise EngineError(
            "TensorRT is not installed on this machine (or this Python cannot see it), so no engine can be built "
            "or run here.",
            "on a Jetson, JetPack >= 6 ships TensorRT in the system site-packages: make the venv with "
            "`python3 -m venv --system-site-packages` (see `mutualsense doctor`); elsewhere use --backend ort. "
            "Engines are specific to the GPU and TensorRT version they are built with.",
        )
    if parse_version(trt_version) < MIN_TENSORRT:
        raise EngineError(
            f"TensorRT {trt_version} is too old (mutualsense needs >= {'.'.join(map(str, MIN_TENSORRT))}).",
            "upgrade to JetPack >= 6 (TensorRT 10.3).",
        )
    if gpu is None:
        raise EngineError(
            f"TensorRT {trt_version} is installed but no CUDA GPU is visible.",
            "check the NVIDIA driver (`nvidia-smi` or `tegrastats`) and that this process may use the GPU; "
            "or use --backend ort.",
        )
    return trt_version, gpu


def stale_reason(entry: Mapping[str, Any], trt_version: str, gpu: GpuInfo) -> str | None:
    """Why the engine described by a manifest entry cannot run here, or None when it fits.

    Compared: the TensorRT major.minor it was built with, and the GPU's compute capability.
    """
    reasons = []
    if major_minor(str(entry.get("tensorrt", ""))) != major_minor(trt_version):
        reasons.append(f"built with TensorRT {entry.get('tensorrt')}, this is TensorRT {trt_version}")
    if str(entry.get("compute_capability")) != gpu.compute_capability:
        reasons.append(f"built for sm {entry.get('compute_capability')}, this GPU is sm {gpu.compute_capability}")
    return "; ".join(reasons) or None
