"""The console script as a user meets it: exit codes, messages, no tracebacks, no torch needed."""

from __future__ import annotations

import subprocess
import sys

import mutualsense

# Runs the CLI in a fresh interpreter; `block` names packages made unimportable (as on a robot without them).
RUNNER = """
import sys
for name in {block!r}:
    sys.modules[name] = None
from mutualsense.cli import main
sys.argv = ["mutualsense", *{args!r}]
main()
"""


def cli(*args: str, block: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    code = RUNNER.format(block=list(block), args=list(args))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_version() -> None:
    r = cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"mutualsense {mutualsense.__version__}"


def test_doctor_lists_every_component_with_a_status() -> None:
    r = cli("doctor")
    assert r.returncode == 0, r.stderr
    for name in ("Python", "numpy", "OpenCV", "ONNX Runtime", "pyrealsense2", "torch", "TensorRT", "CUDA", "nvcc"):
        assert name in r.stdout
    assert "OK" in r.stdout


def test_doctor_api_reports_missing_tensorrt_with_a_hint() -> None:
    from mutualsense.doctor import check_environment

    checks = {c.name: c for c in check_environment()}
    trt = checks["TensorRT"]
    assert trt.ok or "JetPack" in trt.hint
    assert checks["numpy"].ok and checks["Python"].ok


def test_help_teaches() -> None:
    r = cli("--help")
    assert r.returncode == 0
    for command in ("doctor", "train", "evaluate"):
        assert command in r.stdout


def test_missing_checkpoint_is_one_clear_paragraph_and_exit_2(tmp_path) -> None:
    r = cli("evaluate", str(tmp_path / "nope.pt"))
    assert r.returncode == 2
    assert "does not exist" in r.stderr and "Fix:" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_bad_training_data_is_refused_before_any_work(tmp_path) -> None:
    out = tmp_path / "m.pt"
    r = cli("train", "--data", str(tmp_path / "missing"), "--out", str(out))
    assert r.returncode == 2
    assert "neither 'synthetic' nor a folder" in r.stderr
    assert not out.exists()


def test_without_torch_the_runtime_works_and_training_says_what_to_install(tmp_path) -> None:
    blocked = ("torch", "onnx")
    assert cli("doctor", block=blocked).returncode == 0
    r = cli("train", "--out", str(tmp_path / "m.pt"), block=blocked)
    assert r.returncode == 2
    assert "mutualsense[export]" in r.stderr
    assert "Traceback" not in r.stderr


def test_import_mutualsense_does_not_import_the_toolchain() -> None:
    code = (
        "import sys, mutualsense, mutualsense.cli.commands, mutualsense.evaluation, mutualsense.export;"
        "print(sorted(m for m in ('torch', 'onnx', 'tensorrt', 'pyrealsense2') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "[]", r.stderr
