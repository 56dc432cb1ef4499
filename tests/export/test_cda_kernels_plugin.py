"""The TensorRT plugin's robustness, checked without TensorRT.

- the build-time shape and type checks (``export/plugin/cda_shapes.h``, plain C++) compiled with the system
  compiler and run: k/v shapes that differ from q are refused, with both shapes in the message;
- the plugin calls them from every IPluginV3 method that sees shapes (getOutputShapes, configurePlugin,
  onShapeChange);
- no ``noexcept`` function of the plugin allocates (std::string, new, vector growth) outside a try block.

Where TensorRT's headers are installed, test_cda_kernels_cpu.py also compiles the plugin against them and
drives it on the CPU.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "export" / "plugin"
CXX = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++") or shutil.which("clang++")
MAX_RANK = 8
Q = [1, 2, 37, 64]


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    if CXX is None:
        pytest.skip("no C++ compiler (g++, c++ or clang++ on PATH, or $CXX)")
    lib = tmp_path_factory.mktemp("shape_checks") / "libshape_checks.so"
    src = Path(__file__).resolve().parent / "plugin_checks" / "shape_checks.cpp"
    cmd = [CXX, "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-I", str(PLUGIN), str(src)]
    out = subprocess.run([*cmd, "-o", str(lib)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    handle = ctypes.CDLL(str(lib))
    handle.check_shapes.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    handle.check_types.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    return handle


def _check(lib: ctypes.CDLL, shapes: list[list[int]], cap: int = 512) -> tuple[bool, str]:
    ranks = np.array([len(s) for s in shapes], np.int32)
    dims = np.zeros((len(shapes), MAX_RANK), np.int64)
    for i, s in enumerate(shapes):
        dims[i, : len(s)] = s
    msg = ctypes.create_string_buffer(cap)
    ok = lib.check_shapes(len(shapes), ranks.ctypes.data, dims.ctypes.data, msg, cap)
    return bool(ok), msg.value.decode()


def test_identical_shapes_pass(checks: ctypes.CDLL) -> None:
    assert _check(checks, [Q] * 10) == (True, "")
    assert _check(checks, [[1, 2, -1, 64]] * 3 + [Q] * 7) == (True, "")  # unknown dims agree with anything


@pytest.mark.parametrize(
    ("index", "shape", "message"),
    [
        (1, [1, 2, 50, 64], "k_r is [1, 2, 50, 64] but q_r is [1, 2, 37, 64] in the profile's max shapes"),
        (5, [1, 2, 37, 32], "v_d is [1, 2, 37, 32] but q_r is [1, 2, 37, 64]"),
        (4, [2, 2, 37, 64], "k_d is [2, 2, 37, 64] but q_r is [1, 2, 37, 64]"),
        (8, [1, 1, 37, 64], "o_rd is [1, 1, 37, 64] but q_r"),
        (
            2,
            [2, 37, 64],
            "v_r is [2, 37, 64] in the profile's max shapes: every tensor of CrossDiffusionAttention "
            "must be 4-D [B, H, N, d]",
        ),
        (3, [1, 2, -1, 64, 1], "q_d is [1, 2, ?, 64, 1]"),
    ],
)
def test_differing_shapes_are_refused_by_name(checks: ctypes.CDLL, index: int, shape: list[int], message: str) -> None:
    shapes = [Q] * 10
    shapes[index] = shape
    ok, msg = _check(checks, shapes)
    assert not ok and message in msg, msg


def test_message_is_truncated_safely(checks: ctypes.CDLL) -> None:
    ok, msg = _check(checks, [Q, [1, 2, 50, 64]], cap=12)
    assert not ok and msg == "k_r is [1, "  # 11 characters and the terminator


def test_types_must_agree(checks: ctypes.CDLL) -> None:
    msg = ctypes.create_string_buffer(256)
    same = np.zeros(10, np.int32)
    assert checks.check_types(10, same.ctypes.data, msg, 256) == 1 and msg.value == b""
    mixed = same.copy()
    mixed[5] = 1
    assert checks.check_types(10, mixed.ctypes.data, msg, 256) == 0
    assert msg.value.decode().startswith("v_d is float16 but q_r is float32")


# ---- the plugin source: where the checks are called, and no allocation outside try in noexcept code --------


def _strip(text: str) -> str:
    """The C++ text with comments removed and string/char literals emptied (braces inside them ignored)."""
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', text)


def _block(text: str, open_at: int) -> int:
    """Index just past the brace that closes the one at `open_at`."""
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    raise ValueError("unbalanced braces")


def noexcept_bodies(source: str) -> dict[str, str]:
    """Name → body of every function defined ``noexcept`` in a C++ source."""
    text = _strip(source)
    bodies = {}
    for m in re.finditer(r"\)\s*(?:const\s*)?noexcept\s*(?:override\s*)?\{", text):
        start = max(text.rfind("\n\n", 0, m.start()), text.rfind("\n}", 0, m.start()), 0)
        name = re.search(r"([\w:~]+)\s*\(", text[start : m.end()])
        assert name is not None
        bodies[name.group(1)] = text[m.end() - 1 : _block(text, m.end() - 1)]
    return bodies


_ALLOCATING = re.compile(r"std::string|to_string|std::vector|\bnew\b|emplace_back|push_back|make_unique|make_shared")


def allocations_outside_try(body: str) -> list[str]:
    """What in a function body may allocate (and so throw) outside its try blocks; catch handlers count."""
    while (m := re.search(r"\btry\s*\{", body)) is not None:
        body = body[: m.start()] + body[_block(body, m.end() - 1) :]
    return _ALLOCATING.findall(body)


def test_noexcept_functions_allocate_only_inside_try() -> None:
    bodies = noexcept_bodies((PLUGIN / "cda_plugin.cpp").read_text())
    for name in (
        "CdaPlugin::enqueue",
        "CdaPlugin::configurePlugin",
        "CdaPlugin::clone",
        "CdaPluginCreator::createPlugin",
        "CdaPlugin::getFieldsToSerialize",
        "logError",
        "CdaPlugin::onShapeChange",
        "CdaPlugin::getOutputShapes",
    ):
        assert name in bodies, sorted(bodies)
    assert len(bodies) >= 20
    found = {name: hits for name, body in bodies.items() if (hits := allocations_outside_try(body))}
    assert found == {}, f"noexcept functions that may throw bad_alloc: {found}"


def test_the_allocation_check_can_fail() -> None:
    old = """int32_t f(int s) noexcept
{
    try { std::string ok = "x"; } catch (std::exception const& e) { log(std::string("failed: ") + e.what()); }
    if (s != 0)
        log("status " + std::to_string(s));
    return s;
}
"""
    assert allocations_outside_try(noexcept_bodies(old)["f"]) == ["std::string", "to_string"]


def test_shape_checks_are_called_where_tensorrt_shows_shapes() -> None:
    bodies = noexcept_bodies((PLUGIN / "cda_plugin.cpp").read_text())
    for name in ("CdaPlugin::getOutputShapes", "CdaPlugin::configurePlugin", "CdaPlugin::onShapeChange"):
        assert "checkShapes(" in bodies[name], name
    for name in ("CdaPlugin::configurePlugin", "CdaPlugin::onShapeChange"):
        assert "cda::same_types(" in bodies[name], name
    # configurePlugin sees the network's dims and the profile's min, opt and max: all four are checked
    assert all(f"t.{field}" in bodies["CdaPlugin::configurePlugin"] for field in ("desc.dims", "min", "opt", "max"))
    assert "checkShapes(shapes, kAll" in bodies["CdaPlugin::configurePlugin"]  # inputs and outputs
