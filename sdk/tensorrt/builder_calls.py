"""The TensorRT builder calls: parse the bundle's ONNX, configure, build, keep the timing cache.

Imported only when an engine is really built (it imports ``tensorrt``). Written against TensorRT's
documented Python API and checked, name by name, against the bindings of every supported TensorRT
(``tests/tensorrt/test_api_conformance.py``, table in ``docs/tensorrt-api.md``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mutualsense.errors import EngineError
from mutualsense.tensorrt.plugin_loading import load_plugin

if TYPE_CHECKING:  # engine_build imports this module when it runs the real builder
    from mutualsense.tensorrt.engine_build import EnginePlan

__all__ = ["run_builder"]


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _progress_monitor(trt: Any, progress: Callable[[str], None]) -> Any:
    """A ``trt.IProgressMonitor`` reporting each top-level build phase (None where TensorRT lacks the class)."""
    if not hasattr(trt, "IProgressMonitor"):
        return None

    class Monitor(trt.IProgressMonitor):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            if parent_phase is None:
                progress(f"  {phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # keep building

        def phase_finish(self, phase_name: str) -> None:
            pass

    return Monitor()


def run_builder(  # pragma: no cover - needs TensorRT
    plan: EnginePlan, messages: list[str], progress: Callable[[str], None]
) -> bytes:
    """Build the serialized engine the plan describes; TensorRT's log lines are appended to ``messages``."""
    import tensorrt as trt

    class CapturingLogger(trt.ILogger):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            messages.append(f"[{getattr(severity, 'name', severity)}] {msg}")

    logger = CapturingLogger()
    if plan.plugin is not None:
        load_plugin(trt, plan.plugin, logger)  # creator checked before the parser looks for it
    else:
        trt.init_libnvinfer_plugins(logger, "")
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if plan.strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(plan.onnx_path)):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise EngineError(
            f"TensorRT could not parse {plan.onnx_path.name}: {errors}",
            f"read the builder log ({plan.log_file} in the bundle); re-export the bundle with this mutualsense.",
        )
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_bytes)
    if plan.fp16_flag and hasattr(trt.BuilderFlag, "FP16"):
        config.set_flag(trt.BuilderFlag.FP16)
    if plan.int8_flag and hasattr(trt.BuilderFlag, "INT8"):  # scales come from the Q/DQ nodes: no calibrator
        config.set_flag(trt.BuilderFlag.INT8)
    monitor = _progress_monitor(trt, progress)
    if monitor is not None:
        config.progress_monitor = monitor
    cache_bytes = plan.timing_cache.read_bytes() if plan.timing_cache.exists() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(
            "TensorRT failed to build the engine.", f"read the builder log ({plan.log_file}) for the failing layer."
        )
    _write_atomic(plan.timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)
