"""The TensorRT wing: everything that touches TensorRT, in one subpackage that imports without torch.

- :mod:`.versions` — version parsing, the minimum supported, stale-engine detection;
- :mod:`.plugin_build` — build the CDA plugin from its shipped sources (CMake, nvcc, TensorRT headers);
- :mod:`.plugin_loading` — load it into TensorRT and prove its creator is registered (one guard);
- :mod:`.engine_build` / :mod:`.builder_calls` — plan and build an engine into a bundle, atomically;
- :mod:`.backend` — run an engine (building it on first use), the ``tensorrt`` backend;
- :mod:`.target_check` — ``mutualsense doctor --target``: plugin → engine → run → compare with ONNX Runtime.

``tensorrt`` and cuda-python are imported only inside the functions that call them. The runtime builds
engines on first use, so the wing lives in the runtime; ``mutualsense.export`` calls it (``export
--engine``), never the other way round.
"""

from __future__ import annotations

from mutualsense.tensorrt.backend import TensorRTBackend, ensure_engine, select_engine
from mutualsense.tensorrt.engine_build import build_engine, plan_engine
from mutualsense.tensorrt.plugin_build import build_plugin
from mutualsense.tensorrt.plugin_loading import load_plugin
from mutualsense.tensorrt.versions import parse_version, require_tensorrt, stale_reason

__all__ = [
    "TensorRTBackend",
    "build_engine",
    "build_plugin",
    "ensure_engine",
    "load_plugin",
    "parse_version",
    "plan_engine",
    "require_tensorrt",
    "select_engine",
    "stale_reason",
]
