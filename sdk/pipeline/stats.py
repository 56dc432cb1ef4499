"""A stream's exact counters and the statistics shown while it runs (rates, latency percentiles, skew)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mutualsense.errors import MutualSenseError

__all__ = ["PipelineStats", "advice", "format_status", "skew_stall_error", "stream_stats"]


@dataclass
class PipelineStats:
    """Counters of one stream; ``produced == processed + dropped_by_skew + dropped_by_backpressure``."""

    produced: int = 0
    processed: int = 0
    dropped_by_skew: int = 0
    dropped_by_backpressure: int = 0
    skew_flagged: int = 0
    read_timeouts: int = 0
    source_frame_gaps: int = 0
    reconnects: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def stream_stats(
    stats: PipelineStats, latencies: Sequence[float], skews: Sequence[float], started: float
) -> dict[str, Any]:
    """What the status line and the web viewer show: rates, latency percentiles, skew, the exact counters.

    Args:
        stats: the stream's counters (``Stream.stats``).
        latencies: recent total latencies in ms (the caller keeps a window, e.g. the last 300).
        skews: recent colour − depth skews in ms.
        started: ``time.monotonic()`` when the stream started.
    """
    elapsed = max(time.monotonic() - started, 1e-9)
    p50, p95 = (float(v) for v in np.percentile(latencies, [50, 95])) if len(latencies) else (0.0, 0.0)
    return {
        "fps": stats.processed / elapsed,
        "elapsed_s": elapsed,
        "latency_p50_ms": p50,
        "latency_p95_ms": p95,
        "skew_median_abs_ms": float(np.median(np.abs(skews))) if len(skews) else 0.0,
        **stats.as_dict(),
    }


def format_status(s: Mapping[str, Any]) -> str:
    """One status line from :func:`stream_stats`'s dict."""
    return (
        f"{s['fps']:5.1f} fps | latency p50 {s['latency_p50_ms']:6.1f} ms p95 {s['latency_p95_ms']:6.1f} ms | "
        f"|skew| median {s['skew_median_abs_ms']:5.1f} ms | produced {s['produced']} processed {s['processed']} "
        f"dropped: skew {s['dropped_by_skew']} back-pressure {s['dropped_by_backpressure']}"
    )


def advice(camera_stats: Mapping[str, PipelineStats]) -> list[str]:
    """What to change when a camera lost frames (USB bandwidth) or framesets were dropped for skew."""
    tips = []
    for name, s in camera_stats.items():
        if s.source_frame_gaps:
            tips.append(
                f"{name} lost {s.source_frame_gaps} frames before they reached MutualSense (USB bandwidth or "
                "power): lower its colour or depth resolution or frame rate (e.g. depth 848x480@30 → 640x360@30 "
                "or 424x240@30), put each camera on its own USB 3 controller, or use a powered hub."
            )
        if s.dropped_by_skew:
            tips.append(
                f"{name}: {s.dropped_by_skew} framesets exceeded the RGB-depth skew limit: raise --max-skew-ms "
                "or run colour and depth at the same frame rate."
            )
    return tips


def skew_stall_error(source: str, max_skew_ms: float | None, skew_ms: float, how: str) -> MutualSenseError:
    """A source whose every frameset exceeds the skew limit can never produce a result: say so.

    Not a :class:`~mutualsense.errors.SourceError`: the source works, so reconnecting a camera would not help.
    """
    return MutualSenseError(
        f"source {source}: {how} exceeded the RGB-depth skew limit of {max_skew_ms:g} ms "
        f"(the latest was {skew_ms:+.1f} ms) and was dropped, so the stream can never produce a result.",
        f"raise --max-skew-ms above {abs(skew_ms):.0f}, or pass --skew-policy flag to keep them flagged.",
    )
