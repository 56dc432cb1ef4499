"""The streaming pipeline: source → align → preprocess → backend → result, one capture thread per
source and one inference thread (see :mod:`mutualsense.pipeline.stream`).

>>> with mutualsense.open("demo-fp32", source="synthetic") as stream:  # doctest: +SKIP
...     for result in stream: ...
"""

from __future__ import annotations

from mutualsense.pipeline.stats import PipelineStats, stream_stats
from mutualsense.pipeline.stream import Stream, open

__all__ = ["PipelineStats", "Stream", "open", "stream_stats"]
