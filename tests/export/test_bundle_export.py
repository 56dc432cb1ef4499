"""``export_bundle`` and ``mutualsense export``: real ONNX bundles from a small checkpoint."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export needs torch (pip install mutualsense[export])")

from mutualsense.backends import OnnxRuntimeBackend  # noqa: E402
from mutualsense.bundle import Bundle, manifest_schema  # noqa: E402
from mutualsense.errors import BundleError, EngineError, MutualSenseError  # noqa: E402
from mutualsense.export.bundle_export import export_bundle  # noqa: E402
from mutualsense.export.model import CONFIGS, MutualSenseNet, save_checkpoint  # noqa: E402
from mutualsense.gpu import tensorrt_version  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = MutualSenseNet(CONFIGS["tiny"])
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", model, {"epoch": 1})


@pytest.fixture(scope="module")
def fp32_bundle(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    out = tmp_path_factory.mktemp("bundles") / "fp32"
    return export_bundle(checkpoint, out, precision="fp32", input_size=(96, 96), eval_count=4)


def test_fp32_bundle_matches_pytorch_through_the_runtime_backend(fp32_bundle: Bundle, checkpoint: Path) -> None:
    b = Bundle.load(fp32_bundle.path)
    assert b.precision == "fp32" and b.input_spec.height == 96
    assert b.manifest["onnx"]["cda_nodes"] == 2 and b.manifest["onnx"]["ir_version"] <= 10
    assert (
        b.manifest["source_checkpoint"]["sha256"] == __import__("hashlib").sha256(checkpoint.read_bytes()).hexdigest()
    )
    assert b.manifest["accuracy"]["fp32"]["count"] == 4
    assert {"torch", "onnx", "onnxsim", "mutualsense"} <= set(b.manifest["toolchain"])
    g = np.random.default_rng(0)
    rgb = g.standard_normal((1, 3, 96, 96), dtype=np.float32)
    depth = g.standard_normal((1, 1, 96, 96), dtype=np.float32)
    from mutualsense.export.model import load_checkpoint

    with torch.inference_mode():
        expected = load_checkpoint(checkpoint).model(torch.from_numpy(rgb), torch.from_numpy(depth)).numpy()
    with OnnxRuntimeBackend(b) as backend:
        got = backend.infer({"rgb": rgb, "depth": depth})["saliency"]
        with pytest.raises(ValueError, match="expects"):
            backend.infer({"rgb": rgb[:, :, :64], "depth": depth})
    assert np.abs(got - expected).max() <= 1e-4


def test_fp16_bundle_records_its_accuracy_drop(checkpoint: Path, tmp_path: Path) -> None:
    b = export_bundle(checkpoint, tmp_path / "fp16", precision="fp16", input_size=(96, 96), eval_count=4)
    acc = b.manifest["accuracy"]
    assert set(acc) == {"fp32", "fp16"}
    assert acc["fp16"]["s_measure_drop_vs_fp32"] == pytest.approx(acc["fp32"]["s_measure"] - acc["fp16"]["s_measure"])
    import onnx

    model = onnx.load(b.onnx_path)
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [onnx.TensorProto.FLOAT] * 2
    trt = onnx.load(b.trt_onnx_path)
    assert len(trt.functions) == 0 and len(model.functions) == 1
    assert sum(n.op_type == "CrossDiffusionAttention" for n in trt.graph.node) == 2


def test_refusals_happen_before_any_work(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(MutualSenseError, match="INT8 export needs a calibration set") as info:
        export_bundle(checkpoint, tmp_path / "i8", precision="int8")
    assert "mutualsense.calibration.export_int8" in (info.value.remedy or "")
    with pytest.raises(MutualSenseError, match="unknown precision 'fp8'"):
        export_bundle(checkpoint, tmp_path / "x", precision="fp8")
    if tensorrt_version() is None:
        with pytest.raises(EngineError, match="TensorRT is not installed"):
            export_bundle(checkpoint, tmp_path / "e", engine=True)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_unless_overwrite(fp32_bundle: Bundle, checkpoint: Path) -> None:
    with pytest.raises(MutualSenseError, match="already exists"):
        export_bundle(checkpoint, fp32_bundle.path, precision="fp32")


def test_full_disk_leaves_no_half_bundle(checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(onnx, "save", full)
    with pytest.raises(BundleError, match="No space left on device") as info:
        export_bundle(checkpoint, tmp_path / "b", precision="fp32", input_size=(64, 64), eval_count=0)
    assert "free disk space" in (info.value.remedy or "")
    assert list(tmp_path.iterdir()) == []


def test_cli_export_and_evaluate_a_bundle(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "mutualsense", "export", str(checkpoint), "--out", str(out), "--precision", "fp32"]
    r = subprocess.run([*cmd, "--input-size", "64", "64", "--eval-count", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout
    ev = [sys.executable, "-m", "mutualsense", "evaluate", str(out), "--count", "3", "--json"]
    scores = json.loads(subprocess.run(ev, capture_output=True, text=True, check=True).stdout)
    assert scores["count"] == 3 and 0 <= scores["s_measure"] <= 1


def test_manifest_schema_is_published_in_the_docs() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "bundle.md"
    text = docs.read_text()
    start = text.index("```json\n") + len("```json\n")
    published = json.loads(text[start : text.index("```", start)])
    assert published == manifest_schema()
