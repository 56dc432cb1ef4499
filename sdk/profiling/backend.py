"""Profiling the bare backend: back-to-back ``infer`` calls on random or recorded inputs (like ``trtexec``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

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
)
from mutualsense.profiling.report import ProfileReport
from mutualsense.profiling.samples import Samples
from mutualsense.profiling.stages import CLOCK_NONE, RESIDUAL_TOLERANCE_MS

if TYPE_CHECKING:
    from mutualsense.bundle import Bundle
    from mutualsense.sources.base import Source

__all__ = ["profile_backend"]


# ----------------------------------------------------------------------------------- bare backend
def _recorded_feeds(bundle: Bundle, inputs: str | Source, limit: int) -> tuple[list[dict[str, np.ndarray]], str]:
    """Up to ``limit`` framesets of a source, aligned and preprocessed as the pipeline does."""
    from mutualsense.align import DepthAligner
    from mutualsense.preprocess import preprocess_depth, preprocess_rgb
    from mutualsense.sources.base import SourceEnded
    from mutualsense.sources.spec import open_source

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
    from mutualsense.backends.factory import open_backend
    from mutualsense.bundle import Bundle

    check_counts(iterations, warmup, "--frames (iterations)")
    b = bundle if isinstance(bundle, Bundle) else Bundle.load(Path(bundle))
    if inputs is None:
        feeds, input_name = [_random_feed(b, seed)], f"random (normal, seed {seed})"
    else:
        feeds, input_name = _recorded_feeds(b, inputs, max(1, max_inputs))
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    calls: list[float] = []
    ends: list[float] = []
    split: list[Mapping[str, float] | None] = []
    be = open_backend(backend, b, providers, threads)
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
        provider = provider_name(be)
        backend_name = str(getattr(be, "name", backend))
    series: dict[str, list[float]]
    if all(s is not None for s in split):
        names = list(dict.fromkeys(k for s in split if s is not None for k in s))
        series = {k: [float(s.get(k, 0.0)) for s in split if s is not None] for k in names}
    else:
        series = {"inference": calls}
    residual = np.asarray(calls) - np.sum([np.asarray(v) for v in series.values()], axis=0)
    if np.max(np.abs(residual)) > RESIDUAL_TOLERANCE_MS:
        series["unaccounted"] = [float(x) for x in residual]
    order = ordered_stages(series)
    return ProfileReport(
        mode="backend",
        created=created,
        machine=machine_info(),
        versions=software_versions(),
        backend=backend_name,
        provider=provider,
        threads=threads,
        bundle=bundle_info(b),
        source={"spec": inputs if isinstance(inputs, str) else None, "name": input_name, "inputs": len(feeds)},
        warmup=warmup,
        latency_clock=CLOCK_NONE,
        latency_clock_note="backend only: one infer call on preprocessed inputs in memory; no source, no pipeline.",
        stages=order,
        absent_stages=absent_copy_stages(backend_name, order),
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
