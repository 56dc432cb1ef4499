"""MutualSense: MutualFormer RGB-D salient-object detection on robots.

The runtime package. It imports without torch, TensorRT or pyrealsense2; those are loaded
lazily by the parts that need them (``mutualsense.export`` for torch, the TensorRT backend,
the RealSense sources).
"""

from __future__ import annotations

from mutualsense.errors import (
    BundleError,
    CheckpointError,
    DataError,
    EngineError,
    MissingDependencyError,
    MutualSenseError,
    PluginError,
    SourceError,
)

__version__ = "0.1.0"

__all__ = [
    "BundleError",
    "CheckpointError",
    "DataError",
    "EngineError",
    "MissingDependencyError",
    "MutualSenseError",
    "PluginError",
    "SourceError",
    "__version__",
]
