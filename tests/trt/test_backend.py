"""TensorRT backend logic that needs no GPU: engine selection, rebuild advice, I/O planning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mutualsense.bundle import update_bundle
from mutualsense.errors import EngineError
from mutualsense.gpu import GpuInfo, gpu_info, tensorrt_version
from mutualsense.tensorrt.backend import ALIGNMENT, TensorRTBackend, plan_io, select_engine

ORIN = GpuInfo("Orin", "8.7", "12.6", 1)


def with_engines(bundle, tmp_path: Path, entries: list[dict]):
    files = {}
    for e in entries:
        f = tmp_path / e["file"]
        f.write_bytes(b"plan")
        files[e["file"]] = (f, "engine")
    return update_bundle(bundle, files, {"engines": entries})


def entry(trt: str, cc: str) -> dict:
    return {
        "file": f"engine-trt{trt}-sm{cc.replace('.', '')}-fp16.plan",
        "tensorrt": trt,
        "compute_capability": cc,
        "precision": "fp16",
    }


def test_selects_the_engine_for_this_tensorrt_and_gpu(tmp_path: Path, fake_bundle) -> None:
    b = with_engines(
        fake_bundle(tmp_path / "b", "fp16", 2), tmp_path, [entry("10.3.0", "8.7"), entry("10.13.2", "11.0")]
    )
    assert select_engine(b, "10.3.1", ORIN)["tensorrt"] == "10.3.0"  # patch releases share plans
    assert select_engine(b, "10.13.0", GpuInfo("Thor", "11.0", "13.0", 1))["compute_capability"] == "11.0"


def test_mismatch_says_what_was_expected_found_and_the_rebuild_command(tmp_path: Path, fake_bundle) -> None:
    b = with_engines(fake_bundle(tmp_path / "b", "fp16", 2), tmp_path, [entry("10.3.0", "8.7")])
    with pytest.raises(EngineError) as info:
        select_engine(b, "10.7.0", ORIN)
    msg = str(info.value)
    assert "TensorRT 10.7.0" in msg and "TensorRT 10.3.0 on sm 8.7" in msg
    assert f"mutualsense build-engine {b.path}" in (info.value.remedy or "")
    with pytest.raises(EngineError, match="no TensorRT engine yet"):
        select_engine(fake_bundle(tmp_path / "c"), "10.3.0", ORIN)
    with pytest.raises(EngineError, match="--backend ort"):
        select_engine(b, None, ORIN)


def test_io_plan_is_aligned_and_checked_against_the_manifest() -> None:
    tensors = [
        ("rgb", True, (1, 3, 96, 96), np.dtype(np.float32)),
        ("depth", True, (1, 1, 96, 96), np.dtype(np.float32)),
        ("saliency", False, (1, 1, 96, 96), np.dtype(np.float16)),
    ]
    shapes = {"rgb": [1, 3, 96, 96], "depth": [1, 1, 96, 96], "saliency": [1, 1, 96, 96]}
    plan = plan_io(tensors, shapes)
    assert [t.offset % ALIGNMENT for t in plan] == [0, 0, 0]
    assert plan[1].offset >= plan[0].offset + plan[0].nbytes and plan[2].nbytes == 96 * 96 * 2
    with pytest.raises(EngineError, match="manifest says"):
        plan_io(tensors, {**shapes, "rgb": [2, 3, 96, 96]})
    with pytest.raises(EngineError, match="dynamic shape"):
        plan_io([("rgb", True, (-1, 3, 96, 96), np.dtype(np.float32))], {})
    with pytest.raises(EngineError, match="lacks tensors"):
        plan_io(tensors[:2], shapes)


@pytest.mark.skipif(
    tensorrt_version() is not None and gpu_info() is not None, reason="TensorRT and a GPU are present: refusal path n/a"
)
def test_backend_refuses_cleanly_without_tensorrt(tmp_path: Path, fake_bundle) -> None:
    b = with_engines(fake_bundle(tmp_path / "b", "fp16", 2), tmp_path, [entry("10.3.0", "8.7")])
    with pytest.raises(EngineError, match="cannot run"):
        TensorRTBackend(b)


def test_first_use_builds_the_engine_and_plugin_into_the_bundle_once(tmp_path: Path, fake_bundle) -> None:
    from functools import partial

    from mutualsense.tensorrt.backend import ensure_engine
    from mutualsense.tensorrt.engine_build import build_engine

    b = fake_bundle(tmp_path / "b", "fp16", 2)  # CDA nodes: needs the plugin, none in the bundle yet
    built: list[str] = []

    def make_plugin(out: Path, arch: str) -> Path:  # stands in for CMake + nvcc
        out.mkdir(parents=True)
        built.append(arch)
        (out / "libmutualsense_cda.so").write_bytes(b"plugin for sm" + arch.encode())
        return out / "libmutualsense_cda.so"

    def runner(plan, messages):  # stands in for TensorRT's build call only
        assert plan.plugin is not None and plan.plugin.read_bytes() == b"plugin for sm87"
        return b"engine"

    builder = partial(build_engine, runner=runner, make_plugin=make_plugin)
    lines: list[str] = []
    updated, found = ensure_engine(b, True, lines.append, "10.3.0", ORIN, builder)
    assert found["file"] == "engine-trt10.3.0-sm87-fp16.plan" and built == ["87"]
    assert (updated.path / found["file"]).read_bytes() == b"engine"
    assert (updated.path / found["plugin"]).read_bytes() == b"plugin for sm87"
    assert any("no engine for TensorRT 10.3.0" in line and "--no-build" in line for line in lines)
    assert any("building the CDA plugin" in line for line in lines)
    _, again = ensure_engine(updated, True, lines.append, "10.3.0", ORIN, builder)  # nothing to build now
    assert again == found and built == ["87"]
    # after a JetPack upgrade the old engine is stale: a new one is built beside it, the plugin too
    newer, entry = ensure_engine(updated, True, lines.append, "10.13.3", ORIN, builder)
    assert entry["tensorrt"] == "10.13.3" and built == ["87", "87"]
    assert {e["tensorrt"] for e in newer.manifest["engines"]} == {"10.3.0", "10.13.3"}


def test_no_build_refuses_with_the_command_and_the_build_hint(tmp_path: Path, fake_bundle) -> None:
    from mutualsense.tensorrt.backend import ensure_engine

    def never(*args, **kwargs):
        raise AssertionError("--no-build must not build")

    b = fake_bundle(tmp_path / "b", "fp16", 2)
    with pytest.raises(EngineError, match="no TensorRT engine yet") as info:
        ensure_engine(b, False, None, "10.3.0", ORIN, never)
    assert "leave out --no-build" in (info.value.remedy or "") and "mutualsense build-engine" in info.value.remedy
    stale = with_engines(b, tmp_path, [entry("10.3.0", "8.7")])
    with pytest.raises(EngineError, match="no engine for this device"):
        ensure_engine(stale, False, None, "10.13.0", ORIN, never)


def test_stale_engines_are_named_before_deserialising() -> None:
    from mutualsense.tensorrt.versions import parse_version, stale_reason

    e = entry("10.3.0", "8.7")
    assert stale_reason(e, "10.3.1", ORIN) is None
    assert "built with TensorRT 10.3.0, this is TensorRT 10.13.3.9" in (stale_reason(e, "10.13.3.9", ORIN) or "")
    thor = GpuInfo("Thor", "11.0", "13.0", 1)
    assert "this GPU is sm 11.0" in (stale_reason(e, "10.3.0", thor) or "")
    assert parse_version("10.13.3.9.post1") == (10, 13, 3, 9) and parse_version("11.4.0.106") == (11, 4, 0, 106)


class _Registry:
    def __init__(self, loads: bool) -> None:
        self.loads = loads

    def load_library(self, path: str) -> object | None:
        return object() if self.loads else None

    def get_creator(self, name: str, version: str, plugin_namespace: str = "") -> object | None:
        return object() if (name, version, plugin_namespace) == ("CrossDiffusionAttention", "1", "") else None


def _fake_tensorrt(monkeypatch: pytest.MonkeyPatch, version: str, loads: bool = True) -> list[str]:
    """Stand-ins for the ``tensorrt`` and ``cuda.bindings`` modules: record what the backend asked of them."""
    import sys
    from types import ModuleType

    calls: list[str] = []

    class Runtime:
        def __init__(self, logger: object) -> None:
            calls.append("Runtime")

        def deserialize_cuda_engine(self, data: bytes) -> None:
            calls.append("deserialize")
            return None  # what TensorRT answers for a plan it cannot read

    trt = ModuleType("tensorrt")
    trt.__version__ = version  # type: ignore[attr-defined]
    trt.Logger = lambda severity: "logger"  # type: ignore[attr-defined]
    trt.Logger.WARNING = 2  # type: ignore[attr-defined]
    trt.init_libnvinfer_plugins = lambda logger, namespace: calls.append("init_plugins")  # type: ignore[attr-defined]
    registry = _Registry(loads)
    trt.get_plugin_registry = lambda: registry  # type: ignore[attr-defined]
    trt.Runtime = Runtime  # type: ignore[attr-defined]
    cuda, bindings, runtime = ModuleType("cuda"), ModuleType("cuda.bindings"), ModuleType("cuda.bindings.runtime")
    bindings.runtime = runtime  # type: ignore[attr-defined]
    cuda.bindings = bindings  # type: ignore[attr-defined]
    for name, module in {
        "tensorrt": trt,
        "cuda": cuda,
        "cuda.bindings": bindings,
        "cuda.bindings.runtime": runtime,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    return calls


def _backend_bundle(tmp_path: Path, fake_bundle, monkeypatch: pytest.MonkeyPatch):
    import mutualsense.tensorrt.backend as backend

    monkeypatch.setattr(backend, "tensorrt_version", lambda: "10.3.0")
    monkeypatch.setattr(backend, "gpu_info", lambda: ORIN)
    b = fake_bundle(tmp_path / "b", "fp16", 2)
    plugin = tmp_path / "libmutualsense_cda-trt10.3-sm87.so"
    plugin.write_bytes(b"\x7fELF")
    e = {**entry("10.3.0", "8.7"), "plugin": plugin.name}
    return with_engines(update_bundle(b, {plugin.name: (plugin, "plugin")}, {}), tmp_path, [e])


def test_a_stale_engine_is_refused_before_tensorrt_deserialises_it(tmp_path: Path, fake_bundle, monkeypatch) -> None:
    b = _backend_bundle(tmp_path, fake_bundle, monkeypatch)
    calls = _fake_tensorrt(monkeypatch, "10.13.3")  # metadata said 10.3, the module imported is 10.13
    with pytest.raises(EngineError, match="is stale here") as info, TensorRTBackend(b, build=False):
        pass
    assert "built with TensorRT 10.3.0, this is TensorRT 10.13.3" in str(info.value)
    assert "deserialize" not in calls and "Runtime" not in calls


def test_the_backend_loads_the_plugin_through_the_guard(tmp_path: Path, fake_bundle, monkeypatch) -> None:
    from mutualsense.errors import PluginError

    b = _backend_bundle(tmp_path, fake_bundle, monkeypatch)
    calls = _fake_tensorrt(monkeypatch, "10.3.0", loads=False)
    with pytest.raises(PluginError, match="could not load plugin library") as info, TensorRTBackend(b, build=False):
        pass
    assert "mutualsense build-plugin" in (info.value.remedy or "") and "deserialize" not in calls
    calls = _fake_tensorrt(monkeypatch, "10.3.0", loads=True)
    with pytest.raises(EngineError, match="could not deserialize"), TensorRTBackend(b, build=False):
        pass
    assert calls == ["init_plugins", "Runtime", "deserialize"]


def test_no_build_reaches_the_backend_from_the_cli(tmp_path: Path, fake_bundle, monkeypatch, capsys) -> None:
    from conftest import cli_in_process

    import mutualsense.tensorrt.backend as backend

    monkeypatch.setattr(backend, "tensorrt_version", lambda: "10.3.0")
    monkeypatch.setattr(backend, "gpu_info", lambda: ORIN)
    built: list[Path] = []
    monkeypatch.setattr(backend, "build_engine", lambda path, **kw: built.append(path))
    b = fake_bundle(tmp_path / "b", "fp16", 2)
    for command in (["stream", "--source", "synthetic"], ["profile", "--backend-only", "--frames", "2"]):
        code, _, err = cli_in_process(
            *command, "--bundle", str(b.path), "--backend", "tensorrt", "--no-build", capsys=capsys
        )
        assert code == 2 and "no TensorRT engine yet" in err and "leave out --no-build" in err, err
    assert built == []
