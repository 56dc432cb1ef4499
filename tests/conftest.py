"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mutualsense.bundle import Bundle, finalize_manifest, write_bundle
from mutualsense.preprocess import InputSpec

ROOT = Path(__file__).resolve().parents[1]
# nvidia-modelopt's own venv for the INT8 tests: the one `make modelopt` makes in the checkout, never the
# user's cache (an INT8 test with quantizer="auto" would otherwise make one there).
MODELOPT_VENV = ROOT / ".venv-modelopt"
os.environ["MUTUALSENSE_MODELOPT_VENV"] = str(MODELOPT_VENV)


def cli_in_process(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the console script's ``main`` in this process: (exit code, stdout, stderr)."""
    from mutualsense.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


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


def single_stream_db3(path: Path, stream: str) -> None:
    """Write a real .db3 holding only one stream, ``"depth"`` or ``"color"`` (8×8, two frames)."""
    import gc

    import pyrealsense2 as rs

    dev = rs.software_device()
    depth = stream == "depth"
    sensor = dev.add_sensor("Stereo Module" if depth else "RGB Camera")
    vs = rs.video_stream()
    bpp = 2 if depth else 3
    vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = (
        rs.stream.depth if depth else rs.stream.color,
        0,
        0,
        8,
        8,
        30,
        bpp,
        rs.format.z16 if depth else rs.format.rgb8,
    )
    i = rs.intrinsics()
    i.width, i.height, i.fx, i.fy, i.ppx, i.ppy = 8, 8, 8.0, 8.0, 3.5, 3.5
    vs.intrinsics = i
    profile = sensor.add_video_stream(vs).as_video_stream_profile()
    recorder = rs.recorder(str(path), dev)
    sensor.open(profile)
    sensor.start(lambda f: None)
    for n in range(2):
        f = rs.software_video_frame()
        pixels = np.ones((8, 8), np.uint16) if depth else np.ones((8, 8, 3), np.uint8)
        f.pixels, f.bpp, f.stride, f.timestamp, f.frame_number = pixels, bpp, 8 * bpp, n * 33.3, n
        f.domain, f.profile = rs.timestamp_domain.hardware_clock, profile
        sensor.on_video_frame(f)
    sensor.stop()
    sensor.close()
    del recorder, dev, sensor
    gc.collect()


@pytest.fixture(scope="session")
def modelopt_env():  # noqa: ANN201
    """nvidia-modelopt's venv (made by `make modelopt`); CI must have it, elsewhere its tests skip."""
    pytest.importorskip("onnx", reason="INT8 quantisation needs the export extra")
    from mutualsense.calibration.modelopt import find_env

    env = find_env(MODELOPT_VENV)
    if env is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the modelopt tests: `make test` makes {MODELOPT_VENV} (make modelopt)")
        pytest.skip(f"nvidia-modelopt's venv {MODELOPT_VENV} is missing: run `make modelopt`")
    return env
