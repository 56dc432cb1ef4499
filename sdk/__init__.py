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
    "Bundle",
    "BundleError",
    "Stream",
    "CheckpointError",
    "DataError",
    "EngineError",
    "MissingDependencyError",
    "MutualSenseError",
    "PluginError",
    "ProfileReport",
    "SourceError",
    "__version__",
    "open",
    "profile_backend",
    "profile_pipeline",
]


def __getattr__(name: str) -> object:
    # Heavier parts (OpenCV, jsonschema) load on first use, keeping `import mutualsense` instant.
    lazy = {
        "Bundle": "mutualsense.bundle",
        "open": "mutualsense.pipeline",
        "Stream": "mutualsense.pipeline",
        "ProfileReport": "mutualsense.profiling",
        "profile_backend": "mutualsense.profiling",
        "profile_pipeline": "mutualsense.profiling",
    }
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(lazy[name]), name)
    raise AttributeError(f"module 'mutualsense' has no attribute {name!r}")
