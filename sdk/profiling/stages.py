"""The profiler's vocabulary: stage names and order, latency clocks, report format, and how values are shown."""

from __future__ import annotations

import math

__all__ = [
    "CLOCK_DELIVERY",
    "CLOCK_NONE",
    "CLOCK_SENSOR",
    "COPY_STAGES",
    "PERCENTILES",
    "PLAUSIBLE_SENSOR_LATENCY_MS",
    "PROFILE_FORMAT",
    "PROFILE_VERSION",
    "RESIDUAL_TOLERANCE_MS",
    "STAGE_LABELS",
    "STAGE_ORDER",
    "format_ms",
    "stage_label",
]

PROFILE_FORMAT = "mutualsense.profile"
PROFILE_VERSION = 1
PERCENTILES = (50, 90, 95, 99)

#: Stages in the order a frameset goes through them. A backend or a later pipeline may add stages
#: (named in ``SaliencyResult.latency_ms``); names not listed
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

RESIDUAL_TOLERANCE_MS = 0.01  # stage sums off by more than this get an "unaccounted" stage
PLAUSIBLE_SENSOR_LATENCY_MS = (-5.0, 10_000.0)


def format_ms(x: float | None, width: int = 0) -> str:
    """A millisecond value for tables: 3 significant digits, '—' for None."""
    if x is None or not math.isfinite(x):
        return "—".rjust(width)
    text = f"{x:.3f}" if abs(x) < 1 else f"{x:.2f}" if abs(x) < 100 else f"{x:.1f}"
    return text.rjust(width)


def stage_label(name: str) -> str:
    """How a stage is named in tables and plots."""
    return STAGE_LABELS.get(name, name.replace("_", " "))
