"""Packaging: what a user installs and what the sdist carries.

- every package folder is listed (``packages`` cannot be found through ``package-dir``) and every
  package-data pattern matches a file (no dead patterns);
- the wheel and the sdist carry LICENSE; the sdist carries the test suite, and its tests run;
- per JetPack, the runtime's requirements resolve for aarch64 from the package index (slow; skipped with
  the reason where the index cannot be reached): cuda-python of the JetPack's CUDA major, and no
  ``onnxruntime`` that would replace NVIDIA's ``onnxruntime-gpu``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python >= 3.11 (tomllib)")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# JetPack → (Python, glibc of its Ubuntu, extras a Jetson user installs, CUDA major of cuda-python)
JETPACKS = {
    "jetpack6": ("3.10", 35, ["jetpack6", "realsense"], 12),  # Ubuntu 22.04, CUDA 12.6, TensorRT 10.3
    "jetpack7": ("3.12", 39, ["jetpack7", "realsense"], 13),  # Ubuntu 24.04, CUDA 13, TensorRT 10.13+
}


def _folder(package: str) -> Path:
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    for prefix in sorted(mapping, key=len, reverse=True):
        if package == prefix or package.startswith(prefix + "."):
            return (
                ROOT
                / mapping[prefix]
                / Path(*package[len(prefix) :].strip(".").split(".") if package != prefix else ())
            )
    raise AssertionError(f"{package} is under no package-dir entry")


def test_every_package_folder_is_listed_and_every_package_data_pattern_matches() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    for package in listed:
        assert (_folder(package) / "__init__.py").is_file(), package
    for prefix, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            name = ".".join([prefix, *rel.parts])
            if "__pycache__" not in rel.parts:
                assert name in listed, f"{name} ({init.parent}) is missing from [tool.setuptools] packages"
    for package, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        for pattern in patterns:
            assert list(_folder(package).glob(pattern)), f"package-data pattern {package}: {pattern!r} matches nothing"


def test_onnxruntime_is_an_extra_and_each_jetpack_pins_cuda_python_to_its_cuda_major() -> None:
    core = PYPROJECT["project"]["dependencies"]
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert not [r for r in core if r.startswith("onnxruntime")], "a core onnxruntime replaces Jetson's onnxruntime-gpu"
    assert any(r.startswith("onnxruntime") for r in extras["cpu"])
    assert extras["jetpack6"] == ["cuda-python>=12.6,<13"] and extras["jetpack7"] == ["cuda-python>=13,<14"]
    assert "cpu" in re.search(r'-e "\.\[([^]]*)\]"', (ROOT / "Makefile").read_text()).group(1)


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    code = f"from setuptools import build_meta as b; b.build_sdist({str(out)!r}); b.build_wheel({str(out)!r})"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
    return out


@pytest.mark.slow
def test_wheel_and_sdist_carry_the_license_and_the_sdist_its_tests(dists: Path, tmp_path: Path) -> None:
    (wheel,) = dists.glob("*.whl")
    (sdist,) = dists.glob("*.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "mutualsense/tensorrt/backend.py" in names and "mutualsense/export/plugin/CMakeLists.txt" in names
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
        tar.extractall(tmp_path, filter="data")
    assert {
        "LICENSE",
        "Makefile",
        "tests/conftest.py",
        "tests/trt/test_engine_build.py",
        "tests/doctor/test_jetson.py",
    } <= members
    assert {"tests/fixtures/tiny.bag", "examples/data/sample.db3"} <= members
    unpacked = next(tmp_path.iterdir())
    fast = ["tests/trt/test_engine_build.py", "tests/doctor/test_jetson.py", "tests/test_bundle.py"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *fast],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


def _requirements(extras: list[str]) -> list[str]:
    found = list(PYPROJECT["project"]["dependencies"])
    for extra in extras:
        found += PYPROJECT["project"]["optional-dependencies"][extra]
    return found


def resolve(python: str, glibc: int, requirements: list[str], report: Path) -> dict[str, str]:
    """name → version pip resolves for an aarch64 Jetson from the index; skips when the index is unreachable."""
    platforms = ["manylinux2014_aarch64", *(f"manylinux_2_{v}_aarch64" for v in range(17, glibc + 1))]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--quiet",
        "--ignore-installed",
        "--report",
        str(report),
    ]
    cmd += ["--target", str(report.parent / "target"), "--python-version", python, "--only-binary=:all:"]
    cmd += [arg for p in platforms for arg in ("--platform", p)]
    # this machine's pip config may name a global constraints file (torch caps): not ours to resolve against
    env = {**os.environ, "PIP_CONSTRAINT": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    out = subprocess.run(cmd + requirements, capture_output=True, text=True, env=env, timeout=900, check=False)
    if out.returncode != 0:
        text = out.stderr + out.stdout
        if re.search(
            r"NewConnectionError|Max retries|Temporary failure|Network is unreachable|ProxyError|SSLError", text
        ):
            pytest.skip(f"the package index cannot be reached: {text.strip()[-300:]}")
        raise AssertionError(f"resolution for Python {python} aarch64 failed:\n{text[-3000:]}")
    installs = json.loads(report.read_text())["install"]
    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in installs}


@pytest.mark.slow
@pytest.mark.parametrize("jetpack", sorted(JETPACKS))
def test_each_jetpack_install_resolves_for_aarch64(jetpack: str, tmp_path: Path) -> None:
    python, glibc, extras, cuda_major = JETPACKS[jetpack]
    found = resolve(python, glibc, _requirements(extras), tmp_path / "report.json")
    print(f"{jetpack} (aarch64, Python {python}): " + ", ".join(f"{k} {v}" for k, v in sorted(found.items())))
    assert int(found["cuda-python"].split(".")[0]) == cuda_major
    assert int(found["cuda-bindings"].split(".")[0]) == cuda_major
    assert "pyrealsense2" in found and "numpy" in found and "opencv-python-headless" in found and "numba" in found
    assert "onnxruntime" not in found and "onnxruntime-gpu" not in found  # NVIDIA's GPU build stays untouched
