"""Raw per-result samples of a profiling run and the statistics computed from them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mutualsense.profiling.stages import PERCENTILES

__all__ = ["Samples", "Stats"]


# ----------------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class Stats:
    """Summary of one series of samples (ms unless said otherwise).

    Percentiles are numpy's (``np.percentile``, linear interpolation); ``std`` is the population
    standard deviation (``ddof=0``).
    """

    count: int
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats | None:
        """Statistics of ``values``; None when there are none."""
        a = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
        if a.size == 0:
            return None
        p = np.percentile(a, PERCENTILES)
        return cls(
            count=int(a.size),
            mean=float(a.mean()),
            std=float(a.std()),
            min=float(a.min()),
            p50=float(p[0]),
            p90=float(p[1]),
            p95=float(p[2]),
            p99=float(p[3]),
            max=float(a.max()),
        )

    def as_dict(self) -> dict[str, float | int]:
        """The statistics as a plain dict."""
        return {k: getattr(self, k) for k in ("count", "mean", "std", "min", "p50", "p90", "p95", "p99", "max")}


# ----------------------------------------------------------------------------------- raw samples
@dataclass(frozen=True)
class Samples:
    """The raw per-result samples of a run, one column per quantity, one entry per measured result.

    Columns that do not apply to a run are empty (a backend-only run has no skew, drops or
    end-to-end latency).

    Attributes:
        frame_number: the colour frame number (backend-only: the iteration number).
        result_time_s: when the result was ready, in seconds since the measured window began (the
            last warm-up result, or the start when there is no warm-up).
        stages_ms: stage name → per-result times in ms (stages present in this run only).
        total_ms: the result's total latency (delivery → result; backend-only: one ``infer`` call).
        end_to_end_ms: latency on the report's ``latency_clock``.
        skew_ms: colour − depth sensor timestamp.
        skew_flagged: whether the skew exceeded the stream's limit (policy ``flag``).
        dropped_by_skew / dropped_by_backpressure: framesets dropped since the previous result.
    """

    frame_number: tuple[int, ...] = ()
    result_time_s: tuple[float, ...] = ()
    stages_ms: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    total_ms: tuple[float, ...] = ()
    end_to_end_ms: tuple[float, ...] = ()
    skew_ms: tuple[float, ...] = ()
    skew_flagged: tuple[bool, ...] = ()
    dropped_by_skew: tuple[int, ...] = ()
    dropped_by_backpressure: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.total_ms)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, for JSON."""
        return {
            "frame_number": list(self.frame_number),
            "result_time_s": list(self.result_time_s),
            "stages_ms": {k: list(v) for k, v in self.stages_ms.items()},
            "total_ms": list(self.total_ms),
            "end_to_end_ms": list(self.end_to_end_ms),
            "skew_ms": list(self.skew_ms),
            "skew_flagged": list(self.skew_flagged),
            "dropped_by_skew": list(self.dropped_by_skew),
            "dropped_by_backpressure": list(self.dropped_by_backpressure),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Samples:
        """Inverse of :meth:`to_dict`."""
        return cls(
            frame_number=tuple(int(v) for v in d.get("frame_number", ())),
            result_time_s=tuple(float(v) for v in d.get("result_time_s", ())),
            stages_ms={str(k): tuple(float(x) for x in v) for k, v in d.get("stages_ms", {}).items()},
            total_ms=tuple(float(v) for v in d.get("total_ms", ())),
            end_to_end_ms=tuple(float(v) for v in d.get("end_to_end_ms", ())),
            skew_ms=tuple(float(v) for v in d.get("skew_ms", ())),
            skew_flagged=tuple(bool(v) for v in d.get("skew_flagged", ())),
            dropped_by_skew=tuple(int(v) for v in d.get("dropped_by_skew", ())),
            dropped_by_backpressure=tuple(int(v) for v in d.get("dropped_by_backpressure", ())),
        )
