"""Calibration sets, INT8 quantisation (nvidia-modelopt and ONNX Runtime) and the accuracy gate, at 96×96."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="calibration needs the export extra (torch, onnx)")

from mutualsense.calibration import (  # noqa: E402
    AccuracyGateError,
    build_calibration_set,
    layer_sensitivity,
    load_calibration_set,
    quantize_int8,
    rebuild_calibration_set,
    verify_calibration_set,
)
from mutualsense.calibration.set import arrays_sha256  # noqa: E402
from mutualsense.errors import DataError, MutualSenseError  # noqa: E402
from mutualsense.export import DEMO_WEIGHTS  # noqa: E402
from mutualsense.export.precisions import ExportOptions, Int8Options  # noqa: E402
from mutualsense.preprocess import InputSpec  # noqa: E402


def int8_export(checkpoint: Path, out: Path, input_size=None, eval_count: int = 200, **int8: object):  # noqa: ANN201
    """INT8 export through the precision table's entry (mutualsense.calibration.export_int8)."""
    from mutualsense.calibration.export_int8 import export_int8

    options = ExportOptions("int8", input_size=input_size, eval_count=eval_count, int8=Int8Options(**int8))  # type: ignore[arg-type]
    return export_int8(checkpoint, out, options)


SPEC = InputSpec(height=96, width=96)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo weights (a trained model: the gate means something) or a seeded untrained tiny model."""
    if DEMO_WEIGHTS.exists():
        return Path(DEMO_WEIGHTS)
    from mutualsense.export.model import CONFIGS, MutualSenseNet, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", MutualSenseNet(CONFIGS["tiny"]))


@pytest.fixture(params=["onnxruntime", "modelopt"])
def quantizer(request: pytest.FixtureRequest) -> str:
    """Each quantiser in turn; modelopt's tests need its venv (`make modelopt`)."""
    if request.param == "modelopt":
        request.getfixturevalue("modelopt_env")
    return str(request.param)


@pytest.fixture(scope="module")
def good_calib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_calibration_set("synthetic", 16, SPEC, seed=0).save(tmp_path_factory.mktemp("calib") / "calib.npz")


