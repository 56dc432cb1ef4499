"""The CDA plugin's Python side: building it refuses before any work, loading it is guarded in one place.

TensorRT itself is absent here, so the loading tests hand :func:`load_plugin` a stand-in for the
``tensorrt`` module whose registry behaves as TensorRT's documented Python API does: ``load_library``
returns None on failure (it does not raise) and ``get_creator`` returns None for an unknown creator.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mutualsense.errors import PluginError
from mutualsense.tensorrt import plugin_build as pb
from mutualsense.tensorrt.plugin_loading import CDA_CREATOR, load_plugin

NVCC = pb.find_nvcc()
CMAKE = pb.find_cmake()


class FakeRegistry:
    """TensorRT's plugin registry as seen from Python: libraries by path, creators by (name, version, namespace)."""

    def __init__(self, loads: bool, registers: tuple[str, str, str] | None, raises: bool = False) -> None:
        self.loads, self.registers, self.raises = loads, registers, raises
        self.creators: set[tuple[str, str, str]] = set()
        self.loaded: list[str] = []

    def load_library(self, path: str) -> object | None:
        if self.raises:
            raise RuntimeError("dlopen failed")
        if not self.loads:
            return None
        self.loaded.append(path)
        if self.registers:
            self.creators.add(self.registers)
        return object()

    def get_creator(self, name: str, version: str, plugin_namespace: str = "") -> object | None:
        return object() if (name, version, plugin_namespace) in self.creators else None


def fake_trt(registry: FakeRegistry) -> Any:
    calls: list[str] = []
    return SimpleNamespace(
        __version__="10.3.0",
        init_libnvinfer_plugins=lambda logger, namespace: calls.append(namespace) or True,
        get_plugin_registry=lambda: registry,
        calls=calls,
    )


@pytest.fixture
def library(tmp_path: Path) -> Path:
    lib = tmp_path / "libmutualsense_cda.so"
    lib.write_bytes(b"\x7fELF")
    return lib


def test_a_library_tensorrt_cannot_load_is_a_plugin_error_with_the_rebuild_hint(library: Path) -> None:
    trt = fake_trt(FakeRegistry(loads=False, registers=None))
    with pytest.raises(PluginError, match="could not load plugin library") as info:
        load_plugin(trt, library, logger=None)
    assert "mutualsense build-plugin" in (info.value.remedy or "")
    trt = fake_trt(FakeRegistry(loads=False, registers=None, raises=True))
    with pytest.raises(PluginError, match="dlopen failed"):
        load_plugin(trt, library, logger=None, remedy="do X")


def test_a_library_without_our_creator_is_refused_before_parsing(library: Path) -> None:
    for wrong in (None, ("CrossDiffusionAttention", "2", ""), ("CrossDiffusionAttention", "1", "mutualsense")):
        trt = fake_trt(FakeRegistry(loads=True, registers=wrong))
        with pytest.raises(PluginError, match="no creator 'CrossDiffusionAttention' version '1'"):
            load_plugin(trt, library, logger=None)


def test_the_plugin_loads_when_the_creator_is_registered(library: Path, tmp_path: Path) -> None:
    registry = FakeRegistry(loads=True, registers=CDA_CREATOR)
    trt = fake_trt(registry)
    load_plugin(trt, library, logger=None)
    assert registry.loaded == [str(library)] and trt.calls == [""]  # TensorRT's own plugins registered too
    with pytest.raises(PluginError, match="does not exist"):
        load_plugin(trt, tmp_path / "absent.so", logger=None)


def test_plugin_sources_are_found_without_importing_the_export_toolchain() -> None:
    code = (
        "import sys; from mutualsense.tensorrt.plugin_build import plugin_sources; p = plugin_sources(); "
        "assert (p / 'CMakeLists.txt').is_file() and (p / 'cda_plugin.cpp').is_file(), p; "
        "assert 'mutualsense.export' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _refused(out: Path, exc: pytest.ExceptionInfo[PluginError]) -> str:
    assert not out.exists(), "build_plugin did work before refusing"
    return f"{exc.value.what} {exc.value.remedy}"


def test_build_plugin_refuses_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    cases: list[tuple[dict[str, Callable[[], Any]], str]] = [
        ({"find_cmake": lambda: None}, "cmake was not found"),
        ({"find_cmake": lambda: "/usr/bin/cmake", "find_nvcc": lambda: None}, "nvcc (the CUDA compiler)"),
        (
            {
                "find_cmake": lambda: "/usr/bin/cmake",
                "find_nvcc": lambda: "/usr/bin/nvcc",
                "find_tensorrt": lambda: None,
            },
            "TensorRT headers not found",
        ),
    ]
    for patches, message in cases:
        with monkeypatch.context() as m:
            for name, fn in patches.items():
                m.setattr(pb, name, fn)
            with pytest.raises(PluginError) as exc:
                pb.build_plugin(out)
            text = _refused(out, exc)
            assert message in text
            if "TensorRT" in message:
                assert "JetPack >= 6" in text and "TensorRT_ROOT" in text


@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
def test_build_plugin_refuses_unknown_arch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pb, "find_cmake", lambda: "/usr/bin/cmake")
    monkeypatch.setattr(pb, "find_tensorrt", lambda: (tmp_path, tmp_path))
    out = tmp_path / "out"
    with pytest.raises(PluginError) as exc:
        pb.build_plugin(out, "12")
    assert "cannot compile for sm_12" in _refused(out, exc)


@pytest.mark.tensorrt
@pytest.mark.slow
@pytest.mark.skipif(pb.find_tensorrt() is None, reason="TensorRT headers not found")
@pytest.mark.skipif(CMAKE is None or NVCC is None, reason="cmake or nvcc not found")
def test_build_plugin_for_real(tmp_path: Path) -> None:
    lib = pb.build_plugin(tmp_path)
    assert lib.name == pb.PLUGIN_LIBRARY_NAME and lib.is_file()
    handle = ctypes.CDLL(str(lib))
    assert hasattr(handle, "getCreators") and hasattr(handle, "setLoggerFinder")


@pytest.mark.parametrize("first", ["mutualsense.tensorrt", "mutualsense.tensorrt.backend", "mutualsense.backends"])
def test_the_wing_and_the_backends_import_in_either_order_without_torch_or_tensorrt(first: str) -> None:
    code = (
        f"import sys, {first}; from mutualsense.backends import TensorRTBackend; "
        "from mutualsense.tensorrt import build_engine, load_plugin; "
        "assert not {'torch', 'tensorrt', 'mutualsense.export'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
