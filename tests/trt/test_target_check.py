"""``doctor --target``: step verdicts and the ONNX Runtime comparison, with stand-ins for TensorRT's parts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mutualsense.backends import OnnxRuntimeBackend
from mutualsense.bundle import Bundle
from mutualsense.errors import PluginError
from mutualsense.gpu import GpuInfo
from mutualsense.tensorrt.engine_build import build_engine
from mutualsense.tensorrt.target_check import run_target_check


class OffsetBackend(OnnxRuntimeBackend):
    """ONNX Runtime plus a constant error: stands in for an engine whose numbers differ by ``offset``."""

    offset = 0.0

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"saliency": super().infer(feed)["saliency"] + self.offset}


def steps(offset: float, plugin_fails: bool = False):
    def plugin(out: Path) -> Path:
        if plugin_fails:
            raise PluginError("TensorRT headers not found.", "run on the Jetson.")
        out.mkdir(parents=True)
        (out / "libmutualsense_cda.so").write_bytes(b"elf")
        return out / "libmutualsense_cda.so"

    def engine(bundle: Path, plugin_path: Path) -> Bundle:
        return build_engine(
            bundle,
            plugin_path,
            runner=lambda plan, log: b"plan",
            trt_version="10.3.0",
            gpu=GpuInfo("Orin", "8.7", "12.6", 1),
        )

    def backend(bundle: Bundle) -> OffsetBackend:
        b = OffsetBackend(bundle)
        b.offset = offset
        return b

    return plugin, engine, backend


def test_all_steps_pass_within_tolerance_and_the_bundle_is_untouched(tiny_bundle: Bundle) -> None:
    before = sorted(p.name for p in tiny_bundle.path.iterdir())
    results = run_target_check(tiny_bundle.path, steps(offset=2e-4))
    assert [r.ok for r in results] == [True, True, True, True, None]
    assert "2.00e-04" in results[3].detail
    assert "OffsetBackend backend has no frame kernels" in results[4].detail  # the GPU half: tests/export
    assert sorted(p.name for p in tiny_bundle.path.iterdir()) == before


def test_a_numeric_mismatch_fails_the_comparison(tiny_bundle: Bundle) -> None:
    results = run_target_check(tiny_bundle.path, steps(offset=5e-3))
    assert results[3].ok is False and "limit 0.001" in results[3].detail


def test_a_failed_step_skips_the_rest_with_the_reason(tiny_bundle: Bundle) -> None:
    results = run_target_check(tiny_bundle.path, steps(0.0, plugin_fails=True))
    assert results[0].ok is False and "headers not found" in results[0].detail
    assert [r.ok for r in results[1:]] == [None, None, None, None]
