"""Profiling a running stream: per-stage latencies of every measured result, end to end (see the package doc)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from mutualsense.errors import MutualSenseError
from mutualsense.profiling.context import (
    absent_copy_stages,
    bundle_info,
    check_counts,
    machine_info,
    ordered_stages,
    provider_name,
    software_versions,
    wall_clock_offset,
)
from mutualsense.profiling.report import ProfileReport
from mutualsense.profiling.samples import Samples
from mutualsense.profiling.stages import (
    CLOCK_DELIVERY,
    CLOCK_SENSOR,
    PLAUSIBLE_SENSOR_LATENCY_MS,
    RESIDUAL_TOLERANCE_MS,
    STAGE_ORDER,
)

if TYPE_CHECKING:
    from mutualsense.bundle import Bundle
    from mutualsense.pipeline import PipelineStats, Stream
    from mutualsense.results import SaliencyResult
    from mutualsense.sources.base import Source

__all__ = ["ResultColumns", "profile_pipeline"]


# ----------------------------------------------------------------------------------- pipeline
@dataclass
class ResultColumns:
    """Per-result columns while a run goes on."""

    frame: list[int] = field(default_factory=list)
    result_time: list[float] = field(default_factory=list)
    arrival_time: list[float] = field(default_factory=list)
    color_ts: list[float] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    latency: list[dict[str, float]] = field(default_factory=list)
    skew: list[float] = field(default_factory=list)
    flagged: list[bool] = field(default_factory=list)
    drop_skew: list[int] = field(default_factory=list)
    drop_bp: list[int] = field(default_factory=list)
    last_skew: int = 0
    last_bp: int = 0

    def mark(self, stats: PipelineStats) -> None:
        """Start counting drops from now (the end of the warm-up)."""
        self.last_skew, self.last_bp = stats.dropped_by_skew, stats.dropped_by_backpressure

    def add(self, result: SaliencyResult, stats: PipelineStats) -> int:
        """Record one measured result (all the profiler does per result); returns the count so far."""
        drop_skew, drop_bp = stats.dropped_by_skew, stats.dropped_by_backpressure
        self.frame.append(result.color_frame_number)
        self.result_time.append(result.result_time)
        self.arrival_time.append(result.arrival_time)
        self.color_ts.append(result.color_timestamp_ms)
        self.domains.append(result.clock_domain)
        self.latency.append(result.latency_ms)
        self.skew.append(result.skew_ms)
        self.flagged.append(result.skew_flagged)
        self.drop_skew.append(drop_skew - self.last_skew)
        self.drop_bp.append(drop_bp - self.last_bp)
        self.last_skew, self.last_bp = drop_skew, drop_bp
        return len(self.frame)


def _latency_clock(cols: ResultColumns, wall_offset: float) -> tuple[str, str, list[float], list[str]]:
    """(clock, note, end-to-end latencies, notes) for the collected results (docs/design.md §8)."""
    domains = sorted(set(cols.domains))
    notes: list[str] = []
    result_time = np.asarray(cols.result_time)
    if domains == ["global_time"]:
        e2e = (result_time + wall_offset) * 1000.0 - np.asarray(cols.color_ts)
        lo, hi = PLAUSIBLE_SENSOR_LATENCY_MS
        if e2e.size and (e2e.min() < lo or e2e.max() > hi):
            notes.append(
                f"sensor→result latency ranges {e2e.min():.1f}…{e2e.max():.1f} ms, which is implausible: the "
                "camera's global time may not be synchronised with this host's clock yet (it converges in a few s)."
            )
        note = (
            "sensor→result: wall-clock time at the result minus the colour frame's sensor timestamp "
            "(RealSense global time, in host milliseconds); includes exposure readout, USB transfer and the driver."
        )
        return CLOCK_SENSOR, note, [float(x) for x in e2e], notes
    e2e = (result_time - np.asarray(cols.arrival_time)) * 1000.0
    why = {
        "recording": "a recording has no live sensor clock",
        "synthetic": "a synthetic source has no sensor",
        "hardware_clock": "the camera reports its own hardware clock (global time off), not comparable with the host's",
        "system_time": "the camera's timestamps are host arrival times, not sensor times",
    }
    reasons = "; ".join(why.get(d, f"clock domain {d!r}") for d in domains) or "no timestamps"
    if len(domains) > 1:
        notes.append(f"the framesets came in several clock domains ({', '.join(domains)}).")
    note = (
        f"source delivery→result: the frameset's delivery by the source to the result ({reasons}); "
        "the time before delivery (exposure, transfer, decoding) is not included."
    )
    return CLOCK_DELIVERY, note, [float(x) for x in e2e], notes


@dataclass(frozen=True)
class _Run:
    """What the measuring loop saw besides the columns."""

    seen: int
    wall_offset: float
    window_start: float
    at_last_result: int
    provider: str
    backend_name: str


def _measure(
    stream: Stream, cols: ResultColumns, warmup: int, frames: int, progress: Callable[[int, int], None] | None
) -> _Run:
    """Discard ``warmup`` results, then record up to ``frames`` (the stream is open)."""
    stats = stream.stats
    seen = 0
    wall_offset = wall_clock_offset()
    window_start = time.monotonic()
    cols.mark(stats)
    for result in stream:
        seen += 1
        if seen <= warmup:
            window_start = result.result_time
            cols.mark(stats)
            continue
        done = cols.add(result, stats)
        if progress is not None:
            progress(done, frames)
        if done >= frames:
            break
    return _Run(
        seen,
        wall_offset,
        window_start,
        stats.dropped_by_backpressure,
        provider_name(stream.backend),
        stream.backend.name,
    )


def _stage_series(cols: ResultColumns, notes: list[str]) -> tuple[dict[str, list[float]], list[float]]:
    """The stages the pipeline reported (wait, align, ..., postprocess) per result, plus ``unaccounted``
    where they do not add up to the total; and the totals."""
    reported = [k for k in cols.latency[0] if k != "total"]
    for lat in cols.latency[1:]:
        reported += [k for k in lat if k != "total" and k not in reported]
    series: dict[str, list[float]] = {k: [lat.get(k, 0.0) for lat in cols.latency] for k in reported}
    total = [lat["total"] for lat in cols.latency]
    residual = np.asarray(total) - np.sum([np.asarray(v) for v in series.values()], axis=0)
    if np.max(np.abs(residual)) > RESIDUAL_TOLERANCE_MS:
        series["unaccounted"] = [float(x) for x in residual]
        notes.append(
            f"the pipeline's stages do not add up to its total (up to {np.max(np.abs(residual)):.2f} ms apart): "
            "the difference is the stage 'unaccounted'."
        )
    return series, total


def profile_pipeline(
    bundle: Bundle | str | os.PathLike[str],
    source: str | Source = "synthetic",
    *,
    frames: int = 300,
    warmup: int = 10,
    backend: str = "ort",
    providers: list[str] | None = None,
    threads: int | None = None,
    max_skew_ms: float | None = None,
    skew_policy: Literal["drop", "flag"] = "drop",
    progress: Callable[[int, int], None] | None = None,
    build_engine: bool = True,
    inference_workers: int = 1,
    gpu_prepare: bool | None = None,
) -> ProfileReport:
    """Profile a stream: run ``warmup`` results, then measure ``frames`` results (fewer if the source ends).

    Args:
        bundle: a bundle or its folder.
        source: a source spec (``camera``, ``synthetic``, a recording path; see ``SOURCE_SPEC_HELP``) or a Source.
        frames: results to measure after the warm-up.
        warmup: results to discard first (model load, caches, the camera's auto-exposure settling).
        backend / providers / threads / max_skew_ms / skew_policy / build_engine / inference_workers /
            gpu_prepare: as for :func:`mutualsense.open`.
        progress: called with (measured so far, ``frames``) after each measured result.

    Returns:
        The :class:`ProfileReport` (``mode == "pipeline"``).

    Raises:
        MutualSenseError: bad arguments, or the source ended before the warm-up was over; plus what
            opening the bundle, the source or the backend raises.
    """
    from mutualsense.bundle import Bundle
    from mutualsense.pipeline import Stream

    check_counts(frames, warmup, "--frames")
    b = bundle if isinstance(bundle, Bundle) else Bundle.load(Path(bundle))
    options = {"providers": providers, "threads": threads, "max_skew_ms": max_skew_ms, "skew_policy": skew_policy}
    options |= {"inference_workers": inference_workers, "gpu_prepare": gpu_prepare}
    stream = Stream(b, source, backend=backend, build_engine=build_engine, **options)  # type: ignore[arg-type]
    cols = ResultColumns()
    stats = stream.stats
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with stream:
        run = _measure(stream, cols, warmup, frames, progress)
    counters = stats.as_dict()
    n = len(cols.frame)
    if n == 0:
        raise MutualSenseError(
            f"source {stream.source.name} ended after {run.seen} results, before the warm-up of {warmup} was over.",
            "lower --warmup, or loop the recording (PATH?loop=1).",
        )
    notes: list[str] = []
    if stream.device is not None:
        notes.append("align and preprocess ran on the GPU inside the inference call, timed with CUDA events.")
    if n < frames:
        notes.append(f"the source ended after {n} measured results ({frames} were asked for).")
    if counters["dropped_by_backpressure"] > run.at_last_result:
        k = counters["dropped_by_backpressure"] - run.at_last_result
        notes.append(
            f"{k} frameset(s) were still in the pipeline when profiling stopped; the run's counters count them "
            "as back-pressure drops, the measured drops do not."
        )
    series, total = _stage_series(cols, notes)
    absent = absent_copy_stages(run.backend_name, series)
    latency_clock, clock_note, e2e, clock_notes = _latency_clock(cols, run.wall_offset)
    notes += clock_notes
    order = ordered_stages(series)
    t0 = run.window_start
    samples = Samples(
        frame_number=tuple(cols.frame),
        result_time_s=tuple(t - t0 for t in cols.result_time),
        stages_ms={k: tuple(float(x) for x in series[k]) for k in order},
        total_ms=tuple(float(x) for x in total),
        end_to_end_ms=tuple(e2e),
        skew_ms=tuple(float(x) for x in cols.skew),
        skew_flagged=tuple(bool(x) for x in cols.flagged),
        dropped_by_skew=tuple(cols.drop_skew),
        dropped_by_backpressure=tuple(cols.drop_bp),
    )
    src = stream.source
    return ProfileReport(
        mode="pipeline",
        created=created,
        machine=machine_info(),
        versions=software_versions(),
        backend=run.backend_name,
        provider=run.provider,
        threads=threads,
        bundle=bundle_info(b),
        source={
            "spec": source if isinstance(source, str) else None,
            "name": src.name,
            "type": type(src).__name__,
            "real_time": src.real_time,
            "clock_domains": sorted(set(cols.domains)),
            "max_skew_ms": max_skew_ms,
            "skew_policy": skew_policy,
        },
        warmup=warmup,
        latency_clock=latency_clock,
        latency_clock_note=clock_note,
        stages=order,
        absent_stages={k: absent[k] for k in STAGE_ORDER if k in absent},
        duration_s=cols.result_time[-1] - t0,
        counters=counters,
        samples=samples,
        notes=tuple(notes),
    )
