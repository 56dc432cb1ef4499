"""Frame sources: live RealSense cameras, RealSense recordings and a synthetic camera, all delivering
:class:`FrameSet` objects through one protocol (:class:`Source`).

>>> from mutualsense.sources import open_source
>>> with open_source("synthetic?fps=30&seed=1&frames=2") as source:
...     frameset = source.read(timeout_ms=1000)  # None on timeout; SourceEnded at the end
>>> frameset.color.shape, frameset.depth.dtype.name
((480, 640, 3), 'uint16')

numpy and OpenCV only; pyrealsense2 is imported when a camera or recording is opened.
"""

from __future__ import annotations

from mutualsense.sources.base import Source, SourceCounters, SourceEnded
from mutualsense.sources.frameset import CLOCK_DOMAINS, Extrinsics, FrameSet, Intrinsics, StreamFrame
from mutualsense.sources.pairing import NearestPairer, Pair
from mutualsense.sources.realsense import DEPTH_PRESETS, CameraInfo, RealSenseCamera, list_cameras
from mutualsense.sources.record import RecordingInfo, record
from mutualsense.sources.recording import Recording
from mutualsense.sources.spec import RECORDING_SUFFIXES, SOURCE_SPEC_HELP, SourceSpec, open_source, parse_source_spec
from mutualsense.sources.synthetic import SyntheticSource

__all__ = [
    "CLOCK_DOMAINS",
    "DEPTH_PRESETS",
    "RECORDING_SUFFIXES",
    "SOURCE_SPEC_HELP",
    "CameraInfo",
    "Extrinsics",
    "FrameSet",
    "Intrinsics",
    "NearestPairer",
    "Pair",
    "RealSenseCamera",
    "Recording",
    "RecordingInfo",
    "Source",
    "SourceCounters",
    "SourceEnded",
    "SourceSpec",
    "StreamFrame",
    "SyntheticSource",
    "list_cameras",
    "open_source",
    "parse_source_spec",
    "record",
]
