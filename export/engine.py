"""Build a TensorRT engine from a bundle on the target and add it to the bundle (no torch needed).

Written against NVIDIA's documented TensorRT Python API (``tensorrt``), imported only inside
:func:`build_engine`. TensorRT 10.x builds weakly typed networks (FP16 allowed by a builder flag);
TensorRT 11 removed that flag and builds strongly typed networks whose precision comes from the
ONNX itself (FP16 weights, Q/DQ nodes) — both are handled. The engine file name encodes the TensorRT
version and the GPU's compute capability, so one bundle can carry engines for several targets.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mutualsense.bundle import Bundle, sha256_file, update_bundle
from mutualsense.errors import EngineError, PluginError
from mutualsense.gpu import GpuInfo, gpu_info, jetpack_version, tensorrt_version

__all__ = [
    "EnginePlan",
    "build_engine",
    "engine_filename",
    "plan_engine",
    "require_tensorrt",
    "timing_cache_filename",
]

log = logging.getLogger(__name__)

MIN_TENSORRT = (10, 0)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:3] if p.isdigit())


def engine_filename(trt_version: str, compute_capability: str, precision: str) -> str:
    """``engine-trt10.3.0-sm87-fp16.plan``: one file per TensorRT version, GPU architecture and precision."""
    return f"engine-trt{trt_version}-sm{compute_capability.replace('.', '')}-{precision}.plan"


def timing_cache_filename(trt_version: str, compute_capability: str) -> str:
    """Timing cache kept next to the engines (not part of the manifest: a build accelerator only)."""
    return f"timing-trt{trt_version}-sm{compute_capability.replace('.', '')}.cache"


@dataclass(frozen=True)
class EnginePlan:
    """Everything decided before TensorRT is touched: inputs, flags, file names."""

    onnx_path: Path
    engine_file: str
    timing_cache: Path
    log_file: str
    strongly_typed: bool
    fp16_flag: bool
    int8_flag: bool  # TensorRT 10.x builds Q/DQ (explicitly quantised) weakly typed networks only with it
    workspace_bytes: int
    plugin: Path | None
    trt_version: str
    gpu: GpuInfo


def require_tensorrt(trt_version: str | None, gpu: GpuInfo | None) -> tuple[str, GpuInfo]:
    """Refuse early, with the reason and the fix, where no engine can be built."""
    if trt_version is None:
        raise EngineError(
            "TensorRT is not installed on this machine, so no engine can be built here.",
            "run `mutualsense build-engine BUNDLE` on the Jetson that will run it (JetPack >= 6 ships TensorRT); "
            "engines are specific to the GPU and TensorRT version they are built with.",
        )
    if _version_tuple(trt_version) < MIN_TENSORRT:
        raise EngineError(
            f"TensorRT {trt_version} is too old (mutualsense needs >= {'.'.join(map(str, MIN_TENSORRT))}).",
            "upgrade to JetPack >= 6 (TensorRT 10.3).",
        )
    if gpu is None:
        raise EngineError(
            f"TensorRT {trt_version} is installed but no CUDA GPU is visible.",
            "check the NVIDIA driver (`nvidia-smi` or `tegrastats`) and that this process may use the GPU.",
        )
    return trt_version, gpu


def plan_engine(
    bundle: Bundle,
    trt_version: str,
    gpu: GpuInfo,
    plugin: Path | None = None,
    workspace_mb: int = 1024,
) -> EnginePlan:
    """Decide how to build: the parser's input, the typing mode, flags and file names."""
    if workspace_mb < 16:
        raise EngineError(f"workspace of {workspace_mb} MB is too small.", "pass --workspace 256 or more.")
    onnx_path = bundle.trt_onnx_path
    if not onnx_path.is_file():
        raise EngineError(f"the bundle has no TensorRT-facing ONNX ({onnx_path}).", "re-export the bundle.")
    needs_plugin = int(bundle.manifest["onnx"].get("cda_nodes", 0)) > 0
    if needs_plugin:
        if plugin is None:
            raise PluginError(
                "the model's CrossDiffusionAttention nodes need the MutualSense TensorRT plugin, and none was given.",
                "build it with `mutualsense build-plugin --out DIR` and pass --plugin DIR/libmutualsense_cda.so.",
            )
        if not plugin.is_file():
            raise PluginError(f"plugin library {plugin} does not exist.", "build it with `mutualsense build-plugin`.")
    trt11 = _version_tuple(trt_version) >= (11,)
    precision = bundle.precision
    return EnginePlan(
        onnx_path=onnx_path,
        engine_file=engine_filename(trt_version, gpu.compute_capability, precision),
        timing_cache=bundle.path / timing_cache_filename(trt_version, gpu.compute_capability),
        log_file=engine_filename(trt_version, gpu.compute_capability, precision).replace(".plan", ".log"),
        strongly_typed=trt11,
        fp16_flag=not trt11 and precision in ("fp16", "int8"),
        int8_flag=not trt11 and precision == "int8",
        workspace_bytes=workspace_mb << 20,
        plugin=plugin if needs_plugin else None,
        trt_version=trt_version,
        gpu=gpu,
    )


