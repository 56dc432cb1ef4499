"""``doctor``'s Jetson rows, one stand-in per fault: fake release files, nvpmodel / jetson_clocks output,
installed distributions, driver versions and venvs. Each row must say what is wrong and the exact fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from mutualsense.doctor import Check, Host, check_environment, jetson_checks

MAXN = "NV Power Mode: MAXN\n0\n"
PINNED = """SOC family:tegra234  Machine:NVIDIA Jetson AGX Orin Developer Kit
Online CPUs: 0-1
cpu0: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
cpu1: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
cpu2: Online=0 Governor=schedutil MinFreq=115200 MaxFreq=2201600 CurrentFreq=115200 IdleStates: WFI=1 c7=1
GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000
EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=3199000000 FreqOverride=1
NV Power Mode: MAXN
"""
FLOATING = PINNED.replace("GPU MinFreq=1300500000", "GPU MinFreq=306000000")


def commands(outputs: dict[str, tuple[int, str]]):
    def run(cmd: Sequence[str]) -> tuple[int, str]:
        return outputs.get(cmd[0], (127, f"{cmd[0]}: command not found"))

    return run


def host(tmp_path: Path, release: str | None = "# R36 (release), REVISION: 4.3, GCID: 1, BOARD: generic", **kw) -> Host:
    release_file = tmp_path / "nv_tegra_release"
    if release is not None:
        release_file.write_text(release + "\n")
    dists = kw.pop("dists", {"onnxruntime-gpu": "1.23.0"})
    base = Host(
        release_file=release_file,
        prefix=tmp_path / "venv",
        base_prefix=Path("/usr"),
        python="3.10",
        system_tensorrt=(str(tmp_path / "usr/lib/python3*/dist-packages/tensorrt"),),
        run=commands({"nvpmodel": (0, MAXN), "jetson_clocks": (0, PINNED)}),
        distribution=dists.get,
        importable=lambda module: True,
        driver=lambda: (12060, 1),
    )
    return replace(base, **kw)


def rows(h: Host) -> dict[str, Check]:
    return {c.name: c for c in jetson_checks(h)}


def test_a_healthy_jetpack_6_jetson_is_all_ok(tmp_path: Path) -> None:
    found = rows(host(tmp_path, dists={"onnxruntime-gpu": "1.23.0", "cuda-python": "12.6.2"}))
    assert [c.name for c in found.values() if not c.ok] == []
    assert found["JetPack / L4T"].detail == "L4T R36.4.3 (JetPack 6)"
    assert "MAXN" in found["power mode"].detail and "pinned" in found["clocks"].detail
    assert "onnxruntime-gpu 1.23.0" in found["ONNX Runtime build"].detail


def test_jetpack_release_rows(tmp_path: Path) -> None:
    assert rows(host(tmp_path, "# R38 (release), REVISION: 2.0"))["JetPack / L4T"].detail == "L4T R38.2.0 (JetPack 7)"
    old = rows(host(tmp_path, "# R35 (release), REVISION: 6.0"))["JetPack / L4T"]
    assert not old.ok and "JetPack 5" in old.detail and "flash JetPack 6 or 7" in old.hint
    assert "JetPack / L4T" not in rows(host(tmp_path / "pc", None))  # not a Jetson: no Jetson-only rows
    (tmp_path / "pc").mkdir()
    assert not {"power mode", "clocks"} & set(rows(host(tmp_path / "pc", None)))


def test_power_mode_and_clocks_that_change_timings(tmp_path: Path) -> None:
    capped = host(tmp_path, run=commands({"nvpmodel": (0, "NV Power Mode: 15W\n1\n"), "jetson_clocks": (0, FLOATING)}))
    found = rows(capped)
    assert not found["power mode"].ok and "15W (mode 1)" in found["power mode"].detail
    assert "sudo nvpmodel -m" in found["power mode"].hint
    assert not found["clocks"].ok and "GPU clocks scale with load" in found["clocks"].detail
    assert found["clocks"].hint.startswith("`sudo jetson_clocks`")
    cpu_floating = FLOATING.replace("GPU MinFreq=306000000", "GPU MinFreq=1300500000").replace(
        "cpu1: Online=1 Governor=schedutil MinFreq=2201600", "cpu1: Online=1 Governor=schedutil MinFreq=729600"
    )
    assert (
        "CPU clocks scale" in rows(host(tmp_path, run=commands({"jetson_clocks": (0, cpu_floating)})))["clocks"].detail
    )
    missing = rows(host(tmp_path, run=commands({"jetson_clocks": (1, "Permission denied")})))
    assert "Permission denied" in missing["clocks"].detail and missing["clocks"].hint == "sudo jetson_clocks --show"
    assert "command not found" in missing["power mode"].detail


@pytest.mark.parametrize(
    ("cuda_python", "driver", "ok", "fix"),
    [
        ("13.0.1", 12060, False, 'pip install "mutualsense[jetpack6]"'),
        ("12.9.0", 12060, True, ""),
        ("12.6.2", 13000, True, ""),
        ("14.0.0", 13000, False, 'pip install "mutualsense[jetpack7]"'),
    ],
)
def test_cuda_python_major_against_the_driver(tmp_path: Path, cuda_python, driver, ok, fix) -> None:
    h = host(tmp_path, dists={"cuda-python": cuda_python, "onnxruntime-gpu": "1.23"}, driver=lambda: (driver, 1))
    row = rows(h)["cuda-python vs driver"]
    assert row.ok is ok and fix in row.hint
    if not ok:
        assert f"bundles a CUDA {cuda_python.split('.')[0]} runtime" in row.detail
    assert "cuda-python vs driver" not in rows(replace(h, driver=lambda: None))


def test_cpu_onnxruntime_shadowing_the_gpu_build(tmp_path: Path) -> None:
    both = rows(host(tmp_path, dists={"onnxruntime": "1.23.2", "onnxruntime-gpu": "1.23.0"}))["ONNX Runtime build"]
    assert not both.ok and "both installed" in both.detail and "share the onnxruntime/ folder" in both.detail
    assert both.hint.startswith("pip uninstall -y onnxruntime onnxruntime-gpu") and "onnxruntime-gpu" in both.hint
    cpu = rows(host(tmp_path, dists={"onnxruntime": "1.23.2"}))["ONNX Runtime build"]
    assert not cpu.ok and "CPU build" in cpu.detail and cpu.hint.startswith("pip uninstall -y onnxruntime,")
    (tmp_path / "pc").mkdir()
    assert "ONNX Runtime build" not in rows(host(tmp_path / "pc", None, dists={"onnxruntime": "1.23.2"}))


def test_tensorrt_hidden_by_a_venv_without_system_site_packages(tmp_path: Path) -> None:
    (tmp_path / "usr/lib/python3.10/dist-packages/tensorrt").mkdir(parents=True)
    (tmp_path / "venv").mkdir()
    cfg = tmp_path / "venv" / "pyvenv.cfg"
    cfg.write_text("home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.10.12\n")
    h = host(tmp_path, importable=lambda module: module != "tensorrt")
    row = rows(h)["tensorrt visible"]
    assert not row.ok and "hides the system site-packages" in row.detail and "python3.10/dist-packages" in row.detail
    assert f"python3 -m venv --system-site-packages {tmp_path / 'venv'}" in row.hint
    cfg.write_text("home = /usr/bin\ninclude-system-site-packages = true\nversion = 3.12.3\n")
    wrong_python = rows(replace(h, python="3.12"))["tensorrt visible"]
    assert "built for Python 3.10; this is Python 3.12" in wrong_python.detail
    assert "/usr/bin/python3.10 -m venv --system-site-packages" in wrong_python.hint
    assert "tensorrt visible" not in rows(replace(h, importable=lambda module: True))


def test_doctor_includes_the_jetson_rows(tmp_path: Path) -> None:
    names = [c.name for c in check_environment(host(tmp_path, dists={"onnxruntime": "1", "onnxruntime-gpu": "2"}))]
    assert names[0] == "Python" and {"JetPack / L4T", "power mode", "clocks", "ONNX Runtime build"} <= set(names)
