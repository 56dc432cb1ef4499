"""The streaming pipeline: source → align → preprocess → backend → result, one capture thread per
source and one inference thread (see :mod:`mutualsense.pipeline.stream`).

>>> with mutualsense.open("demo-fp32", source="synthetic") as stream:  # doctest: +SKIP
...     for result in stream: ...
"""

from __future__ import annotations

from mutualsense.pipeline.prepare import FramePreparer, Prepared
from mutualsense.pipeline.run import StreamSummary, open, run_stream
from mutualsense.pipeline.sinks import Sink, StatusLine
from mutualsense.pipeline.stats import PipelineStats, format_status, stream_stats
from mutualsense.pipeline.stream import Stream

__all__ = [
    "FramePreparer",
    "PipelineStats",
    "Prepared",
    "Sink",
    "StatusLine",
    "Stream",
    "StreamSummary",
    "format_status",
    "open",
    "run_stream",
    "stream_stats",
]
