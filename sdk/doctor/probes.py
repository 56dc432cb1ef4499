"""What this machine can do: one probe per capability, each with the install hint when missing.

Probes never import heavy packages (torch, TensorRT) when their metadata suffices, so
``mutualsense doctor`` answers in well under a second on a robot. The Jetson rows are in :mod:`.jetson`.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import platform
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from mutualsense.doctor.check import Check, dist_version
from mutualsense.doctor.jetson import Host, jetson_checks
from mutualsense.gpu import cuda_driver, tensorrt_version
from mutualsense.tensorrt.plugin_build import find_nvcc

__all__ = ["PROBES", "check_environment", "kernel_cache_folder", "libusb_present"]


def _python() -> Check:
    ok = tuple(int(p) for p in platform.python_version_tuple()[:2]) >= (3, 10)
    return Check("Python", ok, f"{platform.python_version()} ({platform.machine()})", "use Python >= 3.10", True)


def _package(name: str, dist: str, hint: str, required: bool = False) -> Callable[[], Check]:
    def probe() -> Check:
        v = dist_version(dist)
        return Check(name, v is not None, v or "not installed", "" if v else hint, required)

    return probe


def _opencv() -> Check:
    # Jetson images ship OpenCV from apt, with no pip metadata: ask the module itself.
    if importlib.util.find_spec("cv2") is None:
        return Check("OpenCV", False, "not installed", "pip install opencv-python-headless", True)
    import cv2

    return Check("OpenCV", True, str(cv2.__version__), required=True)


def _onnxruntime() -> Check:
    v = dist_version("onnxruntime") or dist_version("onnxruntime-gpu")
    if v is None:
        return Check(
            "ONNX Runtime",
            False,
            "neither onnxruntime nor onnxruntime-gpu is installed",
            'pip install "mutualsense[cpu]" on a PC; on a Jetson, NVIDIA\'s onnxruntime-gpu build '
            '(README "On a Jetson")',
            True,
        )
    try:
        import onnxruntime as ort

        providers = ", ".join(p.removesuffix("ExecutionProvider") for p in ort.get_available_providers())
    except Exception as exc:  # a broken install is exactly what doctor must report
        return Check("ONNX Runtime", False, f"{v}, import failed: {exc}", "reinstall onnxruntime", True)
    return Check("ONNX Runtime", True, f"{v} (providers: {providers})", required=True)


def libusb_present() -> bool:
    """Whether the libusb-1.0 shared library that pyrealsense2 links against can be found."""
    return ctypes.util.find_library("usb-1.0") is not None


def _realsense() -> Check:
    v = dist_version("pyrealsense2")
    usb = libusb_present()
    if v is None:
        return Check("pyrealsense2", False, "not installed", 'pip install "mutualsense[realsense]"')
    if not usb:
        return Check("pyrealsense2", False, f"{v}, libusb-1.0 missing", "apt-get install libusb-1.0-0 (Debian/Ubuntu)")
    return Check("pyrealsense2", True, f"{v} (libusb-1.0 present)")


def kernel_cache_folder(environ: Mapping[str, str] | None = None, package: Path | None = None) -> Path | None:
    """Where numba keeps the compiled host-stage kernels, or None when no folder is writable.

    Numba's own order: ``NUMBA_CACHE_DIR``, then ``__pycache__`` beside ``mutualsense/cpu_kernels.py``, then
    the user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``, ``/numba``); a folder that does not
    exist yet counts when its nearest existing parent is writable (numba creates it).
    """
    env = os.environ if environ is None else environ
    if package is None:
        spec = importlib.util.find_spec("mutualsense")
        package = Path(spec.origin).parent if spec and spec.origin else None
    candidates = [Path(env["NUMBA_CACHE_DIR"])] if env.get("NUMBA_CACHE_DIR") else []
    if package is not None:
        candidates.append(package / "__pycache__")
    candidates.append(Path(env.get("XDG_CACHE_HOME") or Path(env.get("HOME") or Path.home()) / ".cache") / "numba")
    for folder in candidates:
        existing = folder
        while not existing.exists() and existing.parent != existing:
            existing = existing.parent
        if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
            return folder
    return None


def _numba() -> Check:
    name = "numba (host-stage kernels)"
    v = dist_version("numba")
    if v is None:
        return Check(name, False, "not installed", "pip install numba", True)
    folder = kernel_cache_folder()
    if folder is None:
        detail = f"{v}; no writable cache folder, so the kernels compile at every start (a few seconds)"
        return Check(name, False, detail, "set NUMBA_CACHE_DIR to a writable folder")
    return Check(name, True, f"{v}; compiled kernels cached in {folder}", required=True)


def _tensorrt() -> Check:
    v = tensorrt_version()
    return Check(
        "TensorRT",
        v is not None,
        v or "not installed",
        ""
        if v
        else "comes with JetPack >= 6 on Jetson (sudo apt install nvidia-jetpack); on x86: pip install tensorrt",
    )


def _cuda() -> Check:
    found = cuda_driver()
    if found is None:
        return Check(
            "CUDA driver/GPU", False, "no CUDA driver", "needs an NVIDIA GPU with its driver (JetPack on Jetson)"
        )
    version, count = found
    detail = f"driver {version // 1000}.{version % 1000 // 10}, {count} GPU(s)"
    return Check("CUDA driver/GPU", count > 0, detail, "" if count else "no GPU visible to the driver")


def _modelopt() -> Check:
    name = "nvidia-modelopt (INT8)"
    try:
        from mutualsense.calibration.modelopt import default_env_path, find_env
    except Exception as exc:  # the export extra missing or broken: say so, never crash doctor
        return Check(name, False, f"needs the export extra ({exc})", 'pip install "mutualsense[export]"')

    env = find_env()
    if env is None:
        return Check(
            name,
            False,
            f"no venv at {default_env_path()}",
            "made on the first INT8 export, or now with `mutualsense setup-modelopt`",
        )
    return Check(name, True, f"{env.versions.get('nvidia-modelopt', '?')} in its own venv {env.path}")


def _nvcc() -> Check:
    path = find_nvcc()
    if path is None:
        return Check("nvcc", False, "not found", "install the CUDA toolkit (JetPack ships it in /usr/local/cuda)")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    release = next((ln.split("release")[-1].strip() for ln in out.splitlines() if "release" in ln), "?")
    return Check("nvcc", True, f"{release} ({path})")


PROBES: tuple[Callable[[], Check], ...] = (
    _python,
    _package("numpy", "numpy", "pip install numpy", True),
    _opencv,
    _numba,
    _onnxruntime,
    _realsense,
    _package("torch (export, training)", "torch", 'pip install "mutualsense[export]"'),
    _package("onnx (export)", "onnx", 'pip install "mutualsense[export]"'),
    _modelopt,
    _tensorrt,
    _package(
        "cuda-python", "cuda-python", 'pip install "mutualsense[jetpack6]" (JetPack 6) or "[jetpack7]" (JetPack 7)'
    ),
    _cuda,
    _nvcc,
)


def check_environment(host: Host | None = None) -> list[Check]:
    """Run every probe and return its outcome, in display order; on a Jetson (or with faults) the Jetson rows."""
    return [probe() for probe in PROBES] + jetson_checks(host or Host())
