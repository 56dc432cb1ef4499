"""The two ways in: :func:`open` a stream and iterate it, or :func:`run_stream` it to the end with sinks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mutualsense.bundle import Bundle
from mutualsense.pipeline.sinks import Sink
from mutualsense.pipeline.stats import PipelineStats
from mutualsense.pipeline.stream import Stream
from mutualsense.sources.base import Source

__all__ = ["StreamSummary", "open", "run_stream"]


def open(  # noqa: A001 - mirrors the builtin on purpose: mutualsense.open(bundle, source=...)
    bundle: Bundle | str | os.PathLike[str],
    source: str | Source = "synthetic",
    sources: Sequence[str | Source] | None = None,
    **kwargs: Any,
) -> Stream:
    """Open a stream: ``with mutualsense.open("bundle", source="camera") as stream: for r in stream: ...``.

    ``sources=["camera:A", "camera:B"]`` streams several cameras through one backend. Keyword
    arguments are those of :class:`Stream`.
    """
    return Stream(bundle, source, sources=sources, **kwargs)


@dataclass(frozen=True)
class StreamSummary:
    """How a stream run by :func:`run_stream` went.

    Attributes:
        stats: the counters of all cameras together.
        camera_stats: the counters per camera name.
        status: the last :meth:`Stream.status` (rates, latency percentiles, skew).
        advice: what to change (lost frames, skew drops), in plain words.
    """

    stats: PipelineStats
    camera_stats: dict[str, PipelineStats]
    status: dict[str, Any]
    advice: list[str]


def run_stream(
    bundle: Bundle | str | os.PathLike[str],
    sources: Sequence[str | Source],
    sinks: Sequence[Sink] = (),
    max_results: int | None = None,
    **kwargs: Any,
) -> StreamSummary:
    """Stream ``sources`` through ``bundle`` until they end (or ``max_results``), feeding every result to
    ``sinks``; what ``mutualsense stream`` runs. Keyword arguments are those of :class:`Stream`."""
    with Stream(bundle, sources=sources, sinks=sinks, **kwargs) as stream:
        stream.run(max_results)
    return StreamSummary(stream.stats, stream.camera_stats, stream.status(), stream.advice())
