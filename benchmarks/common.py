"""Helpers shared by the benchmark scripts (run them from the repository root: `python benchmarks/bench_x.py`)."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mutualsense.results import SaliencyResult
from mutualsense.sources import FrameSet, Recording, Source

#: The shipped sample recording (colour 640×480, depth 424×240, 15 fps).
SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "data" / "sample.db3"


def sample_framesets() -> list[FrameSet]:
    """The sample recording, decoded once."""
    with Recording(SAMPLE) as rec:
        return list(rec)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (falls back to what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def results_per_second(
    results: Iterable[SaliencyResult],
    seconds: float,
    each: Callable[[SaliencyResult], None] | None = None,
    warmup: int = 5,
) -> float:
    """Results per second of a stream over ``seconds``, after ``warmup`` results; ``each`` sees every measured one."""
    it = iter(results)
    for _ in range(warmup):
        next(it)
    n, t0 = 0, time.perf_counter()
    for result in it:
        n += 1
        if each is not None:
            each(result)
        if time.perf_counter() - t0 >= seconds:
            break
    return n / (time.perf_counter() - t0)


def write_result(path: Path, result: dict[str, Any]) -> Path:
    """Write a benchmark's figures as indented JSON (folders made as needed); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


class MemorySource(Source):
    """Framesets decoded once and replayed from memory, as fast as asked: a source that costs nothing."""

    real_time = False

    def __init__(self, framesets: list[FrameSet], name: str = "sample.db3 (in memory)") -> None:
        super().__init__(name)
        self.framesets = framesets
        self.i = 0

    def _start(self) -> None: ...

    def _stop(self) -> None: ...

    def _read(self, timeout_ms: int) -> FrameSet | None:
        fs = self.framesets[self.i % len(self.framesets)]
        self.i += 1
        return replace(fs, arrival_time=time.monotonic())
