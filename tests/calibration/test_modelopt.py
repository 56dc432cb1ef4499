"""nvidia-modelopt in its own venv: isolation, the fallback to ONNX Runtime's quantiser and why, errors."""

from __future__ import annotations

import importlib.metadata
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="INT8 quantisation needs the export extra (torch, onnx)")

from mutualsense.calibration import QuantizerError, build_calibration_set, quantize_int8  # noqa: E402
from mutualsense.calibration.modelopt import ModeloptEnv, find_env  # noqa: E402
from mutualsense.calibration.quantize import QuantizerChoice, resolve_quantizer  # noqa: E402
from mutualsense.preprocess import InputSpec  # noqa: E402

SPEC = InputSpec(height=64, width=64)


@pytest.fixture(scope="module")
def small_model():  # noqa: ANN201
    import torch

    from mutualsense.export.model import CONFIGS, MutualSenseNet
    from mutualsense.export.onnx_export import export_onnx

    torch.manual_seed(0)
    return export_onnx(MutualSenseNet(CONFIGS["tiny"]).eval(), input_size=(64, 64)).model


@pytest.fixture(scope="module")
def calib():  # noqa: ANN201
    return build_calibration_set("synthetic", 2, SPEC, seed=0)


def test_modelopt_has_its_own_onnx_and_onnxruntime(modelopt_env: ModeloptEnv) -> None:
    out = subprocess.run(
        [
            str(modelopt_env.python),
            "-c",
            "import onnx, onnxruntime, modelopt; print(onnx.__version__, modelopt.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0].startswith("1.21.") and out[1] == "0.47.0"  # modelopt 0.47's pin, not ours
    assert modelopt_env.versions["onnx"] == out[0] and modelopt_env.versions["onnxruntime-gpu"]
    import onnx

    assert onnx.__version__ != out[0]  # ours is untouched …
    with pytest.raises(importlib.metadata.PackageNotFoundError):  # … and no onnxruntime-gpu shadows the CPU one
        importlib.metadata.version("onnxruntime-gpu")


def test_percentile_runs_on_onnxruntime_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUTUALSENSE_MODELOPT_VENV", str(tmp_path / "venv"))
    choice = resolve_quantizer("auto", "percentile")
    assert choice.name == "onnxruntime" and choice.note == "nvidia-modelopt has no percentile calibration for int8"
    assert not (tmp_path / "venv").exists()  # no venv made for a method modelopt lacks
    with pytest.raises(QuantizerError, match="minmax or entropy"):
        resolve_quantizer("modelopt", "percentile")


def test_a_venv_that_cannot_be_made_falls_back_and_leaves_nothing_half_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUTUALSENSE_MODELOPT_VENV", str(tmp_path / "venv"))
    monkeypatch.setenv("MUTUALSENSE_MODELOPT_PIP_ARGS", "--isolated --no-index")  # pip finds no package at all
    steps: list[str] = []
    choice = resolve_quantizer("auto", "minmax", on_step=steps.append)
    assert choice.name == "onnxruntime" and choice.note is not None
    assert choice.note.startswith("nvidia-modelopt could not be set up: pip could not install")
    assert any("create nvidia-modelopt's own venv" in s for s in steps)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["venv.log"]  # the log for the diagnosis, no partial venv
    log = (tmp_path / "venv.log").read_text()
    assert "install --disable-pip-version-check -q --isolated --no-index torch==2.13.0" in log and "ERROR" in log
    with pytest.raises(QuantizerError) as info:
        resolve_quantizer("modelopt", "minmax")
    assert "pip could not install" in info.value.what and "--quantizer onnxruntime" in str(info.value.remedy)
    assert find_env() is None


def _failing_env(tmp_path: Path) -> ModeloptEnv:
    """A venv whose Python fails like a modelopt crash (a traceback, exit 1)."""
    python = tmp_path / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "Traceback (most recent call last):"\necho "RuntimeError: boom" >&2\nexit 1\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return ModeloptEnv(tmp_path, {"nvidia-modelopt": "0.47.0"})


def test_a_modelopt_failure_falls_back_under_auto_and_is_an_error_when_asked_for(
    tmp_path: Path,
    small_model,
    calib,  # noqa: ANN001
) -> None:
    env = _failing_env(tmp_path)
    q = quantize_int8(small_model, calib, quantizer=QuantizerChoice("modelopt", env, requested="auto"))
    assert q.quantizer == "onnxruntime" and q.qdq_nodes > 50
    assert q.quantizer_note == "nvidia-modelopt failed on this model: nvidia-modelopt could not quantise the model " \
        "(exit 1): RuntimeError: boom"  # fmt: skip
    with pytest.raises(QuantizerError, match="RuntimeError: boom"):
        quantize_int8(small_model, calib, quantizer=QuantizerChoice("modelopt", env, requested="modelopt"))


def test_setup_command_and_doctor_report_the_venv(modelopt_env: ModeloptEnv) -> None:
    env = {**os.environ, "MUTUALSENSE_MODELOPT_VENV": str(modelopt_env.path), "COLUMNS": "250"}
    run = [str(Path(sys.executable).with_name("mutualsense"))]
    r = subprocess.run([*run, "setup-modelopt"], capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0 and "ready" in r.stdout and "nvidia-modelopt 0.47.0" in r.stdout, r.stderr
    r = subprocess.run([*run, "doctor"], capture_output=True, text=True, env=env, check=False)
    assert "nvidia-modelopt (INT8)" in r.stdout and "0.47.0" in r.stdout
    missing = {**env, "MUTUALSENSE_MODELOPT_VENV": "/nonexistent/venv"}
    r = subprocess.run([*run, "doctor"], capture_output=True, text=True, env=missing, check=False)
    assert r.returncode == 0 and "setup-modelopt" in r.stdout  # optional: a hint, not a failure
