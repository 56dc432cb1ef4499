"""CDA on a GPU: the CUDA kernels (export/plugin/cda_kernels.cu) vs PyTorch CUDA, ``fast`` and ``literal`` forms.

The CDA node alone (not the whole block): batch 1, C=256, H=8 (d=32), N ∈ {484, 1024}, float16 and float32;
median of >= 20 runs timed with CUDA events after warm-up. The kernels are built with nvcc for this GPU
(``plugin_build.build_kernel_library``) and called through their C ABI with ctypes; device memory comes from
torch (CUDA build) or, without one, cupy — then only the kernels are timed. Writes
benchmarks/results/cda_gpu.json with the GPU's name. Without a CUDA GPU it prints why and exits 0 without
writing anything.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results" / "cda_gpu.json"
H, D = 8, 32  # C = 256


class Gpu:
    """Device memory, the current stream and CUDA events, from torch (preferred: it is also timed) or cupy."""

    def __init__(self) -> None:
        self.kind = ""
        self.reasons: list[str] = []
        try:
            import torch

            if torch.cuda.is_available():
                self.kind, self.torch = "torch", torch
                self.name = torch.cuda.get_device_name(0)
                self.cc = "{}{}".format(*torch.cuda.get_device_capability(0))
                return
            self.reasons.append(f"torch {torch.__version__} has no CUDA device")
        except ImportError:
            self.reasons.append("torch is not installed")
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                self.kind, self.cp = "cupy", cupy
                props = cupy.cuda.runtime.getDeviceProperties(0)
                self.name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
                self.cc = str(cupy.cuda.Device(0).compute_capability)
                return
            self.reasons.append("cupy sees no CUDA device")
        except Exception as exc:  # ImportError, or a CUDA runtime error without a driver
            self.reasons.append(f"cupy unusable ({type(exc).__name__}: {exc})")

    def array(self, a: np.ndarray) -> Any:
        return self.torch.from_numpy(a).cuda() if self.kind == "torch" else self.cp.asarray(a)

    def empty(self, shape: tuple[int, ...], dtype: Any) -> Any:
        if self.kind == "torch":
            return self.torch.empty(shape, dtype=getattr(self.torch, np.dtype(dtype).name), device="cuda")
        return self.cp.empty(shape, dtype=dtype)

    def ptr(self, x: Any) -> int:
        return int(x.data_ptr()) if self.kind == "torch" else int(x.data.ptr)

    def host(self, x: Any) -> np.ndarray:
        return x.float().cpu().numpy() if self.kind == "torch" else self.cp.asnumpy(x).astype(np.float32)

    def stream(self) -> int:
        if self.kind == "torch":
            return int(self.torch.cuda.current_stream().cuda_stream)
        return int(self.cp.cuda.get_current_stream().ptr)

    def time_ms(self, fn: Callable[[], object], repeats: int, warmup: int = 5) -> list[float]:
        """Per-run milliseconds between CUDA events recorded around ``fn`` on the current stream."""
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            if self.kind == "torch":
                start, end = self.torch.cuda.Event(enable_timing=True), self.torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                start, end = self.cp.cuda.Event(), self.cp.cuda.Event()
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(self.cp.cuda.get_elapsed_time(start, end))
        return times


def kernel_library(gpu: Gpu, build_dir: Path) -> ctypes.CDLL:
    from mutualsense.export import plugin_build as pb

    nvcc = pb.find_nvcc()
    if nvcc is None:
        raise SystemExit("bench_cda_gpu: nvcc not found; install the CUDA toolkit to build the kernels")
    archs = pb.nvcc_architectures(nvcc)
    arch = gpu.cc if gpu.cc in archs else max((a for a in archs if a.isdigit() and int(a) <= int(gpu.cc)), key=int)
    lib = ctypes.CDLL(str(pb.build_kernel_library(build_dir, arch)))
    args = [ctypes.c_void_p] * 11 + [ctypes.c_int] * 4 + [ctypes.c_float] * 2 + [ctypes.c_void_p]
    for name in ("cda_forward_f32", "cda_forward_f16"):
        getattr(lib, name).restype = ctypes.c_int
        getattr(lib, name).argtypes = args
    lib.cda_workspace_bytes.restype = ctypes.c_size_t
    lib.cda_workspace_bytes.argtypes = [ctypes.c_int] * 3
    return lib


def nvcc_release() -> str:
    from mutualsense.export.plugin_build import find_nvcc

    nvcc = find_nvcc()
    if nvcc is None:
        return "?"
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=False).stdout
    return next((ln.split("release")[-1].strip() for ln in out.splitlines() if "release" in ln), "?")


def bench_case(gpu: Gpu, lib: ctypes.CDLL, n: int, dtype: str, repeats: int) -> dict:
    alpha, scale = 0.6, D**-0.5
    rng = np.random.default_rng(0)
    host = [rng.standard_normal((1, H, n, D), dtype=np.float32).astype(dtype) for _ in range(6)]
    ins = [gpu.array(a) for a in host]
    outs = [gpu.empty((1, H, n, D), dtype) for _ in range(4)]
    workspace = gpu.empty((lib.cda_workspace_bytes(1, H, n) // 4,), np.float32)
    forward = lib.cda_forward_f32 if dtype == "float32" else lib.cda_forward_f16
    ptrs = [gpu.ptr(x) for x in [*ins, *outs, workspace]]
    stream = gpu.stream()

    def kernel() -> None:
        rc = forward(*ptrs, 1, H, n, D, alpha, scale, stream)
        if rc != 0:
            raise RuntimeError(f"cda_forward_{dtype} returned {rc}")

    row: dict[str, Any] = {"N": n, "dtype": dtype}
    k_times = gpu.time_ms(kernel, repeats)
    row["kernel"] = {"median_ms": statistics.median(k_times), "min_ms": min(k_times)}
    if gpu.kind != "torch":
        row["torch"] = "not timed: torch has no CUDA here (kernel timed with cupy)"
        return row

    from mutualsense.export.model.cda import cross_diffusion_attention

    torch = gpu.torch
    with torch.inference_mode():
        for mode in ("fast", "literal"):

            def torch_forward(m: Any = mode) -> object:
                return cross_diffusion_attention(*ins, alpha, scale, mode=m)

            t_times = gpu.time_ms(torch_forward, repeats)
            row[f"torch_{mode}"] = {"median_ms": statistics.median(t_times), "min_ms": min(t_times)}
            row[f"speedup_vs_torch_{mode}"] = row[f"torch_{mode}"]["median_ms"] / row["kernel"]["median_ms"]
        kernel()
        torch.cuda.synchronize()
        ref = cross_diffusion_attention(*(t.float() for t in ins), alpha, scale, mode="fast")
        row["max_abs_diff_vs_torch_fp32"] = max(
            float((o.float() - r).abs().max()) for o, r in zip(outs, ref, strict=True)
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[484, 1024])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    repeats = max(20, args.repeats)

    gpu = Gpu()
    if not gpu.kind:
        print(f"bench_cda_gpu: no CUDA GPU usable ({'; '.join(gpu.reasons)}); nothing measured, nothing written.")
        sys.exit(0)

    with tempfile.TemporaryDirectory(prefix="cda-bench-") as tmp:
        lib = kernel_library(gpu, Path(tmp))
        cases = []
        for n in args.sizes:
            for dtype in ("float16", "float32"):
                row = bench_case(gpu, lib, n, dtype, repeats)
                cases.append(row)
                line = f"N={n:5d} {dtype:8s} kernel {row['kernel']['median_ms']:.3f} ms"
                if "torch_fast" in row:
                    line += (
                        f"  torch fast {row['torch_fast']['median_ms']:.3f} ms"
                        f"  literal {row['torch_literal']['median_ms']:.3f} ms"
                        f"  (x{row['speedup_vs_torch_fast']:.2f} / x{row['speedup_vs_torch_literal']:.2f})"
                    )
                print(line)

    result = {
        "benchmark": f"CDA node forward, batch 1, C=256, H={H}, d={D}; median of {repeats} CUDA-event timings",
        "machine": {"gpu": gpu.name, "compute_capability": gpu.cc, "python": platform.python_version()},
        "memory_from": gpu.kind,
        "torch": gpu.torch.__version__ if gpu.kind == "torch" else None,
        "nvcc": nvcc_release(),
        "repeats": repeats,
        "date": time.strftime("%Y-%m-%d"),
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
