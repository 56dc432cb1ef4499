"""Model output → :class:`SaliencyResult`: the saliency map on the model's grid (at colour resolution
when first read), salient objects with their distances, and the latency of every stage."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np

from mutualsense.pipeline.prepare import Prepared
from mutualsense.preprocess import InputSpec
from mutualsense.results import SaliencyResult, SalientObject, postprocess
from mutualsense.sources.frameset import FrameSet
from mutualsense.spatial.step import SpatialStep

__all__ = ["Located", "locate_objects", "make_result"]


@dataclass(frozen=True)
class Located:
    """The order-free part of postprocessing, done ahead (by an inference worker): the map, the objects
    (in 3D when the stream locates them, not yet tracked) and how long it took."""

    prob: np.ndarray
    objects: tuple[SalientObject, ...]
    ms: float


def locate_objects(
    fs: FrameSet,
    prepared: Prepared,
    logits: np.ndarray,
    spec: InputSpec,
    threshold: float,
    spatial: SpatialStep | None,
    smooth: bool = False,
) -> Located:
    """Logits → saliency map and objects, not yet tracked. Without ``smooth`` (the spatial step's temporal
    smoothing, which needs a source's framesets in order) this is the part of postprocessing that
    framesets may go through in any order, on any thread."""
    t0 = time.monotonic()
    color_size = (fs.color.shape[1], fs.color.shape[0])
    smoothing = functools.partial(spatial.smooth, fs) if spatial is not None and smooth else None
    locate = None if spatial is None else spatial.locator(fs, (spec.height, spec.width))
    prob, objects = postprocess(
        logits, prepared.aligned_depth, fs.depth_scale, color_size, threshold, smooth=smoothing, locate=locate
    )
    return Located(prob, objects, 1000 * (time.monotonic() - t0))


def make_result(
    fs: FrameSet,
    flagged: bool,
    prepared: Prepared,
    logits: np.ndarray,
    inference_started: float,
    inference_finished: float,
    spec: InputSpec,
    threshold: float,
    spatial: SpatialStep | None = None,
    located: Located | None = None,
) -> SaliencyResult:
    """Logits → saliency map (model grid; colour resolution on first read), salient objects with distances,
    stage timings.

    ``spatial``: the stream's 3D step (smoothing, objects in 3D, tracks); None = 2D objects only.
    ``located``: the order-free part, already done by :func:`locate_objects` (then only tracking is left;
    only for streams without smoothing): its time counts as postprocess, not as queue.
    """
    t0 = time.monotonic()
    ahead = 0.0  # time spent by a worker before t0; done here, it is timed from t0 like the rest
    if located is None:
        located = locate_objects(fs, prepared, logits, spec, threshold, spatial, smooth=True)
    else:
        ahead = located.ms
    prob, objects = located.prob, located.objects
    if spatial is not None:
        objects = spatial.track(fs, objects)
    done = time.monotonic()
    total = 1000 * (done - fs.arrival_time)
    stages = {
        "align": prepared.align_ms,
        "preprocess": prepared.preprocess_ms,
        # between threads: prepared → inference started, inferred → postprocess started
        "queue": 1000 * ((inference_started - prepared.finished) + (t0 - inference_finished)) - ahead,
        "inference": 1000 * (inference_finished - inference_started),
        "postprocess": 1000 * (done - t0) + ahead,
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
        color_size=(fs.color.shape[1], fs.color.shape[0]),
        camera_to_robot=None if spatial is None else spatial.camera_to_robot,
    )
