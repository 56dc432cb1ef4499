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

from mutualsense.profiling.backend import profile_backend
from mutualsense.profiling.diff import ProfileDiff, StageDelta, diff_reports
from mutualsense.profiling.pipeline import profile_pipeline
from mutualsense.profiling.report import ProfileReport
from mutualsense.profiling.samples import Samples, Stats
from mutualsense.profiling.stages import (
    CLOCK_DELIVERY,
    CLOCK_NONE,
    CLOCK_SENSOR,
    PERCENTILES,
    PROFILE_FORMAT,
    PROFILE_VERSION,
    STAGE_LABELS,
    STAGE_ORDER,
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
