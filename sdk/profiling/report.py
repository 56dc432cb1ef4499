"""The latency profile report and its JSON round trip (no measuring here; statistics in ``samples``, diffs in ``diff``).

See :mod:`mutualsense.profiling` for what the stages and clocks mean and for the functions that
measure a stream or a bare backend.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mutualsense.errors import MutualSenseError
from mutualsense.profiling.samples import Samples, Stats
from mutualsense.profiling.stages import CLOCK_SENSOR, PROFILE_FORMAT, PROFILE_VERSION

__all__ = ["ProfileReport"]


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
