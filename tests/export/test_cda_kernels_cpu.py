"""The CUDA kernels of the CDA node, unmodified, executed on the CPU and compared with the PyTorch CDA.

``export/plugin/cda_kernels.cu`` goes through a small rewrite (``k<<<g, b, s, st>>>(args)`` → a call of the
stand-in's launcher, ``__shared__`` declarations → per-block memory) and is compiled by the system C++
compiler against ``tests/export/cuda_on_cpu/`` (cuda_runtime.h, cuda_fp16.h: every CUDA thread a fibre,
real block barriers, warp shuffles as 32-lane exchanges, per-block shared memory, launch limits).
The four outputs are compared with ``cross_diffusion_attention`` in float32 and float16 for N not a multiple
of 32, N = 1 and several d and B·H, under forward, reverse and shuffled thread orders; the same build runs
once more under AddressSanitizer and UndefinedBehaviorSanitizer. The stand-in itself is checked by small
kernels of its own (selftest.cu): shuffle semantics, a missing barrier changes the result, divergent
barriers and launches over the limits are reported.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

HARNESS = Path(__file__).resolve().parent / "cuda_on_cpu"
PLUGIN = Path(__file__).resolve().parents[2] / "export" / "plugin"  # the sources as they are in the repository
CXX = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++") or shutil.which("clang++")
pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++, c++ or clang++ on PATH, or $CXX)")

ORIN_OPTIN = 166912  # Jetson Orin's opt-in shared memory per block, bytes
SCHEDULES = {"forward": 0, "reverse": 1, "shuffled": 2}
_PTR = ctypes.c_void_p
_CDA_ARGS = [_PTR] * 11 + [ctypes.c_int] * 4 + [ctypes.c_float] * 2 + [_PTR]

# ---- the rewrite of a .cu into C++ for the stand-in ------------------------------------------------------------

_BOUNDS = re.compile(r"__launch_bounds__\s*\(([^()]*)\)\s*([A-Za-z_]\w*)\s*\(")
_LAUNCH = re.compile(r"([A-Za-z_]\w*)(\s*<[^<>;(){}]*>)?\s*<<<(.*?)>>>\s*\(", re.S)
_EXTERN_SHARED = re.compile(r"extern\s+__shared__\s+([A-Za-z_][\w:]*)\s+([A-Za-z_]\w*)\s*\[\s*\]\s*;")
_STATIC_SHARED = re.compile(r"__shared__\s+([A-Za-z_][\w:]*)\s+([A-Za-z_]\w*)((?:\s*\[[^\]]+\])*)\s*;")


def cuda_to_cpp(source: str, path: Path) -> str:
    """C++ for cuda_on_cpu.h from CUDA source, line for line (``#line`` keeps the .cu's names in messages)."""
    bounds = {name: expr.split(",")[0] for expr, name in _BOUNDS.findall(source)}

    def launch(m: re.Match[str]) -> str:
        name, targs, cfg = m.group(1), m.group(2) or "", m.group(3)
        bound = f".with_bound({bounds[name]})" if name in bounds else ""
        newlines = "\n" * cfg.count("\n")
        return f"::cuda_cpu::launch({name}{targs}, ::cuda_cpu::config({' '.join(cfg.split())}){bound}, {newlines}"

    out = _LAUNCH.sub(launch, source)
    out = _EXTERN_SHARED.sub(r"\1* \2 = static_cast<\1*>(::cuda_cpu::dynamic_shared());", out)
    out = _STATIC_SHARED.sub(r"auto& \2 = ::cuda_cpu::static_shared<\1\3>(__LINE__);", out)
    for token in ("<<<", "__shared__"):
        if token in out:
            line = out[: out.index(token)].count("\n") + 1
            raise ValueError(f"{path}:{line}: '{token}' in a form the CPU rewrite does not handle")
    return f'#line 1 "{path}"\n{out}'


def test_rewrite_keeps_lines_and_refuses_unknown_forms() -> None:
    src = "__global__ void __launch_bounds__(64) k(int* o)\n{\n    __shared__ float t[2][3];\n}\nk<<<g,\n b>>>(o);\n"
    out = cuda_to_cpp(src, Path("x.cu")).splitlines()
    assert out[1:] == [
        "__global__ void __launch_bounds__(64) k(int* o)",
        "{",
        "    auto& t = ::cuda_cpu::static_shared<float[2][3]>(__LINE__);",
        "}",
        "::cuda_cpu::launch(k, ::cuda_cpu::config(g, b).with_bound(64), ",
        "o);",
    ]
    with pytest.raises(ValueError, match="x.cu:1: '__shared__'"):
        cuda_to_cpp("__shared__ float *p;", Path("x.cu"))


# ---- building ---------------------------------------------------------------------------------------------------

_FLAGS = ["-std=c++17", "-D__CUDACC__", "-D__CUDA_ARCH__=870", "-Wall", "-Wno-unknown-pragmas", "-pthread"]
_FLAGS += ["-I", str(HARNESS), "-I", str(PLUGIN)]
_SANITIZE = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def _translate(out_dir: Path, cu: Path) -> Path:
    cpp = out_dir / f"{cu.stem}.cpu.cpp"
    cpp.write_text(cuda_to_cpp(cu.read_text(), cu))
    return cpp


class _Build:
    """One compiler run into the build cache ($XDG_CACHE_HOME or ~/.cache, /mutualsense/cuda-on-cpu/KEY/),
    started at once and in the background; KEY hashes the compiler, the flags and every source, so a
    changed kernel, header or harness file is always rebuilt."""

    def __init__(self, name: str, args: list[str], sources: list[Path]) -> None:
        cmd = [str(CXX), *_FLAGS, *args]
        version = subprocess.run([str(CXX), "--version"], capture_output=True, text=True, check=False).stdout
        digest = hashlib.sha256("\0".join([version, *cmd]).encode())
        for path in sorted({*HARNESS.iterdir(), *PLUGIN.iterdir(), *sources}):
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mutualsense" / "cuda-on-cpu"
        self.path = root / digest.hexdigest()[:24] / name
        self.proc: subprocess.Popen[str] | None = None
        if not self.path.is_file():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = self.path.with_name(f"{name}.tmp{os.getpid()}")
            self.proc = subprocess.Popen(
                [*cmd, *map(str, sources), "-o", str(self._tmp)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def wait(self) -> Path:
        if self.proc is not None:
            out, _ = self.proc.communicate(timeout=600)
            if self.proc.returncode != 0:
                pytest.fail(f"compiling {self.path.name} failed:\n{out}")
            os.replace(self._tmp, self.path)
            self.proc = None
        return self.path


@dataclass
class Builds:
    lib: ctypes.CDLL
    asan: _Build
    kernels: Path  # the rewritten cda_kernels.cu


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Builds:
    """The stand-in build as a library (-O2, for ctypes) and, compiled alongside, the sanitised driver program."""
    out = tmp_path_factory.mktemp("cuda_on_cpu")
    kernels = _translate(out, PLUGIN / "cda_kernels.cu")
    selftest = _translate(out, HARNESS / "selftest.cu")
    runtime = HARNESS / "cuda_on_cpu.cpp"
    asan = _Build("cda_driver_asan", _SANITIZE, [kernels, runtime, HARNESS / "driver.cpp"])
    request.addfinalizer(asan.wait)  # publish it to the cache even when its test was not selected
    lib_path = _Build("libcda_on_cpu.so", ["-O2", "-fPIC", "-shared"], [kernels, selftest, runtime]).wait()
    lib = ctypes.CDLL(str(lib_path))
    for name in ("cda_forward_f32", "cda_forward_f16"):
        getattr(lib, name).argtypes = _CDA_ARGS
        getattr(lib, name).restype = ctypes.c_int
    lib.cda_workspace_bytes.restype = ctypes.c_size_t
    lib.cda_workspace_bytes.argtypes = [ctypes.c_int] * 3
    lib.cuda_cpu_configure.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_uint]
    lib.cuda_cpu_fault.restype = ctypes.c_char_p
    lib.cuda_cpu_launch_log.restype = ctypes.c_char_p
    lib.cuda_cpu_float_to_half.argtypes = lib.cuda_cpu_half_to_float.argtypes = [_PTR, _PTR, ctypes.c_size_t]
    for name, ints in [
        ("shuffle", 4),
        ("reverse", 2),
        ("divergent_barrier", 0),
        ("exited_lane_shuffle", 0),
        ("launch", 1),
        ("dims", 0),
    ]:
        getattr(lib, f"selftest_{name}").argtypes = [*[ctypes.c_int] * ints, *[_PTR] * (2 if name == "reverse" else 1)]
    return Builds(lib, asan, kernels)


def _configure(lib: ctypes.CDLL, optin: int = ORIN_OPTIN, schedule: str = "forward", seed: int = 1) -> None:
    lib.cuda_cpu_configure(optin, SCHEDULES[schedule], seed)


def _fault(lib: ctypes.CDLL) -> str:
    return str(lib.cuda_cpu_fault().decode())


# ---- the CDA kernels vs torch ------------------------------------------------------------------------------------

Shape = tuple[int, int, int, int]


def _inputs(shape: Shape, dtype: str, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.ascontiguousarray(rng.standard_normal(shape).astype(dtype)) for _ in range(6)]


def _reference(ins: list[np.ndarray], alpha: float, scale: float) -> list[np.ndarray]:
    torch = pytest.importorskip("torch")
    from mutualsense.export.model.cda import cross_diffusion_attention

    with torch.no_grad():  # float64 on the (rounded) inputs: the kernels' own error, not the reference's
        outs = cross_diffusion_attention(
            *(torch.from_numpy(a.astype(np.float64)) for a in ins), alpha=alpha, scale=scale
        )
    return [o.numpy() for o in outs]


def _run(lib: ctypes.CDLL, ins: list[np.ndarray], alpha: float, scale: float) -> tuple[int, list[np.ndarray]]:
    B, H, N, d = ins[0].shape
    outs = [np.full_like(ins[0], np.nan) for _ in range(4)]
    workspace = np.full(lib.cda_workspace_bytes(B, H, N) // 4, np.nan, np.float32)
    forward = lib.cda_forward_f32 if ins[0].dtype == np.float32 else lib.cda_forward_f16
    rc = forward(*(a.ctypes.data for a in [*ins, *outs, workspace]), B, H, N, d, alpha, scale, None)
    return rc, outs


def errors(got: list[np.ndarray], want: list[np.ndarray]) -> list[tuple[float, float]]:
    """(max abs error, max abs error / max |reference|) per output; NaN where any element is NaN."""
    out = []
    for g, w in zip(got, want, strict=True):
        err = float(np.abs(g.astype(np.float64) - w).max())
        out.append((err, err / float(np.abs(w).max())))
    return out


def worst(errs: list[tuple[float, float]]) -> float:
    """The largest absolute error, NaN if any is (Python's max() would skip a NaN)."""
    return float(np.max([e for e, _ in errs]))


# (B, H, N, d): N = 1, N not a multiple of 32 (37, 65, 100), d from 16 to 128, B·H from 1 to 4
SHAPES: list[Shape] = [
    (1, 1, 1, 64),
    (1, 2, 37, 64),
    (2, 2, 100, 64),
    (1, 3, 37, 32),
    (2, 1, 65, 16),
    (1, 1, 40, 48),
    (1, 1, 33, 128),
]
# max abs error allowed for outputs of magnitude ~1 (standard normal inputs): float32 accumulation; for
# float16 the storage rounding of the outputs and of O_r, O_d and the partial read back by kernel 2
TOLERANCE = {"float32": 5e-6, "float16": 2.5e-3}


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_kernels_match_torch(builds: Builds, shape: Shape, dtype: str) -> None:
    ins = _inputs(shape, dtype, seed=sum(shape))
    scale, alpha = shape[-1] ** -0.5, 0.6
    want = _reference(ins, alpha, scale)
    schedules = ["forward", "reverse", "shuffled"] if shape[2] > 1 else ["forward"]
    for schedule in schedules:
        _configure(builds.lib, schedule=schedule)
        rc, got = _run(builds.lib, ins, alpha, scale)
        assert rc == 0 and _fault(builds.lib) == "", f"rc={rc}, {_fault(builds.lib)}"
        log = builds.lib.cuda_cpu_launch_log().decode().splitlines()
        assert log[0].startswith(f"grid={-(-shape[2] // 8)},{shape[0] * shape[1]},1 block=256,1,1 ")  # R = 8 rows
        errs = errors(got, want)
        assert worst(errs) <= TOLERANCE[dtype], f"{schedule}: (abs, rel) per o_r, o_d, o_rd, o_dr: {errs}"


def test_other_alpha_scale_and_attention_maps(builds: Builds) -> None:
    ins = _inputs((1, 2, 50, 24), "float32", seed=7)
    _configure(builds.lib)
    B, H, N, d = ins[0].shape
    outs = [np.full_like(ins[0], np.nan) for _ in range(4)]
    workspace = np.full(builds.lib.cda_workspace_bytes(B, H, N) // 4, np.nan, np.float32)
    rc = builds.lib.cda_forward_f32(*(a.ctypes.data for a in [*ins, *outs, workspace]), B, H, N, d, 0.25, 0.3, None)
    assert rc == 0
    assert worst(errors(outs, _reference(ins, 0.25, 0.3))) <= TOLERANCE["float32"]
    logits = ins[0].astype(np.float64) @ np.swapaxes(ins[1], -1, -2) * 0.3
    a_r = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(workspace.reshape(2, B, H, N, N)[0], a_r / a_r.sum(-1, keepdims=True), atol=1e-6)


def test_one_row_per_block_fallback_and_too_large(builds: Builds) -> None:
    """R = 1 when 8 rows do not fit the device's shared memory; -2 when not even one row does."""
    ins = _inputs((1, 2, 100, 64), "float32", seed=3)
    want = _reference(ins, 0.6, 0.125)
    _configure(builds.lib, optin=8 * 1024)  # R = 8 needs 15.1 KiB here, R = 1 3.6 KiB
    rc, got = _run(builds.lib, ins, 0.6, 0.125)
    assert rc == 0 and _fault(builds.lib) == ""
    assert builds.lib.cuda_cpu_launch_log().decode().startswith("grid=100,2,1 block=256,1,1 smem=3728")
    assert worst(errors(got, want)) <= TOLERANCE["float32"]
    _configure(builds.lib, optin=2 * 1024)
    rc, _ = _run(builds.lib, ins, 0.6, 0.125)
    assert rc == -2 and builds.lib.cuda_cpu_launch_log().decode() == ""


def test_opt_in_shared_memory_above_48_kib(builds: Builds) -> None:
    """Past 48 KiB of dynamic shared memory the launch needs cudaFuncSetAttribute, which the kernels call."""
    ins = _inputs((1, 1, 200, 256), "float16", seed=4)
    _configure(builds.lib)
    rc, got = _run(builds.lib, ins, 0.6, 256**-0.5)
    assert rc == 0 and _fault(builds.lib) == ""
    assert builds.lib.cuda_cpu_launch_log().decode().startswith("grid=25,1,1 block=256,1,1 smem=49408")
    assert worst(errors(got, _reference(ins, 0.6, 256**-0.5))) <= TOLERANCE["float16"]


def test_invalid_arguments_refused(builds: Builds) -> None:
    _configure(builds.lib)
    buf = np.zeros(64, np.float32)
    assert builds.lib.cda_forward_f32(*[buf.ctypes.data] * 11, 1, 1, 0, 4, 0.6, 0.5, None) == -1
    assert builds.lib.cda_forward_f32(*[buf.ctypes.data] * 10, None, 1, 1, 4, 4, 0.6, 0.5, None) == -1
    assert builds.lib.cuda_cpu_launch_log().decode() == ""


def test_kernels_under_address_and_undefined_behaviour_sanitizers(builds: Builds, tmp_path: Path) -> None:
    """The same kernels, sanitised, on exactly-sized heap tensors: any report fails the test."""
    driver = builds.asan.wait()
    cases = [
        ((1, 2, 37, 64), "float32", "forward"),
        ((1, 1, 1, 64), "float16", "reverse"),
        ((2, 1, 45, 48), "float16", "shuffled"),
    ]
    lines, expected = [], []
    for i, (shape, dtype, schedule) in enumerate(cases):
        ins = _inputs(shape, dtype, seed=i)
        case_dir = tmp_path / f"case{i}"
        case_dir.mkdir()
        for name, a in zip(("q_r", "k_r", "v_r", "q_d", "k_d", "v_d"), ins, strict=True):
            a.tofile(case_dir / f"{name}.bin")
        tag = "f32" if dtype == "float32" else "f16"
        lines.append(
            f"{tag} {' '.join(map(str, shape))} 0.6 {shape[-1] ** -0.5} {SCHEDULES[schedule]} {ORIN_OPTIN} {case_dir}"
        )
        expected.append((case_dir, shape, dtype, _reference(ins, 0.6, shape[-1] ** -0.5)))
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": "print_stacktrace=1"}
    run = subprocess.run(
        [str(driver)], input="\n".join(lines), capture_output=True, text=True, env=env, timeout=600, check=False
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert "ERROR: AddressSanitizer" not in report and "runtime error:" not in report, report
    for case_dir, shape, dtype, want in expected:
        got = [np.fromfile(case_dir / f"{n}.bin", dtype=dtype).reshape(shape) for n in ("o_r", "o_d", "o_rd", "o_dr")]
        assert worst(errors(got, want)) <= TOLERANCE[dtype], case_dir.name


# ---- the stand-in itself ------------------------------------------------------------------------------------------


def test_half_conversions_match_numpy(builds: Builds) -> None:
    lib = builds.lib
    bits = np.arange(65536, dtype=np.uint16)
    as_float = np.empty(65536, np.float32)
    lib.cuda_cpu_half_to_float(bits.ctypes.data, as_float.ctypes.data, 65536)
    want = bits.view(np.float16).astype(np.float32)
    np.testing.assert_array_equal(as_float, want)  # NaN == NaN for assert_array_equal
    rng = np.random.default_rng(0)
    floats = np.concatenate(
        [
            rng.standard_normal(100_000).astype(np.float32) * np.float32(2.0) ** rng.integers(-30, 20, 100_000),
            want[np.isfinite(want)],
            (want[np.isfinite(want)][:-1] + want[np.isfinite(want)][1:]) / 2,  # ties
            np.float32([65504, 65519.99, 65520, 1e30, -np.inf, np.inf, 2.0**-25, 2.0**-25 * 1.0001, 0.0, -0.0]),
        ]
    ).astype(np.float32)
    halves = np.empty(floats.size, np.uint16)
    lib.cuda_cpu_float_to_half(floats.ctypes.data, halves.ctypes.data, floats.size)
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(halves, floats.astype(np.float16).view(np.uint16))


def _shuffle_source(op: int, arg: int, width: int, lane: int) -> int:
    """The lane a CUDA shuffle reads (its own when the source lies in a later group of `width` lanes)."""
    group = lane // width * width
    src = [
        lane ^ arg,
        lane + arg if lane % width + arg < width else lane,
        lane - arg if lane % width >= arg else lane,
        group + (arg & (width - 1)),
    ][op]
    return src if src < group + width else lane


@pytest.mark.parametrize(
    ("op", "arg", "width"),
    [(0, 1, 32), (0, 16, 32), (0, 5, 8), (1, 3, 32), (1, 2, 8), (2, 4, 32), (2, 1, 16), (3, 7, 32), (3, 9, 8)],
)
def test_shuffles(builds: Builds, op: int, arg: int, width: int) -> None:
    out = np.zeros(128, np.int32)
    _configure(builds.lib, schedule="reverse")
    assert builds.lib.selftest_shuffle(op, arg, width, 64, out.ctypes.data) == 0
    want = [100 + (t % 64 - t % 32) + _shuffle_source(op, arg, width, t % 32) for t in range(128)]
    assert out.tolist() == want


def test_ballot(builds: Builds) -> None:
    out = np.zeros(128, np.int32)
    _configure(builds.lib)
    assert builds.lib.selftest_shuffle(4, 0, 32, 64, out.ctypes.data) == 0
    for t in range(128):
        warp0 = t % 64 - t % 32
        assert out[t] == np.int32(np.uint32(sum(1 << lane for lane in range(32) if (100 + warp0 + lane) % 3 == 0)))


@pytest.mark.parametrize("schedule", ["forward", "reverse"])
def test_missing_barrier_changes_the_result(builds: Builds, schedule: str) -> None:
    data = np.arange(3 * 64, dtype=np.float32)
    want = data.reshape(3, 64)[:, ::-1].ravel()
    for sync in (1, 0):
        out = np.zeros_like(data)
        _configure(builds.lib, schedule=schedule)
        assert builds.lib.selftest_reverse(sync, 64, data.ctypes.data, out.ctypes.data) == 0
        assert np.array_equal(out, want) == bool(sync)  # without the barrier half the reads see unwritten memory


def test_divergence_is_a_fault(builds: Builds) -> None:
    out = np.zeros(64, np.int32)
    _configure(builds.lib)
    assert builds.lib.selftest_divergent_barrier(out.ctypes.data) == 719  # cudaErrorLaunchFailure
    assert "divergent __syncthreads()" in _fault(builds.lib) and "selftest.cu:" in _fault(builds.lib)
    _configure(builds.lib)
    assert builds.lib.selftest_exited_lane_shuffle(out.ctypes.data) == 719
    assert "lane 5" in _fault(builds.lib) and "exited" in _fault(builds.lib)


@pytest.mark.parametrize(
    ("which", "rc"),
    [(0, 0), (1, 701), (2, 9), (3, 9), (4, 1), (5, 0), (6, 719)],
    ids=["fine", "over-launch-bounds", "1025-threads", "z-65", "64k-dynamic", "64k-with-attribute", "64k-static"],
)
def test_launch_limits(builds: Builds, which: int, rc: int) -> None:
    out = np.zeros(16384, np.int32)
    _configure(builds.lib)
    assert builds.lib.selftest_launch(which, out.ctypes.data) == rc
    if which == 6:
        assert "exceeds the block's limit" in _fault(builds.lib)


def test_builtin_indices(builds: Builds) -> None:
    out = np.zeros((12, 24, 4), np.uint32)
    _configure(builds.lib, schedule="shuffled")
    assert builds.lib.selftest_dims(out.ctypes.data) == 0
    for b in range(12):
        bx, by, bz = b % 3, b // 3 % 2, b // 6
        for t in range(24):
            tx, ty, tz = t % 4, t // 4 % 3, t // 12
            assert out[b, t].tolist() == [tx + 10 * ty + 100 * tz, bx + 10 * by + 100 * bz, 4 + 30 + 200, 3 + 20 + 200]


# ---- with TensorRT's headers at hand (a Jetson, TensorRT_ROOT): the plugin compiled against them ---------------


def _header_dir(candidates: list[str], header: str) -> Path | None:
    return next((Path(c) for c in candidates if c and (Path(c) / header).is_file()), None)


def _tensorrt_and_cuda_headers() -> tuple[Path, Path]:
    root = os.environ.get("TensorRT_ROOT", "")  # noqa: SIM112 - the name CMakeLists.txt reads
    trt = _header_dir(
        [f"{root}/include" if root else "", "/usr/include/aarch64-linux-gnu", "/usr/include/x86_64-linux-gnu"],
        "NvInfer.h",
    )
    if trt is None:
        pytest.skip("TensorRT headers (NvInfer.h) not installed (the PyPI wheels ship none): set TensorRT_ROOT")
    cuda_home = os.environ.get("CUDA_HOME", "")
    cuda = _header_dir(
        [
            f"{cuda_home}/include" if cuda_home else "",
            "/usr/local/cuda/include",
            *glob.glob("/usr/local/cuda-*/include"),
        ],
        "cuda_runtime_api.h",
    )
    if cuda is None:
        pytest.skip("CUDA headers (cuda_runtime_api.h) not found: set CUDA_HOME")
    return trt, cuda


def test_plugin_compiles_against_tensorrt_headers() -> None:
    trt, cuda = _tensorrt_and_cuda_headers()
    cmd = [str(CXX), "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-Wno-deprecated-declarations"]
    cmd += ["-I", str(PLUGIN), "-isystem", str(trt), "-isystem", str(cuda), str(PLUGIN / "cda_plugin.cpp")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def test_plugin_driven_on_the_cpu(builds: Builds, tmp_path: Path) -> None:
    """The plugin's IPluginV3 methods called as TensorRT would, its kernels the CPU build, sanitised."""
    trt, cuda = _tensorrt_and_cuda_headers()
    common = [str(CXX), "-std=c++17", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    objs = []
    for src, flags in [
        (HARNESS.parent / "plugin_checks" / "plugin_on_cpu.cpp", ["-isystem", str(trt), "-isystem", str(cuda)]),
        (PLUGIN / "cda_plugin.cpp", ["-isystem", str(trt), "-isystem", str(cuda)]),
        (builds.kernels, _FLAGS),
        (HARNESS / "cuda_on_cpu.cpp", _FLAGS),
    ]:
        objs.append(tmp_path / f"{src.stem}.o")
        out = subprocess.run(
            [*common, "-I", str(PLUGIN), *flags, "-c", str(src), "-o", str(objs[-1])],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr
    exe = tmp_path / "plugin_on_cpu"
    subprocess.run([*common, *map(str, objs), "-o", str(exe)], check=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0 and "runtime error" not in run.stderr, run.stdout + run.stderr
    for expected in [
        "creator CrossDiffusionAttention v1 n=1",
        "configure same shapes: 0",
        "k_r is [1, 2, 50, 64] but q_r is [1, 2, 37, 64] in the profile's max shapes",
        "configure k_r max N=50: -1",
        "v_d is [1, 2, 37, 32] but q_r is [1, 2, 37, 64] in the network's shapes",
        "configure v_d d=32: -1",
        "k_d is [1, 2, 1, 64] but q_r is [1, 2, 37, 64] in the profile's min shapes",
        "configure k_d dynamic N 1..100: -1",
        "configure v_r 3-D: -1",
        "q_d is float16 but q_r is float32",
        "configure q_d half: -1",
        "onShapeChange same: 0",
        "onShapeChange k_r N=50: -1",
        "enqueue: 0",
        "enqueue == direct call with scale 1/sqrt(64): yes",
        "enqueue N=0: 0",
        "kernel launch failed with status -2 (B=1, H=2, N=37, d=64)",
        "serialize 2 fields: alpha=0.6 scale=-1",
        "field 'scale' must be one finite float32",
        "createPlugin scale=nan: (nil)",
    ]:
        assert expected in run.stdout, f"{expected!r} missing from:\n{run.stdout}"
