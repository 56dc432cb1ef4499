"""Latency profiling: per-stage percentiles of a running stream (or of the bare backend), end to end.

>>> report = mutualsense.profile_pipeline("demo-fp32", source="run.db3", frames=300)  # doctest: +SKIP
>>> report.stage_stats("inference").p95, report.throughput_fps, report.latency_clock  # doctest: +SKIP
>>> report.save("out/profile.json")  # doctest: +SKIP

What one measured result contributes (the raw samples are kept, column by column, in
:class:`Samples`; every statistic is computed from them, so a saved report can be re-analysed):

* **Stages** (ms), disjoint and in pipeline order, summing to the result's ``total`` (checked;
  anything left over is reported as the stage ``unaccounted``, never hidden):
  ``wait`` (frameset delivered → the capture thread starts on it), ``align``, ``preprocess``,
  ``queue`` (the hand-offs between the pipeline's threads: preprocessed → inference starts, and
  inferred → postprocessing starts; on a recording replayed as fast as possible this is mostly the
  stages working ahead of each other, overlapped with the previous frameset's work),
  ``host_to_device``, ``inference``, ``device_to_host``, ``postprocess``. A stage the pipeline or
  backend does not measure separately is *absent* (listed in ``absent_stages`` with the reason),
  not zero: ONNX Runtime copies inside ``session.run``, so its copies are inside ``inference``.
  A backend may add stages (see :data:`STAGE_ORDER`); unknown stage names are kept too.
* **End-to-end latency** (ms), on one of two clocks (design.md §8), named in ``latency_clock``:
  ``sensor_to_result`` for live cameras whose timestamps are in the global time domain (host
  wall-clock ms): the result's wall-clock time minus the colour frame's sensor timestamp;
  ``source_delivery_to_result`` for recordings, synthetic sources and cameras on another clock:
  the result's time minus the frameset's delivery (``arrival_time``), which equals ``total``.
* **Interval** between consecutive results and its standard deviation (**jitter**); **throughput**
  (measured results per second of the measured window).
* **Drops by cause**: back-pressure and skew drops between consecutive results (where on the
  timeline they happened), and the stream's exact counters for the whole run.
* **Skew**: colour − depth sensor timestamp of every processed frameset.

:func:`profile_backend` times the bare backend (``infer`` on random or recorded inputs, like
``trtexec``): the model's cost without the pipeline's. :func:`diff_reports` compares two reports.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mutualsense import __version__
from mutualsense.errors import MutualSenseError

if TYPE_CHECKING:
    from mutualsense.bundle import Bundle
    from mutualsense.pipeline import PipelineStats
    from mutualsense.results import SaliencyResult
    from mutualsense.sources.base import Source
from mutualsense.profile_report import (
    _PLAUSIBLE_SENSOR_LATENCY_MS,
    _RESIDUAL_TOLERANCE_MS,
    CLOCK_DELIVERY,
    CLOCK_NONE,
    CLOCK_SENSOR,
    COPY_STAGES,
    PERCENTILES,
    PROFILE_FORMAT,
    PROFILE_VERSION,
    STAGE_LABELS,
    STAGE_ORDER,
    ProfileDiff,
    ProfileReport,
    Samples,
    StageDelta,
    Stats,
    diff_reports,
    format_ms,
    stage_label,
)

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
    "profile_backend",
    "profile_pipeline",
    "stage_label",
]


# ----------------------------------------------------------------------------------- environment
def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def machine_info() -> dict[str, Any]:
    """The machine, in a few plain fields (no host name)."""
    from mutualsense.gpu import gpu_info, jetpack_version

    gpu = gpu_info()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "gpu": None if gpu is None else f"{gpu.name} (sm {gpu.compute_capability}, driver {gpu.driver_version})",
        "jetpack_l4t": jetpack_version(),
    }


def software_versions() -> dict[str, str | None]:
    """Versions of what the run depended on (None: not installed)."""
    from mutualsense.gpu import tensorrt_version

    return {
        "mutualsense": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": _dist_version("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
        "onnxruntime": _dist_version("onnxruntime", "onnxruntime-gpu"),
        "pyrealsense2": _dist_version("pyrealsense2", "pyrealsense2-beta"),
        "tensorrt": tensorrt_version(),
    }


def _bundle_info(bundle: Bundle) -> dict[str, Any]:
    spec = bundle.input_spec
    return {
        "path": str(bundle.path),
        "sha256": bundle.sha256,
        "model": bundle.manifest.get("model", {}).get("name"),
        "precision": bundle.precision,
        "input": [spec.height, spec.width],
        "batch": bundle.batch,
    }


def _provider(backend: Any) -> str:
    providers = getattr(backend, "providers", None)
    if providers:
        return ", ".join(providers)
    entry = getattr(backend, "engine_entry", None)
    if entry:
        return f"TensorRT {entry.get('tensorrt')} engine for sm {entry.get('compute_capability')} ({entry.get('file')})"
    return str(getattr(backend, "name", "unknown"))


def _absent_copy_stages(backend_name: str, present: Iterable[str]) -> dict[str, str]:
    why = (
        "ONNX Runtime copies inputs and outputs inside session.run: included in inference"
        if backend_name == "onnxruntime"
        else f"the {backend_name} backend does not time its copies separately: included in inference"
    )
    return {s: why for s in COPY_STAGES if s not in set(present)}


def _wall_clock_offset() -> float:
    """``time.time() - time.monotonic()``, read between two monotonic reads to halve the error."""
    m0 = time.monotonic()
    w = time.time()
    m1 = time.monotonic()
    return w - (m0 + m1) / 2.0


def _ordered(names: Iterable[str]) -> tuple[str, ...]:
    names = list(dict.fromkeys(names))
    known = [s for s in STAGE_ORDER if s in names and s != "unaccounted"]
    extra = [s for s in names if s not in STAGE_ORDER]
    tail = ["unaccounted"] if "unaccounted" in names else []
    return tuple(known + extra + tail)


def _check_counts(frames: int, warmup: int, what: str) -> None:
    if frames < 1:
        raise MutualSenseError(f"{what} must be at least 1, got {frames}.", f"pass {what} 100 or more.")
    if warmup < 0:
        raise MutualSenseError(f"the warm-up must be 0 or more, got {warmup}.", "pass --warmup 10.")


# ----------------------------------------------------------------------------------- pipeline
@dataclass
class _Columns:
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


def _latency_clock(cols: _Columns, wall_offset: float) -> tuple[str, str, list[float], list[str]]:
    """(clock, note, end-to-end latencies, notes) for the collected results (design.md §8)."""
    domains = sorted(set(cols.domains))
    notes: list[str] = []
    result_time = np.asarray(cols.result_time)
    if domains == ["global_time"]:
        e2e = (result_time + wall_offset) * 1000.0 - np.asarray(cols.color_ts)
        lo, hi = _PLAUSIBLE_SENSOR_LATENCY_MS
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
) -> ProfileReport:
    """Profile a stream: run ``warmup`` results, then measure ``frames`` results (fewer if the source ends).

    Args:
        bundle: a bundle or its folder.
        source: a source spec (``camera``, ``synthetic``, a recording path; see ``SOURCE_SPEC_HELP``) or a Source.
        frames: results to measure after the warm-up.
        warmup: results to discard first (model load, caches, the camera's auto-exposure settling).
        backend / providers / threads / max_skew_ms / skew_policy: as for :func:`mutualsense.open`.
        progress: called with (measured so far, ``frames``) after each measured result.

    Returns:
        The :class:`ProfileReport` (``mode == "pipeline"``).

    Raises:
        MutualSenseError: bad arguments, or the source ended before the warm-up was over; plus what
            opening the bundle, the source or the backend raises.
    """
    from mutualsense.bundle import Bundle
    from mutualsense.pipeline import Stream

    _check_counts(frames, warmup, "--frames")
    b = bundle if isinstance(bundle, Bundle) else Bundle.load(Path(bundle))
    stream = Stream(
        b,
        source,
        backend=backend,
        providers=providers,
        threads=threads,
        max_skew_ms=max_skew_ms,
        skew_policy=skew_policy,
    )
    cols = _Columns()
    stats = stream.stats
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    seen = 0
    with stream:
        wall_offset = _wall_clock_offset()
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
        provider = _provider(stream.backend)
        backend_name = str(getattr(stream.backend, "name", backend))
        at_last_result = stats.dropped_by_backpressure
    counters = stats.as_dict()
    n = len(cols.frame)
    if n == 0:
        raise MutualSenseError(
            f"source {stream.source.name} ended after {seen} results, before the warm-up of {warmup} was over.",
            "lower --warmup, or loop the recording (PATH?loop=1).",
        )
    notes: list[str] = []
    if n < frames:
        notes.append(f"the source ended after {n} measured results ({frames} were asked for).")
    if counters["dropped_by_backpressure"] > at_last_result:
        k = counters["dropped_by_backpressure"] - at_last_result
        notes.append(
            f"{k} frameset(s) were still in the pipeline when profiling stopped; the run's counters count them "
            "as back-pressure drops, the measured drops do not."
        )
    # stages: what the pipeline reports (wait, align, preprocess, queue, inference, postprocess, ...)
    reported = [k for k in cols.latency[0] if k != "total"]
    for lat in cols.latency[1:]:
        reported += [k for k in lat if k != "total" and k not in reported]
    series: dict[str, list[float]] = {k: [lat.get(k, 0.0) for lat in cols.latency] for k in reported}
    absent = _absent_copy_stages(backend_name, reported)
    total = [lat["total"] for lat in cols.latency]
    residual = np.asarray(total) - np.sum([np.asarray(v) for v in series.values()], axis=0)
    if np.max(np.abs(residual)) > _RESIDUAL_TOLERANCE_MS:
        series["unaccounted"] = [float(x) for x in residual]
        notes.append(
            f"the pipeline's stages do not add up to its total (up to {np.max(np.abs(residual)):.2f} ms apart): "
            "the difference is the stage 'unaccounted'."
        )
    latency_clock, clock_note, e2e, clock_notes = _latency_clock(cols, wall_offset)
    notes += clock_notes
    order = _ordered(series)
    t0 = window_start
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
        backend=backend_name,
        provider=provider,
        threads=threads,
        bundle=_bundle_info(b),
        source={
            "spec": source if isinstance(source, str) else None,
            "name": src.name,
            "type": type(src).__name__,
            "real_time": bool(getattr(src, "real_time", True)),
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


# ----------------------------------------------------------------------------------- bare backend
def _recorded_feeds(bundle: Bundle, inputs: str | Source, limit: int) -> tuple[list[dict[str, np.ndarray]], str]:
    """Up to ``limit`` framesets of a source, aligned and preprocessed as the pipeline does."""
    from mutualsense.align import DepthAligner
    from mutualsense.preprocess import preprocess_depth, preprocess_rgb
    from mutualsense.sources.base import SourceEnded, open_source

    src = open_source(inputs)
    spec, grid = bundle.input_spec, (bundle.input_spec.height, bundle.input_spec.width)
    feeds: list[dict[str, np.ndarray]] = []
    aligner: DepthAligner | None = None
    with src:
        while len(feeds) < limit:
            try:
                fs = src.read(2000)
            except SourceEnded:
                break
            if fs is None:
                break
            if aligner is None or not aligner.matches_frameset(fs, grid):
                aligner = DepthAligner(fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color, grid)
            rgb = preprocess_rgb(fs.color, spec)[None]
            depth = preprocess_depth(aligner(fs.depth, fs.depth_scale), fs.depth_scale, spec)[None]
            if bundle.batch > 1:
                rgb, depth = np.repeat(rgb, bundle.batch, axis=0), np.repeat(depth, bundle.batch, axis=0)
            feeds.append({"rgb": rgb, "depth": depth})
    if not feeds:
        raise MutualSenseError(f"source {src.name} delivered no frameset.", "check the recording or camera.")
    return feeds, src.name


def _random_feed(bundle: Bundle, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feed = {}
    for name, t in bundle.manifest["input"]["tensors"].items():
        feed[name] = rng.standard_normal(tuple(t["shape"])).astype(np.float32)
    return feed


def profile_backend(
    bundle: Bundle | str | os.PathLike[str],
    *,
    iterations: int = 300,
    warmup: int = 10,
    backend: str = "ort",
    providers: list[str] | None = None,
    threads: int | None = None,
    inputs: str | Source | None = None,
    max_inputs: int = 16,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ProfileReport:
    """Time the bare backend: ``iterations`` back-to-back ``infer`` calls after ``warmup`` (like ``trtexec``).

    Separates the model's cost from the pipeline's: compare its ``inference`` with
    :func:`profile_pipeline`'s. A backend that times its own copies (an attribute
    ``last_timings_ms``: stage → ms of its last ``infer``, e.g. ``host_to_device``, ``inference``,
    ``device_to_host``) gets them reported as separate stages.

    Args:
        bundle: a bundle or its folder.
        iterations / warmup: measured and discarded calls.
        inputs: None for random inputs of the bundle's shapes, or a source spec / Source whose first
            ``max_inputs`` framesets are aligned, preprocessed and cycled through.
        backend / providers / threads: as for :func:`mutualsense.open`.
        seed: of the random inputs.
        progress: called with (measured so far, ``iterations``).
    """
    from mutualsense.bundle import Bundle
    from mutualsense.pipeline import _make_backend

    _check_counts(iterations, warmup, "--frames (iterations)")
    b = bundle if isinstance(bundle, Bundle) else Bundle.load(Path(bundle))
    if inputs is None:
        feeds, input_name = [_random_feed(b, seed)], f"random (normal, seed {seed})"
    else:
        feeds, input_name = _recorded_feeds(b, inputs, max(1, max_inputs))
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    calls: list[float] = []
    ends: list[float] = []
    split: list[Mapping[str, float] | None] = []
    be = _make_backend(backend, b, providers, threads)
    with be:
        perf = time.perf_counter
        for i in range(warmup):
            be.infer(feeds[i % len(feeds)])
        start = perf()
        for i in range(iterations):
            feed = feeds[i % len(feeds)]
            t0 = perf()
            be.infer(feed)
            t1 = perf()
            calls.append(1000.0 * (t1 - t0))
            ends.append(t1 - start)
            timings = getattr(be, "last_timings_ms", None)
            split.append(dict(timings) if isinstance(timings, Mapping) else None)
            if progress is not None:
                progress(i + 1, iterations)
        provider = _provider(be)
        backend_name = str(getattr(be, "name", backend))
    series: dict[str, list[float]]
    if all(s is not None for s in split):
        names = list(dict.fromkeys(k for s in split if s is not None for k in s))
        series = {k: [float(s.get(k, 0.0)) for s in split if s is not None] for k in names}
    else:
        series = {"inference": calls}
    residual = np.asarray(calls) - np.sum([np.asarray(v) for v in series.values()], axis=0)
    if np.max(np.abs(residual)) > _RESIDUAL_TOLERANCE_MS:
        series["unaccounted"] = [float(x) for x in residual]
    order = _ordered(series)
    return ProfileReport(
        mode="backend",
        created=created,
        machine=machine_info(),
        versions=software_versions(),
        backend=backend_name,
        provider=provider,
        threads=threads,
        bundle=_bundle_info(b),
        source={"spec": inputs if isinstance(inputs, str) else None, "name": input_name, "inputs": len(feeds)},
        warmup=warmup,
        latency_clock=CLOCK_NONE,
        latency_clock_note="backend only: one infer call on preprocessed inputs in memory; no source, no pipeline.",
        stages=order,
        absent_stages=_absent_copy_stages(backend_name, order),
        duration_s=ends[-1],
        counters={},
        samples=Samples(
            frame_number=tuple(range(iterations)),
            result_time_s=tuple(ends),
            stages_ms={k: tuple(series[k]) for k in order},
            total_ms=tuple(calls),
        ),
        notes=(),
    )