def _run_builder(plan: EnginePlan, messages: list[str]) -> bytes:  # pragma: no cover - needs TensorRT
    import tensorrt as trt

    class CapturingLogger(trt.ILogger):  # type: ignore[misc]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            messages.append(f"[{severity.name if hasattr(severity, 'name') else severity}] {msg}")

    logger = CapturingLogger()
    trt.init_libnvinfer_plugins(logger, "")
    if plan.plugin is not None:
        try:
            trt.get_plugin_registry().load_library(str(plan.plugin))
        except Exception as exc:
            raise PluginError(
                f"TensorRT cannot load plugin {plan.plugin}: {exc}",
                "rebuild it on this machine (`mutualsense build-plugin`).",
            ) from exc
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if plan.strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(plan.onnx_path)):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        hint = (
            "the CDA plugin was not found by the parser: pass --plugin"
            if "CrossDiffusionAttention" in errors
            else "see the builder log"
        )
        raise EngineError(f"TensorRT could not parse {plan.onnx_path.name}: {errors}", hint)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_bytes)
    if plan.fp16_flag and hasattr(trt.BuilderFlag, "FP16"):
        config.set_flag(trt.BuilderFlag.FP16)
    if plan.int8_flag and hasattr(trt.BuilderFlag, "INT8"):  # scales come from the Q/DQ nodes: no calibrator
        config.set_flag(trt.BuilderFlag.INT8)
    cache_bytes = plan.timing_cache.read_bytes() if plan.timing_cache.exists() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError("TensorRT failed to build the engine.", "read the builder log for the failing layer.")
    plan.timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def build_engine(
    bundle_path: str | os.PathLike[str],
    plugin: str | os.PathLike[str] | None = None,
    workspace_mb: int = 1024,
    runner: Callable[[EnginePlan, list[str]], bytes] | None = None,
    trt_version: str | None = None,
    gpu: GpuInfo | None = None,
) -> Bundle:
    """Build a serialized engine for this GPU from the bundle and add it (engine, log) to the bundle.

    ``runner``, ``trt_version`` and ``gpu`` default to the real TensorRT and device; they are parameters
    so the decision logic and the atomic bundle update can be exercised without TensorRT.
    """
    bundle = Bundle.load(bundle_path)
    version, device = require_tensorrt(trt_version or tensorrt_version(), gpu or gpu_info())
    plan = plan_engine(bundle, version, device, Path(plugin) if plugin else None, workspace_mb)
    messages: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mutualsense-engine-") as tmp:
        engine_tmp, log_tmp = Path(tmp) / plan.engine_file, Path(tmp) / plan.log_file
        try:
            engine_tmp.write_bytes((runner or _run_builder)(plan, messages))
        finally:
            log_tmp.write_text("\n".join(messages) + "\n")
        new_files = {plan.engine_file: (engine_tmp, "engine"), plan.log_file: (log_tmp, "log")}
        plugin_name = None
        if plan.plugin is not None:
            plugin_name = plan.plugin.name
            new_files[plugin_name] = (plan.plugin, "plugin")
        entry = {
            "file": plan.engine_file,
            "tensorrt": version,
            "compute_capability": device.compute_capability,
            "gpu": device.name,
            "jetpack": jetpack_version(),
            "precision": bundle.precision,
            "strongly_typed": plan.strongly_typed,
            "int8_flag": plan.int8_flag,
            "plugin": plugin_name,
            "plugin_sha256": sha256_file(plan.plugin) if plan.plugin else None,
            "built": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        engines = [e for e in bundle.manifest.get("engines", []) if e["file"] != plan.engine_file] + [entry]
        updated = update_bundle(bundle, new_files, {"engines": engines})
    log.info("added %s to %s", plan.engine_file, bundle.path)
    return updated
