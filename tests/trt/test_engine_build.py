"""The engine builder's logic, without TensorRT: refusals, plans, file names, the bundle update."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mutualsense.bundle import Bundle
from mutualsense.errors import EngineError, PluginError
from mutualsense.gpu import GpuInfo, jetpack_version, tensorrt_version
from mutualsense.tensorrt.engine_build import build_engine, engine_filename, plan_engine, plugin_filename
from mutualsense.tensorrt.versions import require_tensorrt

ORIN = GpuInfo("Orin", "8.7", "12.6", 1)


def test_refuses_without_tensorrt_with_the_fix() -> None:
    with pytest.raises(EngineError, match="TensorRT is not installed") as info:
        require_tensorrt(None, ORIN)
    assert "Jetson" in (info.value.remedy or "") and "JetPack" in (info.value.remedy or "")
    with pytest.raises(EngineError, match="too old"):
        require_tensorrt("8.6.1", ORIN)
    with pytest.raises(EngineError, match="no CUDA GPU"):
        require_tensorrt("10.3.0", None)


@pytest.mark.skipif(tensorrt_version() is not None, reason="TensorRT is installed: the refusal path does not apply")
def test_build_engine_here_fails_before_any_work(tmp_path: Path, fake_bundle) -> None:
    b = fake_bundle(tmp_path / "b", "fp16", 2)
    before = json.loads((b.path / "manifest.json").read_text())
    with pytest.raises(EngineError, match="not installed"):
        build_engine(b.path)
    assert json.loads((b.path / "manifest.json").read_text()) == before
    assert sorted(p.name for p in b.path.iterdir()) == ["manifest.json", "model.onnx", "model.trt.onnx"]


def test_plan_for_tensorrt_10_and_11(tmp_path: Path, fake_bundle) -> None:
    b = fake_bundle(tmp_path / "b", "fp16", 2)
    plugin = tmp_path / "libmutualsense_cda.so"
    plugin.write_bytes(b"elf")
    p10 = plan_engine(b, "10.3.0", ORIN, plugin)
    assert p10.onnx_path.name == "model.trt.onnx"  # the copy without function bodies
    assert p10.fp16_flag and not p10.strongly_typed
    assert p10.engine_file == "engine-trt10.3.0-sm87-fp16.plan" == engine_filename("10.3.0", "8.7", "fp16")
    assert p10.timing_cache.parent == b.path and "sm87" in p10.timing_cache.name
    p11 = plan_engine(b, "11.0.1", GpuInfo("Thor", "11.0", "13.0", 1), plugin)
    assert p11.strongly_typed and not p11.fp16_flag
    assert p11.engine_file == "engine-trt11.0.1-sm110-fp16.plan"
    assert not plan_engine(fake_bundle(tmp_path / "c", "fp32", 2), "10.3.0", ORIN, plugin).fp16_flag
    assert not p10.int8_flag and not p11.int8_flag
    i8 = fake_bundle(tmp_path / "d", "int8", 2)  # Q/DQ: 10.x needs the INT8 flag (plus FP16 for float parts)
    p10, p11 = (
        plan_engine(i8, "10.3.0", ORIN, plugin),
        plan_engine(i8, "11.0.1", GpuInfo("Thor", "11.0", "13.0", 1), plugin),
    )
    assert p10.int8_flag and p10.fp16_flag and not p10.strongly_typed
    assert p11.strongly_typed and not p11.int8_flag and not p11.fp16_flag


def test_plugin_is_required_for_cda_nodes(tmp_path: Path, fake_bundle) -> None:
    b = fake_bundle(tmp_path / "b", "fp16", 2)
    with pytest.raises(PluginError, match="need the MutualSense TensorRT plugin") as info:
        plan_engine(b, "10.3.0", ORIN, None)
    assert "build-plugin" in (info.value.remedy or "")
    with pytest.raises(PluginError, match="does not exist"):
        plan_engine(b, "10.3.0", ORIN, tmp_path / "missing.so")
    assert plan_engine(fake_bundle(tmp_path / "c", "fp16", 0), "10.3.0", ORIN, None).plugin is None


def test_build_adds_engine_log_and_plugin_atomically(tmp_path: Path, fake_bundle) -> None:
    b = fake_bundle(tmp_path / "b", "fp16", 2)
    plugin = tmp_path / "libmutualsense_cda.so"
    plugin.write_bytes(b"plugin-bytes")

    def fake_trt(plan, messages):  # stands in for TensorRT's builder; the bundle logic is real
        messages.append("[INFO] built")
        return b"serialized-engine"

    updated = build_engine(b.path, plugin, runner=fake_trt, trt_version="10.3.0", gpu=ORIN)
    again = Bundle.load(b.path)
    (entry,) = again.manifest["engines"]
    assert entry == updated.manifest["engines"][0]
    assert entry["tensorrt"] == "10.3.0" and entry["compute_capability"] == "8.7"
    assert entry["plugin_sha256"] == again.manifest["files"][plugin_filename("10.3.0", "8.7")]["sha256"]
    assert entry["plugin"] == "libmutualsense_cda-trt10.3-sm87.so"
    assert (b.path / entry["file"]).read_bytes() == b"serialized-engine"
    assert "[INFO] built" in (b.path / entry["file"].replace(".plan", ".log")).read_text()

    def failing_trt(plan, messages):
        raise EngineError("TensorRT failed to build the engine.", "read the log")

    with pytest.raises(EngineError):
        build_engine(b.path, plugin, runner=failing_trt, trt_version="10.4.0", gpu=ORIN)
    assert Bundle.load(b.path).manifest["engines"] == again.manifest["engines"]
    assert not [p for p in b.path.iterdir() if p.name.startswith(".")]


def test_jetpack_release_parsing(tmp_path: Path) -> None:
    f = tmp_path / "nv_tegra_release"
    f.write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64\n")
    assert jetpack_version(f) == "R36.4.3"
    assert jetpack_version(tmp_path / "absent") is None
