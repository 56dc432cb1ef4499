"""A short soak (1,000 framesets): memory stays flat, threads come back, counters are exact."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _soak_module():
    import sys

    sys.path.insert(0, str(BENCH))  # bench_soak imports benchmarks/common.py
    try:
        spec = importlib.util.spec_from_file_location("bench_soak", BENCH / "bench_soak.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_soak_1000_framesets_is_flat_and_exact(tiny_bundle) -> None:
    threads = threading.active_count()
    result = _soak_module().soak(tiny_bundle.path, 1000, warmup=200, every=100, color=(128, 96), depth=(128, 96))
    c = result["counters"]
    assert c["produced"] == 1000
    assert c["produced"] == c["processed"] + c["dropped_by_skew"] + c["dropped_by_backpressure"]
    assert result["rss_growth_after_warmup_mb"] <= 20, result["samples"]
    # never more threads than after warm-up (they end with the source, so the last sample may have fewer)
    assert max(result["threads_while_streaming"]) <= result["samples"][0]["threads"], result["samples"]
    assert threading.active_count() == threads
