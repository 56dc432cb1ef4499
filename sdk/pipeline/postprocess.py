"""Model output → :class:`SaliencyResult`: the saliency map on the model's grid (at colour resolution
when first read), salient objects with their distances, and the latency of every stage."""

from __future__ import annotations

import time

import numpy as np

from mutualsense.pipeline.prepare import Prepared
from mutualsense.preprocess import InputSpec
from mutualsense.results import SaliencyResult, postprocess
from mutualsense.sources.frameset import FrameSet

__all__ = ["make_result"]


def make_result(
    fs: FrameSet,
    flagged: bool,
    prepared: Prepared,
    logits: np.ndarray,
    inference_started: float,
    inference_finished: float,
    spec: InputSpec,
    threshold: float,
) -> SaliencyResult:
    """Logits → saliency map (model grid; colour resolution on first read), salient objects with distances,
    stage timings."""
    t0 = time.monotonic()
    color_size = (fs.color.shape[1], fs.color.shape[0])
    prob, objects = postprocess(logits, prepared.aligned_depth, fs.depth_scale, color_size, threshold)
    done = time.monotonic()
    total = 1000 * (done - fs.arrival_time)
    stages = {
        "align": prepared.align_ms,
        "preprocess": prepared.preprocess_ms,
        # between threads: prepared → inference started, inferred → postprocess started
        "queue": 1000 * ((inference_started - prepared.finished) + (t0 - inference_finished)),
        "inference": 1000 * (inference_finished - inference_started),
        "postprocess": 1000 * (done - t0),
    }
    # the rest is the wait for the capture thread to pick the frameset up
    latency = {"wait": max(0.0, total - sum(stages.values())), **stages, "total": total}
    return SaliencyResult(
        model_saliency=prob,
        objects=objects,
        threshold=threshold,
        color_frame_number=fs.color_frame_number,
        depth_frame_number=fs.depth_frame_number,
        color_timestamp_ms=fs.color_timestamp_ms,
        depth_timestamp_ms=fs.depth_timestamp_ms,
        clock_domain=fs.clock_domain,
        skew_ms=fs.skew_ms,
        skew_flagged=flagged,
        arrival_time=fs.arrival_time,
        result_time=done,
        latency_ms=latency,
        source=fs.source,
        frameset=fs,
        color_size=color_size,
    )
