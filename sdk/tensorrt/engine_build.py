"""Build a TensorRT engine from a bundle on the target and add it to the bundle (no torch, no export toolchain).

Everything decided before TensorRT is touched is here and tested without it: the refusals, the build plan
(typing mode, flags, file names), where the plugin comes from (given, already in the bundle for this
target, or built from the shipped sources), and the atomic bundle update (new files under temporary
names, ``manifest.json`` replaced last). The TensorRT calls themselves are in :mod:`.builder_calls`.
TensorRT 10.x builds weakly typed networks (FP16/INT8 allowed by builder flags); TensorRT 11 removed
those flags and builds strongly typed networks whose precision comes from the ONNX itself.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mutualsense.bundle import Bundle, sha256_file, update_bundle
from mutualsense.errors import EngineError, PluginError
from mutualsense.gpu import GpuInfo, gpu_info, jetpack_version, tensorrt_version
from mutualsense.tensorrt.versions import parse_version, require_tensorrt

__all__ = [
    "EnginePlan",
    "Progress",
    "build_engine",
    "engine_filename",
    "plan_engine",
    "plugin_filename",
    "timing_cache_filename",
]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
Runner = Callable[["EnginePlan", list[str]], bytes]


def _sm(compute_capability: str) -> str:
    return "sm" + compute_capability.replace(".", "")


def engine_filename(trt_version: str, compute_capability: str, precision: str) -> str:
    """``engine-trt10.3.0-sm87-fp16.plan``: one file per TensorRT version, GPU architecture and precision."""
    return f"engine-trt{trt_version}-{_sm(compute_capability)}-{precision}.plan"


def timing_cache_filename(trt_version: str, compute_capability: str) -> str:
    """Timing cache kept next to the engines (not part of the manifest: a build accelerator only)."""
    return f"timing-trt{trt_version}-{_sm(compute_capability)}.cache"


def plugin_filename(trt_version: str, compute_capability: str) -> str:
    """``libmutualsense_cda-trt10.3-sm87.so``: the plugin links one TensorRT major and holds one GPU's code."""
    mm = ".".join(map(str, parse_version(trt_version)[:2]))
    return f"libmutualsense_cda-trt{mm}-{_sm(compute_capability)}.so"


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
                "leave --plugin out to build it from the shipped sources, or build it with "
                "`mutualsense build-plugin --out DIR` and pass --plugin DIR/libmutualsense_cda.so.",
            )
        if not plugin.is_file():
            raise PluginError(f"plugin library {plugin} does not exist.", "build it with `mutualsense build-plugin`.")
    trt11 = parse_version(trt_version) >= (11,)
    precision = bundle.precision
    engine_file = engine_filename(trt_version, gpu.compute_capability, precision)
    return EnginePlan(
        onnx_path=onnx_path,
        engine_file=engine_file,
        timing_cache=bundle.path / timing_cache_filename(trt_version, gpu.compute_capability),
        log_file=engine_file.replace(".plan", ".log"),
        strongly_typed=trt11,
        fp16_flag=not trt11 and precision in ("fp16", "int8"),
        int8_flag=not trt11 and precision == "int8",
        workspace_bytes=workspace_mb << 20,
        plugin=plugin if needs_plugin else None,
        trt_version=trt_version,
        gpu=gpu,
    )


def _resolve_plugin(
    bundle: Bundle,
    plugin: Path | None,
    trt_version: str,
    gpu: GpuInfo,
    work: Path,
    make_plugin: Callable[[Path, str], Path],
    progress: Progress,
) -> Path | None:
    """The plugin to build with: the one given; else this target's copy in the bundle; else built from sources."""
    if plugin is not None or int(bundle.manifest["onnx"].get("cda_nodes", 0)) == 0:
        return plugin
    in_bundle = bundle.path / plugin_filename(trt_version, gpu.compute_capability)
    if in_bundle.is_file():
        return in_bundle
    progress(f"building the CDA plugin for sm {gpu.compute_capability} from the shipped sources (about a minute)")
    return make_plugin(work / "plugin", gpu.compute_capability.replace(".", ""))


def _default_plugin_builder(out: Path, arch: str) -> Path:
    from mutualsense.tensorrt.plugin_build import build_plugin

    return build_plugin(out, arch)


def build_engine(
    bundle_path: str | os.PathLike[str],
    plugin: str | os.PathLike[str] | None = None,
    workspace_mb: int = 1024,
    runner: Runner | None = None,
    trt_version: str | None = None,
    gpu: GpuInfo | None = None,
    progress: Progress | None = None,
    make_plugin: Callable[[Path, str], Path] | None = None,
) -> Bundle:
    """Build a serialized engine for this GPU from the bundle and add it (engine, log, plugin) to the bundle.

    Args:
        plugin: the CDA plugin library; default: this target's copy in the bundle, else built from the
            shipped sources (needs cmake, nvcc and TensorRT's headers: JetPack has them).
        progress: called with one line per phase (default: the log at INFO).
        runner, trt_version, gpu, make_plugin: default to the real TensorRT builder, device and plugin build;
            parameters so the decisions and the atomic bundle update are tested without TensorRT.
    """
    from mutualsense.tensorrt.builder_calls import run_builder

    say: Progress = progress or log.info
    bundle = Bundle.load(bundle_path)
    version, device = require_tensorrt(trt_version or tensorrt_version(), gpu or gpu_info())
    with tempfile.TemporaryDirectory(prefix="mutualsense-engine-") as tmp:
        work = Path(tmp)
        given = Path(plugin) if plugin else None
        lib = _resolve_plugin(bundle, given, version, device, work, make_plugin or _default_plugin_builder, say)
        plan = plan_engine(bundle, version, device, lib, workspace_mb)
        messages: list[str] = []
        engine_tmp, log_tmp = work / plan.engine_file, work / plan.log_file
        say(f"building {plan.engine_file} with TensorRT {version} on {device.name} (minutes on a Jetson)")
        try:
            engine_tmp.write_bytes((runner or (lambda p, m: run_builder(p, m, say)))(plan, messages))
        except (EngineError, PluginError) as exc:  # the log dies with the scratch folder: its end goes into the error
            what = f"{exc.what}\nTensorRT's last log lines:\n" + "\n".join(messages[-15:]) if messages else exc.what
            raise type(exc)(what, exc.remedy) from exc
        log_tmp.write_text("\n".join(messages) + "\n")
        new_files = {plan.engine_file: (engine_tmp, "engine"), plan.log_file: (log_tmp, "log")}
        plugin_name = None
        if plan.plugin is not None:
            plugin_name = plugin_filename(version, device.compute_capability)
            if plan.plugin.resolve() != (bundle.path / plugin_name).resolve():
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
    say(f"added {plan.engine_file} to {bundle.path}")
    return updated
