"""``mutualsense doctor`` rows for Jetsons: each says what is wrong and the exact command that fixes it.

Rows: JetPack / L4T release, power mode (``nvpmodel -q``) and clocks (``jetson_clocks --show``) since
they change every timing, cuda-python's CUDA major vs the driver's, the CPU ``onnxruntime`` shadowing (or
installed beside) NVIDIA's ``onnxruntime-gpu``, and ``tensorrt`` hidden by a venv made without the
system site-packages. Where each looks is a field of :class:`Host`, so every fault is tested with
stand-ins (files, commands, installed distributions) rather than hardware.
"""

from __future__ import annotations

import configparser
import glob
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mutualsense.doctor.check import Check, dist_version
from mutualsense.gpu import cuda_driver, jetpack_version

__all__ = ["JETPACK_OF_L4T", "Host", "jetson_checks"]

JETPACK_OF_L4T = {35: 5, 36: 6, 38: 7}  # L4T major → JetPack major
_ORT_GPU_HINT = (
    "NVIDIA's onnxruntime-gpu wheel for your JetPack (Jetson AI Lab index, e.g. "
    "`pip install onnxruntime-gpu --index-url https://pypi.jetson-ai-lab.io/jp6/cu126` on JetPack 6)"
)


def _run(cmd: Sequence[str]) -> tuple[int, str]:
    """(exit code, stdout + stderr) of a short command; 127 when it is not installed."""
    if shutil.which(cmd[0]) is None:
        return 127, f"{cmd[0]}: command not found"
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return out.returncode, out.stdout + out.stderr


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class Host:
    """Where the Jetson rows look (this machine by default)."""

    release_file: Path = Path("/etc/nv_tegra_release")
    prefix: Path = Path(sys.prefix)
    base_prefix: Path = Path(sys.base_prefix)
    python: str = f"{sys.version_info.major}.{sys.version_info.minor}"
    system_tensorrt: tuple[str, ...] = ("/usr/lib/python3*/dist-packages/tensorrt",)
    run: Callable[[Sequence[str]], tuple[int, str]] = field(default=_run)
    distribution: Callable[[str], str | None] = field(default=dist_version)
    importable: Callable[[str], bool] = field(default=_importable)
    driver: Callable[[], tuple[int, int] | None] = field(default=cuda_driver)

    @property
    def is_jetson(self) -> bool:
        return self.release_file.is_file()


def _jetpack(host: Host) -> Check:
    release = jetpack_version(host.release_file)
    if release is None:
        return Check(
            "JetPack / L4T", False, f"{host.release_file} is unreadable", "reflash with JetPack >= 6 (SDK Manager)"
        )
    major = int(release[1:].split(".")[0])
    jetpack = JETPACK_OF_L4T.get(major)
    if jetpack is None or jetpack < 6:
        detail = f"L4T {release}" + (f" (JetPack {jetpack})" if jetpack else "")
        return Check(
            "JetPack / L4T", False, detail + ": TensorRT 10 needs JetPack >= 6", "flash JetPack 6 or 7 (SDK Manager)"
        )
    return Check("JetPack / L4T", True, f"L4T {release} (JetPack {jetpack})")


def _power_mode(host: Host) -> Check:
    code, out = host.run(["nvpmodel", "-q"])
    m = re.search(r"NV Power Mode:\s*(\S+)\s*\n\s*(\d+)", out)
    if code != 0 or m is None:
        return Check("power mode", False, f"`nvpmodel -q` failed: {out.strip()[-120:]}", "sudo nvpmodel -q")
    name, mode = m.groups()
    if name.upper().startswith("MAXN"):
        return Check("power mode", True, f"{name} (mode {mode})")
    return Check(
        "power mode",
        False,
        f"{name} (mode {mode}): a capped power mode; every timing depends on it",
        "`sudo nvpmodel -q --verbose` lists the modes; `sudo nvpmodel -m <id of MAXN>` selects the fastest",
    )


def _clocks(host: Host) -> Check:
    code, out = host.run(["jetson_clocks", "--show"])
    if code != 0:
        return Check(
            "clocks", False, f"`jetson_clocks --show` failed: {out.strip()[-120:]}", "sudo jetson_clocks --show"
        )
    ranges = re.findall(r"^(cpu\d+|GPU)\b.*?MinFreq=(\d+) MaxFreq=(\d+)", out, flags=re.MULTILINE)
    online = {m.group(1) for m in re.finditer(r"^(cpu\d+): Online=1", out, flags=re.MULTILINE)}
    ranges = [r for r in ranges if r[0] == "GPU" or r[0] in online]
    if not ranges:
        return Check(
            "clocks", False, "`jetson_clocks --show` printed no CPU/GPU frequencies", "sudo jetson_clocks --show"
        )
    floating = sorted({unit if unit == "GPU" else "CPU" for unit, lo, hi in ranges if lo != hi})
    if not floating:
        return Check("clocks", True, "CPU and GPU clocks pinned at their maximum (jetson_clocks)")
    return Check(
        "clocks",
        False,
        f"{' and '.join(floating)} clocks scale with load: timings vary from run to run",
        "`sudo jetson_clocks` pins CPU, GPU and memory clocks at their maximum until reboot",
    )