@pytest.fixture(scope="module")
def blank_calib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deliberately broken calibration set: every frame blank (zero after preprocessing)."""
    c = build_calibration_set("synthetic", 8, SPEC, seed=0)
    c.rgb[:] = 0
    c.depth[:] = 0
    c.manifest["arrays_sha256"] = arrays_sha256(c.rgb, c.depth)
    return c.save(tmp_path_factory.mktemp("calib") / "blank.npz")


def test_calibration_set_reproduces_from_its_manifest(tmp_path: Path) -> None:
    a = build_calibration_set("synthetic", 6, SPEC, seed=3)
    path = a.save(tmp_path / "c.npz")
    loaded = verify_calibration_set(path)
    assert loaded.manifest == a.manifest and loaded.manifest["count"] == 6
    assert np.array_equal(loaded.rgb, a.rgb) and np.array_equal(loaded.depth, a.depth)
    assert a.rgb.shape == (6, 3, 96, 96) and a.depth.shape == (6, 1, 96, 96) and a.rgb.dtype == np.float32
    assert InputSpec.from_dict(loaded.manifest["input_spec"]) == SPEC
    b = build_calibration_set("synthetic", 6, SPEC, seed=4)
    assert b.manifest["arrays_sha256"] != a.manifest["arrays_sha256"]


def test_calibration_set_matches_the_runtime_preprocessing() -> None:
    from mutualsense.evaluation import iter_frames
    from mutualsense.preprocess import preprocess

    c = build_calibration_set("synthetic", 2, SPEC, seed=5)
    f = next(iter_frames("synthetic", 1, 5, SPEC))
    r, d = preprocess(f.rgb, f.depth, f.depth_scale, SPEC)
    assert np.array_equal(c.rgb[0], r[0]) and np.array_equal(c.depth[0], d[0])


def test_tampered_or_foreign_files_are_refused(tmp_path: Path) -> None:
    path = build_calibration_set("synthetic", 2, SPEC).save(tmp_path / "c.npz")
    with np.load(path) as z:
        data = dict(z)
    data["rgb"] = data["rgb"] + 1
    np.savez_compressed(tmp_path / "t.npz", **data)
    with pytest.raises(DataError, match="corrupted"):
        load_calibration_set(tmp_path / "t.npz")
    np.savez_compressed(tmp_path / "f.npz", x=np.zeros(3))
    with pytest.raises(DataError, match="not a MutualSense calibration set"):
        load_calibration_set(tmp_path / "f.npz")
    with pytest.raises(DataError, match="neither|not 'synthetic'"):
        build_calibration_set(tmp_path / "missing", 2, SPEC)


def test_recording_source_aligns_like_the_runtime(tmp_path: Path) -> None:
    pytest.importorskip("pyrealsense2", reason="recordings need pyrealsense2")
    from mutualsense.sources import SyntheticSource, record

    rec = tmp_path / "r.db3"
    record(SyntheticSource(frames=6, color=(160, 120), depth=(160, 120)), rec, frames=6)
    c = build_calibration_set(rec, 4, SPEC, seed=1)
    assert len(c) == 4 and c.manifest["sources"][0]["kind"] == "recording"
    assert c.manifest["sources"][0]["framesets_seen"] >= 4
    assert len(c.manifest["sources"][0]["sha256"]) == 64
    assert np.isfinite(c.rgb).all() and c.depth.std() > 0  # depth arrived, aligned into the grid
    path = c.save(tmp_path / "rec.npz")
    assert verify_calibration_set(path).manifest == c.manifest


def _assert_tensorrt_qdq(model) -> None:  # noqa: ANN001
    """Q/DQ as TensorRT 10.x and 11 take it: symmetric int8 (zero point 0), positive float32 scales,
    scalar scales for activations and per-output-channel scales (axis 0) for weights."""
    from onnx import TensorProto, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    consts = {n.output[0]: n.attribute[0].t for n in model.graph.node if n.op_type == "Constant"}
    tensors = {**inits, **consts}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    weight_q = {n.output[0]: n.input[0] for n in qdq if n.op_type == "QuantizeLinear" and n.input[0] in inits}
    weights = 0
    for n in qdq:
        scale, zero = tensors[n.input[1]], tensors[n.input[2]]
        assert scale.data_type == TensorProto.FLOAT and (numpy_helper.to_array(scale) > 0).all(), n.name
        assert zero.data_type == TensorProto.INT8 and not numpy_helper.to_array(zero).any(), n.name
        if n.input[0] in inits or n.input[0] in weight_q:  # a weight (int8, or float through Q): per channel
            weights += n.op_type == "DequantizeLinear"
            w = numpy_helper.to_array(inits[weight_q.get(n.input[0], n.input[0])])
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            assert w.dtype in (np.int8, np.float32), n.name
            assert -w.ndim <= axis < w.ndim and numpy_helper.to_array(scale).size in (1, w.shape[axis]), n.name
        else:
            assert numpy_helper.to_array(scale).size == 1, n.name
    assert weights >= 20  # every conv and linear layer


def test_quantised_model_keeps_the_cda_node_in_float_and_ranks_layers(
    good_calib: Path, checkpoint: Path, quantizer: str
) -> None:
    from mutualsense.export.model import load_checkpoint
    from mutualsense.export.onnx_export import export_onnx
    from mutualsense.export.onnx_graph import run_onnx

    fp32 = export_onnx(load_checkpoint(checkpoint).model, input_size=(96, 96)).model
    calib = load_calibration_set(good_calib)
    q = quantize_int8(fp32, calib, quantizer=quantizer)
    assert q.quantizer == quantizer and q.quantizer_note is None
    assert ("nvidia-modelopt 0.47.0" if quantizer == "modelopt" else "quantize_static") in q.quantizer_detail
    nodes = {n.name: n for n in q.model.graph.node}
    producer = {o: n for n in q.model.graph.node for o in n.output}
    cda = [n for n in q.model.graph.node if n.op_type == "CrossDiffusionAttention"]
    assert len(cda) == 2 and q.qdq_nodes > 100 and len(q.model.functions) == 1
    assert q.model.opset_import[0].version >= 19 and q.model.ir_version == 9
    for node in cda:  # no Q/DQ straight into the plugin: its inputs come from float data movement
        assert all(producer[i].op_type != "DequantizeLinear" for i in node.input)
    _assert_tensorrt_qdq(q.model)
    out = run_onnx(q.model, calib.rgb[:1], calib.depth[:1])
    ref = run_onnx(fp32, calib.rgb[:1], calib.depth[:1])
    assert out.shape == ref.shape and np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.95
    errors = layer_sensitivity(fp32, q, calib, samples=2)
    assert len(errors) > 20 and errors[0].added_error >= errors[-1].added_error
    assert errors[0].node in nodes
    keep = [e.node for e in errors[:2]]
    q2 = quantize_int8(fp32, calib, exclude=keep, quantizer=quantizer)
    assert q2.excluded == keep and q2.qdq_nodes < q.qdq_nodes
    producer2 = {o: n for n in q2.model.graph.node for o in n.output}
    for node in (n for n in q2.model.graph.node if n.name in keep):  # kept in float means float inputs
        assert all(producer2[i].op_type != "DequantizeLinear" for i in node.input if i in producer2)
    assert not {e.node for e in layer_sensitivity(fp32, q2, calib, samples=1)} & set(keep)


@pytest.mark.slow
def test_gate_passes_a_good_calibration_and_records_it(
    good_calib: Path, checkpoint: Path, tmp_path: Path, quantizer: str
) -> None:
    b = int8_export(
        checkpoint,
        tmp_path / "i8",
        input_size=(96, 96),
        calib=good_calib,
        eval_count=16,
        quantizer=quantizer,
    )
    acc = b.manifest["accuracy"]["int8"]
    assert b.precision == "int8" and acc["gate"] == {"max_drop": 0.01, "passed": True, "forced": False}
    assert acc["s_measure_drop_vs_fp32"] == pytest.approx(
        b.manifest["accuracy"]["fp32"]["s_measure"] - acc["s_measure"]
    )
    assert acc["calibration"]["count"] == 16 and acc["calibration"]["method"] == "minmax"
    assert acc["calibration"]["quantizer"].startswith("nvidia-modelopt" if quantizer == "modelopt" else "onnxruntime")
    assert "quantizer_note" not in acc["calibration"]
    added = [e["added_error"] for e in acc["sensitivity_top"]]  # the per-layer report, worst first
    assert len(added) == 10 and added == sorted(added, reverse=True) and added[0] > 0
    assert b.manifest["files"]["calibration.json"]["role"] == "calibration" and acc["calibration"]["npz_sha256"]
    # the bundle carries the set's manifest, not its arrays, and that rebuilds the set exactly
    stored = load_calibration_set(good_calib)
    rebuilt = rebuild_calibration_set(json.loads((b.path / "calibration.json").read_text()))
    assert rebuilt.manifest == stored.manifest and np.array_equal(rebuilt.rgb, stored.rgb)
    import onnx

    assert len(onnx.load(b.trt_onnx_path).functions) == 0
    graph = onnx.load(b.onnx_path)
    ops = {n.op_type for n in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "CrossDiffusionAttention"} <= ops
    if acc["float_parts"] == "fp16":  # the unquantised parts in fp16 where that keeps the gate
        to_half = [n for n in graph.graph.node if n.op_type == "Cast" and n.attribute[0].i == onnx.TensorProto.FLOAT16]
        assert to_half, "fp16 float parts, but no tensor is cast to float16"
    assert acc["s_measure_with_fp16_float_parts"] <= 1 and acc["float_parts"] in ("fp16", "fp32")
    from mutualsense.backends import OnnxRuntimeBackend

    with OnnxRuntimeBackend(b) as backend:  # the runtime runs the Q/DQ bundle
        rng = np.random.default_rng(0)
        out = backend.infer(
            {"rgb": rng.standard_normal((1, 3, 96, 96), np.float32), "depth": np.zeros((1, 1, 96, 96), np.float32)}
        )
    assert out["saliency"].shape == (1, 1, 96, 96)


@pytest.mark.slow
def test_gate_refuses_a_blank_calibration_and_writes_nothing(
    blank_calib: Path, checkpoint: Path, tmp_path: Path, quantizer: str
) -> None:
    out = tmp_path / "bad"
    with pytest.raises(AccuracyGateError) as info:
        int8_export(
            checkpoint,
            out,
            input_size=(96, 96),
            calib=blank_calib,
            eval_count=16,
            quantizer=quantizer,
        )
    msg = str(info.value)
    assert "INT8 accuracy gate failed" in msg and "No bundle was written" in msg and f"quantiser {quantizer}" in msg
    assert "--auto-fp16" in msg and "--force" in msg and "representative" in msg
    assert "the layers adding the most error: /" in msg  # named, with what each adds
    assert not out.exists() and list(tmp_path.iterdir()) == []
    if quantizer == "modelopt":
        return  # writing with --force is the same code for both quantisers
    forced = int8_export(checkpoint, out, input_size=(96, 96), calib=blank_calib, eval_count=16, force=True)
    gate = forced.manifest["accuracy"]["int8"]["gate"]
    assert gate["passed"] is False and gate["forced"] is True
    assert forced.manifest["accuracy"]["int8"]["s_measure_drop_vs_fp32"] > 0.01


def test_int8_export_refusals_happen_before_any_work(checkpoint: Path, good_calib: Path, tmp_path: Path) -> None:
    with pytest.raises(MutualSenseError, match="needs a calibration set"):
        int8_export(checkpoint, tmp_path / "a")
    with pytest.raises(MutualSenseError, match="unknown calibration method"):
        int8_export(checkpoint, tmp_path / "b", calib=good_calib, calib_method="kl")
    with pytest.raises(MutualSenseError, match="input spec"):  # made for 96×96, exported at 128×128
        int8_export(checkpoint, tmp_path / "c", calib=good_calib, input_size=(128, 128))
    with pytest.raises(MutualSenseError, match="unknown quantizer"):
        int8_export(checkpoint, tmp_path / "d", calib=good_calib, quantizer="tensorrt")
    with pytest.raises(MutualSenseError, match="nvidia-modelopt calibrates int8 with minmax or entropy"):
        int8_export(
            checkpoint,
            tmp_path / "e",
            calib=good_calib,
            quantizer="modelopt",
            calib_method="percentile",
        )
    assert list(tmp_path.iterdir()) == []


def test_calibrate_command_writes_a_set_for_the_bundle(tiny_bundle, tmp_path: Path) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    import mutualsense.cli.calibrate  # noqa: F401  (registers the command)
    from mutualsense.cli import app

    out = tmp_path / "calib.npz"
    result = CliRunner().invoke(
        app,
        ["calibrate", "--bundle", str(tiny_bundle.path), "--data", "synthetic", "--samples", "3", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    c = verify_calibration_set(out)
    assert c.manifest["count"] == 3 and c.spec == tiny_bundle.input_spec
    assert json.loads(json.dumps(c.manifest)) == c.manifest


@pytest.mark.slow
def test_auto_fp16_keeps_the_most_sensitive_layers_in_float_until_the_gate_passes(
    blank_calib: Path, checkpoint: Path
) -> None:
    from mutualsense.calibration import quantize_gated
    from mutualsense.calibration.gate import held_out_frames, scores_of
    from mutualsense.export.model import load_checkpoint
    from mutualsense.export.onnx_export import export_onnx

    fp32 = export_onnx(load_checkpoint(checkpoint).model, input_size=(96, 96)).model
    frames, _ = held_out_frames("synthetic", 16, SPEC)
    reference = scores_of(fp32, frames, SPEC, 1)
    calib = load_calibration_set(blank_calib)
    r = quantize_gated(fp32, calib, frames, SPEC, 1, reference, auto_fp16=True, quantizer="onnxruntime")
    kept = [a["kept_in_higher_precision"] for a in r.attempts]
    assert r.passed and r.attempts[0]["drop"] > 0.01 and r.attempts[-1]["drop"] <= 0.01
    assert kept[0] == 0 and kept == sorted(kept) and len(set(kept)) == len(kept)
    assert r.quantized.excluded == [e.node for e in r.sensitivity[: kept[-1]]]  # the most sensitive first
    assert r.drop == pytest.approx(r.attempts[-1]["drop"]) and r.quantized.qdq_nodes > 0
