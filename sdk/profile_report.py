"""The latency profile report: statistics, raw samples, JSON round trip and diffs (no measuring here).

See :mod:`mutualsense.profiling` for what the stages and clocks mean and for the functions that
measure a stream or a bare backend.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mutualsense.errors import MutualSenseError

__all__ = [
    "CLOCK_DELIVERY",
    "CLOCK_NONE",
    "CLOCK_SENSOR",
    "PERCENTILES",
    "PROFILE_FORMAT",
    "PROFILE_VERSION",
    "STAGE_LABELS",
    "STAGE_ORDER",
    "ProfileDiff",
    "ProfileReport",
    "Samples",
    "StageDelta",
    "Stats",
    "diff_reports",
    "format_ms",
    "stage_label",
]

PROFILE_FORMAT = "mutualsense.profile"
PROFILE_VERSION = 1
PERCENTILES = (50, 90, 95, 99)

#: Stages in the order a frameset goes through them. A backend or a later pipeline may add stages
#: (named in ``SaliencyResult.latency_ms``, or in a backend's ``last_timings_ms``); names not listed
#: here are kept and shown after the known ones.
STAGE_ORDER = (
    "wait",
    "align",
    "preprocess",
    "queue",
    "host_to_device",
    "inference",
    "device_to_host",
    "postprocess",
    "unaccounted",
)
STAGE_LABELS = {
    "wait": "wait for frames",
    "align": "align",
    "preprocess": "preprocess",
    "queue": "queue",
    "host_to_device": "host→device",
    "inference": "inference",
    "device_to_host": "device→host",
    "postprocess": "postprocess",
    "unaccounted": "unaccounted",
}
#: Stages a backend may measure separately; absent (not zero) where it does not.
COPY_STAGES = ("host_to_device", "device_to_host")

CLOCK_SENSOR = "sensor_to_result"
CLOCK_DELIVERY = "source_delivery_to_result"
CLOCK_NONE = "none"
LatencyClock = Literal["sensor_to_result", "source_delivery_to_result", "none"]

_RESIDUAL_TOLERANCE_MS = 0.01  # stage sums off by more than this get an "unaccounted" stage
_PLAUSIBLE_SENSOR_LATENCY_MS = (-5.0, 10_000.0)


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


# ----------------------------------------------------------------------------------- the report
@dataclass(frozen=True)
class ProfileReport:
    """What :func:`profile_pipeline` and :func:`profile_backend` return, and ``profile.json`` holds.

    Every statistic (:meth:`stage_stats`, :attr:`throughput_fps`, ...) is computed from
    :attr:`samples`; ``to_json`` also writes them under ``summary`` for people and tools that read
    the file, and ``from_json`` recomputes them.

    Attributes:
        mode: ``pipeline`` (a stream: source → result) or ``backend`` (bare ``infer`` calls).
        created: UTC time of the run (ISO 8601).
        machine / versions: where and with what software it ran.
        backend: the backend's name (``onnxruntime``, ``tensorrt``); provider: what executed the
            model (ONNX Runtime's execution providers, or the TensorRT engine).
        threads: ONNX Runtime intra-op threads asked for (None: its default).
        bundle: path, manifest sha256, precision, input size and batch of the bundle.
        source: what delivered the framesets (name, type, spec, paced in real time, clock domains).
        warmup: results discarded before measuring.
        latency_clock: which end-to-end latency ``samples.end_to_end_ms`` holds (module docstring);
            latency_clock_note says why in words.
        stages: the stages measured, in order; absent_stages: stage → why it is not measured.
        duration_s: length of the measured window.
        counters: the stream's exact counters for the whole run (warm-up and shutdown included).
        notes: anything a reader must know to interpret the numbers.
        samples: the raw per-result samples.
    """

    mode: Literal["pipeline", "backend"]
    created: str
    machine: Mapping[str, Any]
    versions: Mapping[str, str | None]
    backend: str
    provider: str
    threads: int | None
    bundle: Mapping[str, Any]
    source: Mapping[str, Any]
    warmup: int
    latency_clock: str
    latency_clock_note: str
    stages: tuple[str, ...]
    absent_stages: Mapping[str, str]
    duration_s: float
    counters: Mapping[str, int]
    samples: Samples
    notes: tuple[str, ...] = ()

    # ---------------------------------------------------------------- derived statistics
    @property
    def frames(self) -> int:
        """Measured results (or iterations)."""
        return len(self.samples)

    def stage_stats(self, stage: str) -> Stats | None:
        """Statistics of one stage; None for a stage that is absent from this run."""
        values = self.samples.stages_ms.get(stage)
        return None if values is None else Stats.of(values)

    @cached_property
    def total(self) -> Stats | None:
        """Total latency per result (delivery → result; backend-only: one ``infer`` call)."""
        return Stats.of(self.samples.total_ms)

    @cached_property
    def end_to_end(self) -> Stats | None:
        """Latency on :attr:`latency_clock`; None for backend-only runs."""
        return Stats.of(self.samples.end_to_end_ms)

    @cached_property
    def sensor_to_delivery(self) -> Stats | None:
        """Sensor timestamp → frameset delivered (exposure, transfer, driver); only on ``sensor_to_result``."""
        if self.latency_clock != CLOCK_SENSOR:
            return None
        return Stats.of(np.asarray(self.samples.end_to_end_ms) - np.asarray(self.samples.total_ms))

    @cached_property
    def intervals_ms(self) -> np.ndarray:
        """Time between consecutive results (the first one counts from the last warm-up result)."""
        t = np.asarray(self.samples.result_time_s, dtype=np.float64) * 1000.0
        return np.diff(t, prepend=0.0) if self.warmup > 0 else np.diff(t)

    @cached_property
    def interval(self) -> Stats | None:
        """Statistics of the inter-result interval."""
        return Stats.of(self.intervals_ms)

    @property
    def jitter_ms(self) -> float | None:
        """Standard deviation of the inter-result interval."""
        return None if self.interval is None else self.interval.std

    @property
    def throughput_fps(self) -> float:
        """Measured results per second of the measured window."""
        return self.frames / self.duration_s if self.duration_s > 0 else 0.0

    @cached_property
    def skew(self) -> Stats | None:
        """Colour − depth timestamp skew of the processed framesets."""
        return Stats.of(self.samples.skew_ms)

    @property
    def drops(self) -> dict[str, int]:
        """Framesets dropped during the measured window, by cause."""
        return {
            "skew": int(sum(self.samples.dropped_by_skew)),
            "backpressure": int(sum(self.samples.dropped_by_backpressure)),
        }

    def stage_sum_error(self) -> float:
        """Largest relative difference between a result's stage sum and its total (0 when exact)."""
        if not self.frames:
            return 0.0
        total = np.asarray(self.samples.total_ms)
        summed = np.sum([np.asarray(v) for v in self.samples.stages_ms.values()], axis=0)
        return float(np.max(np.abs(summed - total) / np.maximum(np.abs(total), 1e-9)))

    def summary(self) -> dict[str, Any]:
        """The statistics as plain types (what ``profile.json`` holds under ``summary``)."""

        def s(x: Stats | None) -> dict[str, float | int] | None:
            return None if x is None else x.as_dict()

        return {
            "frames": self.frames,
            "throughput_fps": self.throughput_fps,
            "jitter_ms": self.jitter_ms,
            "stages_ms": {k: s(self.stage_stats(k)) for k in self.stages},
            "total_ms": s(self.total),
            "end_to_end_ms": s(self.end_to_end),
            "sensor_to_delivery_ms": s(self.sensor_to_delivery),
            "interval_ms": s(self.interval),
            "skew_ms": s(self.skew),
            "skew_flagged": int(sum(self.samples.skew_flagged)),
            "drops_measured": self.drops,
            "stage_sum_max_relative_error": self.stage_sum_error(),
        }

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain types: the report's fields, the derived ``summary``, and the raw samples."""
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "mode": self.mode,
            "created": self.created,
            "machine": dict(self.machine),
            "versions": dict(self.versions),
            "backend": self.backend,
            "provider": self.provider,
            "threads": self.threads,
            "bundle": dict(self.bundle),
            "source": dict(self.source),
            "warmup": self.warmup,
            "latency_clock": self.latency_clock,
            "latency_clock_note": self.latency_clock_note,
            "stages": list(self.stages),
            "absent_stages": dict(self.absent_stages),
            "duration_s": self.duration_s,
            "counters": dict(self.counters),
            "notes": list(self.notes),
            "summary": self.summary(),
            "samples": self.samples.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "the profile") -> ProfileReport:
        """Inverse of :meth:`to_dict` (``summary`` is recomputed from the samples, not read)."""
        if not isinstance(d, Mapping) or d.get("format") != PROFILE_FORMAT:
            raise MutualSenseError(
                f'{where} is not a MutualSense profile (no "format": "{PROFILE_FORMAT}").',
                "pass a profile.json written by `mutualsense profile --out DIR`.",
            )
        version = d.get("version")
        if not isinstance(version, int) or version > PROFILE_VERSION:
            raise MutualSenseError(
                f"{where} has profile version {version!r}; this mutualsense reads up to {PROFILE_VERSION}.",
                "upgrade mutualsense (`pip install -U mutualsense`) to read it.",
            )
        try:
            return cls(
                mode=d["mode"],
                created=str(d["created"]),
                machine=dict(d["machine"]),
                versions=dict(d["versions"]),
                backend=str(d["backend"]),
                provider=str(d["provider"]),
                threads=d.get("threads"),
                bundle=dict(d["bundle"]),
                source=dict(d["source"]),
                warmup=int(d["warmup"]),
                latency_clock=str(d["latency_clock"]),
                latency_clock_note=str(d.get("latency_clock_note", "")),
                stages=tuple(d["stages"]),
                absent_stages=dict(d.get("absent_stages", {})),
                duration_s=float(d["duration_s"]),
                counters={str(k): int(v) for k, v in d.get("counters", {}).items()},
                samples=Samples.from_dict(d["samples"]),
                notes=tuple(d.get("notes", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MutualSenseError(
                f"{where} is damaged or incomplete ({type(exc).__name__}: {exc}).",
                "profile again, or pass the profile.json exactly as `mutualsense profile` wrote it.",
            ) from exc

    def to_json(self, indent: int | None = 1) -> str:
        """The report as JSON text (strict JSON: no NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "the profile") -> ProfileReport:
        """Read a report from JSON text (see :meth:`load` for a file)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MutualSenseError(
                f"{where} is not valid JSON ({exc}).", "pass a profile.json written by `mutualsense profile`."
            ) from exc
        return cls.from_dict(data, where)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the report as JSON (creating the folder); returns the path."""
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(self.to_json())
        except OSError as exc:
            raise MutualSenseError(f"cannot write {p} ({exc.strerror}).", "choose a writable --out folder.") from exc
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ProfileReport:
        """Read a report written by :meth:`save` (or ``mutualsense profile --out``)."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise MutualSenseError(
                f"cannot read profile {p} ({exc.strerror}).", "pass the profile.json that `mutualsense profile` wrote."
            ) from exc
        return cls.from_json(text, str(p))


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


def format_ms(x: float | None, width: int = 0) -> str:
    """A millisecond value for tables: 3 significant digits, '—' for None."""
    if x is None or not math.isfinite(x):
        return "—".rjust(width)
    text = f"{x:.3f}" if abs(x) < 1 else f"{x:.2f}" if abs(x) < 100 else f"{x:.1f}"
    return text.rjust(width)


def stage_label(name: str) -> str:
    """How a stage is named in tables and plots."""
    return STAGE_LABELS.get(name, name.replace("_", " "))