def _cuda_python(host: Host) -> Check | None:
    version = host.distribution("cuda-python") or host.distribution("cuda-bindings")
    driver = host.driver()
    if version is None or driver is None:
        return None
    ours, theirs = int(version.split(".")[0]), driver[0] // 1000
    driver_text = f"{theirs}.{driver[0] % 1000 // 10}"
    if ours <= theirs:
        return Check(
            "cuda-python vs driver", True, f"cuda-python {version} (CUDA {ours}) on a CUDA {driver_text} driver"
        )
    extra = {12: "jetpack6", 13: "jetpack7"}.get(theirs)
    fix = f'pip install "mutualsense[{extra}]"' if extra else f'pip install "cuda-python<{theirs + 1}"'
    return Check(
        "cuda-python vs driver",
        False,
        f"cuda-python {version} bundles a CUDA {ours} runtime, which cannot run on this CUDA {driver_text} driver",
        f'{fix} (cuda-python {theirs}.x: pip install "cuda-python>={theirs}.0,<{theirs + 1}")',
    )


def _onnxruntime_build(host: Host) -> Check | None:
    cpu, gpu = host.distribution("onnxruntime"), host.distribution("onnxruntime-gpu")
    if cpu and gpu:
        return Check(
            "ONNX Runtime build",
            False,
            f"onnxruntime {cpu} and onnxruntime-gpu {gpu} are both installed: they share the onnxruntime/ folder, "
            "so whichever was installed last wins (pip check does not notice)",
            f"pip uninstall -y onnxruntime onnxruntime-gpu, then install {_ORT_GPU_HINT}"
            if host.is_jetson
            else "pip uninstall -y onnxruntime onnxruntime-gpu, then install the one you want "
            '(onnxruntime-gpu, or "mutualsense[cpu]")',
        )
    if host.is_jetson and cpu:
        return Check(
            "ONNX Runtime build",
            False,
            f"onnxruntime {cpu} is the CPU build: on this Jetson ONNX Runtime cannot use CUDA or TensorRT",
            f"pip uninstall -y onnxruntime, then install {_ORT_GPU_HINT}",
        )
    if host.is_jetson and gpu:
        return Check("ONNX Runtime build", True, f"onnxruntime-gpu {gpu} (NVIDIA's GPU build)")
    return None


def _system_site_packages(host: Host) -> Check | None:
    if host.importable("tensorrt"):
        return None
    found = sorted(p for pattern in host.system_tensorrt for p in glob.glob(pattern))
    if not found:
        return None
    where = Path(found[0]).parent
    cfg = host.prefix / "pyvenv.cfg"
    hidden = False
    if host.prefix != host.base_prefix and cfg.is_file():
        parser = configparser.ConfigParser()
        parser.read_string("[venv]\n" + cfg.read_text())
        hidden = parser.get("venv", "include-system-site-packages", fallback="false").strip().lower() != "true"
    built_for = re.search(r"python(3\.\d+)", str(where))
    if hidden:
        return Check(
            "tensorrt visible",
            False,
            f"JetPack's tensorrt is in {where}, but this venv ({host.prefix}) hides the system site-packages",
            f"recreate the venv: `python3 -m venv --system-site-packages {host.prefix}` (or set "
            f"include-system-site-packages = true in {cfg}), then reinstall mutualsense into it",
        )
    if built_for and built_for.group(1) != host.python:
        return Check(
            "tensorrt visible",
            False,
            f"JetPack's tensorrt in {where} is built for Python {built_for.group(1)}; this is Python {host.python}",
            f"make the venv with JetPack's Python: "
            f"`/usr/bin/python{built_for.group(1)} -m venv --system-site-packages VENV`",
        )
    return Check(
        "tensorrt visible",
        False,
        f"{where}/tensorrt exists but cannot be imported",
        "sudo apt install --reinstall python3-libnvinfer",
    )


def jetson_checks(host: Host) -> list[Check]:
    """The rows that apply here: all of them on a Jetson; elsewhere only the faults that can happen anywhere."""
    rows: list[Check | None] = []
    if host.is_jetson:
        rows += [_jetpack(host), _power_mode(host), _clocks(host)]
    rows += [_cuda_python(host), _onnxruntime_build(host), _system_site_packages(host)]
    return [r for r in rows if r is not None]
