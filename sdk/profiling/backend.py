"""Profiling the bare backend: back-to-back ``infer`` calls on random or recorded inputs (like ``trtexec``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
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
from mutualsense.profiling.stages import CLOCK_NONE

if TYPE_CHECKING:
    from mutualsense.bundle import Bundle
    from mutualsense.sources.base import Source

__all__ = ["profile_backend"]


# ----------------------------------------------------------------------------------- bare backend
def _recorded_feeds(bundle: Bundle, inputs: str | Source, limit: int) -> tuple[list[dict[str, np.ndarray]], str]:
    """Up to ``limit`` framesets of a source, aligned and preprocessed as the pipeline does."""
    from mutualsense.backends.batching import pad_batch
    from mutualsense.pipeline.prepare import FramePreparer
    from mutualsense.sources.base import SourceEnded
    from mutualsense.sources.spec import open_source

    src = open_source(inputs)
    preparer = FramePreparer(bundle.input_spec)
    feeds: list[dict[str, np.ndarray]] = []
    with src:
        while len(feeds) < limit:
            try:
                fs = src.read(2000)
            except SourceEnded:
                break
            if fs is None:
                break
            prepared = preparer.prepare(fs)
            batch = bundle.batch
            feeds.append({"rgb": pad_batch(prepared.rgb, batch), "depth": pad_batch(prepared.depth, batch)})
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
    :func:`profile_pipeline`'s.

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
            if progress is not None:
                progress(i + 1, iterations)
        provider = provider_name(be)
        backend_name = be.name
    # one stage: the backends time their host↔device copies inside infer (see absent_stages)
    series = {"inference": calls}
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
