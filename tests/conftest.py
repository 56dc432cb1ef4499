"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mutualsense.bundle import Bundle, finalize_manifest, write_bundle
from mutualsense.preprocess import InputSpec


def manifest_body(precision: str = "fp32", cda_nodes: int = 0, size: int = 64) -> dict:
    """A valid manifest (minus what finalize_manifest adds) for a model of size×size inputs."""
    spec = InputSpec(height=size, width=size)
    grid = [size, size]
    return {
        "model": {"name": "test", "config": {}},
        "input": {
            "spec": spec.to_dict(),
            "batch": 1,
            "tensors": {
                "rgb": {"shape": [1, 3, *grid], "dtype": "float32"},
                "depth": {"shape": [1, 1, *grid], "dtype": "float32"},
            },
        },
        "output": {"tensors": {"saliency": {"shape": [1, 1, *grid], "dtype": "float32"}}, "kind": "logits"},
        "precision": precision,
        "onnx": {
            "file": "model.onnx",
            "trt_file": "model.trt.onnx",
            "opset": 19,
            "ir_version": 9,
            "cda_nodes": cda_nodes,
        },
        "toolchain": {"mutualsense": "0.1.0"},
    }


@pytest.fixture
def fake_bundle() -> Callable[..., Bundle]:
    """Factory: a bundle whose ONNX files are placeholder bytes (for tests of bundle logic only)."""

    def make(out: Path, precision: str = "fp32", cda_nodes: int = 0) -> Bundle:
        with write_bundle(out) as tmp:
            (tmp / "model.onnx").write_bytes(b"onnx-bytes" * 100)
            (tmp / "model.trt.onnx").write_bytes(b"trt-onnx" * 100)
            finalize_manifest(
                tmp, manifest_body(precision, cda_nodes), {"model.onnx": "onnx", "model.trt.onnx": "trt_onnx"}
            )
        return Bundle.load(out)

    return make


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A real fp32 ONNX bundle: the demo weights when present, else a seeded untrained tiny model, at 96×96."""
    torch = pytest.importorskip("torch", reason="making a bundle needs the export extra (torch)")
    from mutualsense.export import DEMO_WEIGHTS
    from mutualsense.export.bundle_export import export_bundle
    from mutualsense.export.model import CONFIGS, MutualSenseNet, save_checkpoint

    root = tmp_path_factory.mktemp("tiny_bundle")
    checkpoint = DEMO_WEIGHTS
    if not checkpoint.exists():
        torch.manual_seed(0)
        checkpoint = save_checkpoint(root / "tiny.pt", MutualSenseNet(CONFIGS["tiny"]))
    return export_bundle(checkpoint, root / "bundle", precision="fp32", input_size=(96, 96), eval_count=0)
