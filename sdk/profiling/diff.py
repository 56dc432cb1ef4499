"""Comparing two profile reports stage by stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mutualsense.profiling.report import ProfileReport
from mutualsense.profiling.samples import Stats
from mutualsense.profiling.stages import STAGE_ORDER

__all__ = ["ProfileDiff", "StageDelta", "diff_reports"]


# ----------------------------------------------------------------------------------- diff
@dataclass(frozen=True)
class StageDelta:
    """One row of a diff: a stage (or ``total``, ``end_to_end``, ``interval``) in report A and B."""

    name: str
    a: Stats | None
    b: Stats | None

    def delta(self, stat: str = "p50") -> float | None:
        """B − A of one statistic (ms); None where either side lacks the stage."""
        if self.a is None or self.b is None:
            return None
        return float(getattr(self.b, stat) - getattr(self.a, stat))

    def ratio(self, stat: str = "p50") -> float | None:
        """B / A of one statistic; None where either lacks it or A is 0."""
        if self.a is None or self.b is None or getattr(self.a, stat) == 0:
            return None
        return float(getattr(self.b, stat) / getattr(self.a, stat))


@dataclass(frozen=True)
class ProfileDiff:
    """Report B against report A, stage by stage (see :func:`diff_reports`)."""

    a: ProfileReport
    b: ProfileReport
    rows: tuple[StageDelta, ...]
    warnings: tuple[str, ...]

    @property
    def throughput_ratio(self) -> float | None:
        """B's throughput / A's."""
        return self.b.throughput_fps / self.a.throughput_fps if self.a.throughput_fps > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """Plain types (p50/p95/mean deltas and ratios per row)."""
        return {
            "rows": {
                r.name: {
                    f"{stat}_{what}": getattr(r, what)(stat)
                    for stat in ("p50", "p95", "mean")
                    for what in ("delta", "ratio")
                }
                for r in self.rows
            },
            "throughput_fps": {"a": self.a.throughput_fps, "b": self.b.throughput_fps, "ratio": self.throughput_ratio},
            "warnings": list(self.warnings),
        }


def diff_reports(a: ProfileReport, b: ProfileReport) -> ProfileDiff:
    """Compare two reports stage by stage, with warnings where they are not like for like."""
    names = [s for s in STAGE_ORDER if s in a.stages or s in b.stages]
    names += [s for s in (*a.stages, *b.stages) if s not in names]
    rows = [StageDelta(n, a.stage_stats(n), b.stage_stats(n)) for n in names]
    rows += [
        StageDelta("total", a.total, b.total),
        StageDelta("end_to_end", a.end_to_end, b.end_to_end),
        StageDelta("interval", a.interval, b.interval),
    ]
    warnings = []
    if a.mode != b.mode:
        warnings.append(f"A profiles the {a.mode}, B the {b.mode}: only the inference rows compare.")
    elif a.latency_clock != b.latency_clock:
        warnings.append(f"end-to-end latency is {a.latency_clock} in A but {b.latency_clock} in B.")
    for key, label in (("sha256", "bundles"),):
        if a.bundle.get(key) != b.bundle.get(key):
            warnings.append(f"different {label} (A {a.bundle.get('path')}, B {b.bundle.get('path')}).")
    if (a.backend, a.provider) != (b.backend, b.provider):
        warnings.append(f"different backends: A {a.backend} ({a.provider}), B {b.backend} ({b.provider}).")
    ma, mb = (
        (r.machine.get("platform"), r.machine.get("processor"), r.machine.get("gpu"), r.machine.get("cpu_count"))
        for r in (a, b)
    )
    if ma != mb:
        warnings.append("the reports come from different machines.")
    if a.mode == b.mode and a.source.get("name") != b.source.get("name"):
        warnings.append(f"different sources: A {a.source.get('name')}, B {b.source.get('name')}.")
    return ProfileDiff(a, b, tuple(rows), tuple(warnings))
