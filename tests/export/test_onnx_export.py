"""ONNX export: the CDA custom node and its function body, ORT vs PyTorch, the TensorRT copy, FP16."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the export tests need torch (pip install mutualsense[export])")
onnx = pytest.importorskip("onnx", reason="the export tests need onnx (pip install mutualsense[export])")
pytest.importorskip("onnxruntime", reason="the export tests need onnxruntime")
pytest.importorskip("onnxsim", reason="the export tests need onnxsim (pip install mutualsense[export])")
pytest.importorskip("onnxconverter_common", reason="the export tests need onnxconverter-common")

from onnx import TensorProto, helper  # noqa: E402

from mutualsense.evaluation.synthetic import SceneGenerator  # noqa: E402
from mutualsense.export import DEMO_WEIGHTS  # noqa: E402
from mutualsense.export.model import CONFIGS, MutualFormerBlock, MutualSenseNet, load_checkpoint  # noqa: E402
from mutualsense.export.onnx_export import OnnxExport, cda_as_onnx_node, export_onnx  # noqa: E402
from mutualsense.export.onnx_graph import (  # noqa: E402
    CDA_DOMAIN,
    CDA_OP,
    cda_function,
    cda_nodes,
    cda_numpy,
    inline_functions,
    run_onnx,
    run_onnx_outputs,
    strip_functions,
    to_fp16,
)
from mutualsense.preprocess import preprocess  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomise_norms(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random BatchNorm running statistics and affine parameters, so that folding them is not trivial."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
            elif isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    return model.eval()


def random_model(name: str, seed: int = 0) -> MutualSenseNet:
    torch.manual_seed(seed)
    return randomise_norms(MutualSenseNet(CONFIGS[name]), seed + 1)


@pytest.fixture(scope="module")
def tiny_model() -> MutualSenseNet:
    if DEMO_WEIGHTS.exists():
        return load_checkpoint(DEMO_WEIGHTS).model
    return random_model("tiny")


@pytest.fixture(scope="module")
def tiny_export(tiny_model: MutualSenseNet) -> OnnxExport:
    return export_onnx(tiny_model)


@pytest.fixture(scope="module")
def scenes(tiny_model: MutualSenseNet) -> list[tuple[np.ndarray, np.ndarray]]:
    spec = tiny_model.config.input
    gen = SceneGenerator(spec.height, spec.width, seed=3)
    return [preprocess(s.rgb, s.depth, s.depth_scale, spec) for s in itertools.islice(gen, 8)]


def torch_logits(model: MutualSenseNet, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(rgb), torch.from_numpy(depth)).numpy()


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def test_ort_matches_torch_on_tiny(tiny_export: OnnxExport, tiny_model: MutualSenseNet, scenes) -> None:
    assert tiny_export.max_abs_error <= 1e-4
    rgb, depth = scenes[0]
    out = run_onnx(tiny_export.model, rgb, depth)
    assert out.shape == (1, 1, *rgb.shape[-2:]) and out.dtype == np.float32
    assert np.abs(out - torch_logits(tiny_model, rgb, depth)).max() <= 1e-4


def test_one_cda_node_per_block_with_the_contracted_interface(
    tiny_export: OnnxExport, tiny_model: MutualSenseNet
) -> None:
    model = tiny_export.model
    cfg = tiny_model.config
    blocks = sum(isinstance(m, MutualFormerBlock) for m in tiny_model.modules())
    nodes = cda_nodes(model)
    assert len(nodes) == blocks == tiny_export.cda_nodes == len(cfg.fusion_levels) * cfg.blocks_per_level
    assert sum(n.op_type == CDA_OP for n in model.graph.node) == blocks  # none in another domain
    for node in nodes:
        assert node.domain == CDA_DOMAIN and len(node.input) == 6 and len(node.output) == 4
        a = attrs(node)
        assert set(a) == {"alpha", "scale", "plugin_version", "plugin_namespace"}
        assert a["alpha"] == pytest.approx(cfg.alpha) and a["scale"] == pytest.approx(
            (cfg.dim // cfg.num_heads) ** -0.5
        )
        assert a["plugin_version"] == b"1" and a["plugin_namespace"] == b""
    # nothing of the CDA math leaks into the main graph: its only softmaxes are the fused self-attention's
    assert sum(n.op_type == "Softmax" for n in model.graph.node) == blocks

    (fn,) = [f for f in model.functions if (f.domain, f.name) == (CDA_DOMAIN, CDA_OP)]
    assert list(fn.input) == ["q_r", "k_r", "v_r", "q_d", "k_d", "v_d"]
    assert list(fn.output) == ["o_r", "o_d", "o_rd", "o_dr"]
    assert {"alpha", "scale"} <= set(fn.attribute)
    refs = {a.ref_attr_name for n in fn.node for a in n.attribute if a.ref_attr_name}
    assert refs == {"alpha", "scale"}
    opsets = {o.domain: o.version for o in model.opset_import}
    assert opsets[CDA_DOMAIN] == 1 and opsets[""] == tiny_export.opset == 19
    assert model.ir_version <= 10
    onnx.checker.check_model(model, full_check=True)
    assert tiny_export.seconds < 60


def test_function_body_alone_computes_the_cda(tiny_export: OnnxExport, scenes) -> None:
    model = tiny_export.model
    rgb, depth = scenes[1]
    inlined = inline_functions(model)
    assert not inlined.functions and not cda_nodes(inlined)
    via_body, via_node = run_onnx(inlined, rgb, depth), run_onnx(model, rgb, depth)
    assert np.abs(via_body - via_node).max() <= 1e-6 * max(1.0, np.abs(via_node).max())

    names = [t for n in cda_nodes(model) for t in (*n.input, *n.output)]
    tensors = run_onnx_outputs(model, rgb, depth, names)
    for node in cda_nodes(model):
        a = attrs(node)
        want = cda_numpy(*(tensors[i] for i in node.input), alpha=a["alpha"], scale=a["scale"])
        for name, ref in zip(node.output, want, strict=True):
            got = tensors[name]
            assert got.shape == ref.shape == tensors[node.input[0]].shape
            assert np.abs(got - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max()), name


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_function_body_is_type_generic(dtype) -> None:
    rng = np.random.default_rng(7)
    b, h, n, d = 2, 3, 17, 8
    onnx_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    ins = [
        helper.make_tensor_value_info(k, onnx_type, [b, h, n, d]) for k in ("q_r", "k_r", "v_r", "q_d", "k_d", "v_d")
    ]
    outs = [helper.make_tensor_value_info(k, onnx_type, [b, h, n, d]) for k in ("o_r", "o_d", "o_rd", "o_dr")]
    node = helper.make_node(
        CDA_OP, [i.name for i in ins], [o.name for o in outs], domain=CDA_DOMAIN,
        alpha=0.6, scale=d**-0.5, plugin_version="1", plugin_namespace="",
    )  # fmt: skip
    model = helper.make_model(
        helper.make_graph([node], "cda", ins, outs),
        opset_imports=[helper.make_opsetid("", 19), helper.make_opsetid(CDA_DOMAIN, 1)],
        functions=[cda_function(19)],
        ir_version=9,
    )
    onnx.checker.check_model(model, full_check=True)
    import onnxruntime as ort

    feeds = {i.name: (rng.standard_normal((b, h, n, d)) * 2).astype(dtype) for i in ins}
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # float16 Sub(1, alpha) is not constant-folded on CPU: a warning
    got = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, feeds)
    want = cda_numpy(*feeds.values(), alpha=0.6, scale=d**-0.5)
    tol = 1e-5 if dtype == np.float32 else 1e-2
    for g, w in zip(got, want, strict=True):
        assert g.dtype == dtype and np.abs(g - w).max() <= tol


def test_tensorrt_copy_has_the_node_but_no_function(tiny_export: OnnxExport) -> None:
    trt = tiny_export.trt_model
    assert not trt.functions and tiny_export.model.functions
    assert trt.graph == tiny_export.model.graph
    assert len(cda_nodes(trt)) == tiny_export.cda_nodes
    assert {o.domain: o.version for o in trt.opset_import}[CDA_DOMAIN] == 1
    assert strip_functions(tiny_export.model) == trt


def test_fp16_model_runs_on_ort_cpu_close_to_fp32(tiny_export: OnnxExport, scenes) -> None:
    fp16 = to_fp16(tiny_export.model)
    graph = fp16.graph
    for vi in (*graph.input, *graph.output):
        assert vi.type.tensor_type.elem_type == TensorProto.FLOAT
    sizes = {t: 0 for t in (TensorProto.FLOAT, TensorProto.FLOAT16)}
    for init in graph.initializer:
        if init.data_type in sizes:
            sizes[init.data_type] += int(np.prod(init.dims))
    assert sizes[TensorProto.FLOAT16] > 0.95 * sum(sizes.values())
    assert len(cda_nodes(fp16)) == tiny_export.cda_nodes and fp16.functions and fp16.ir_version <= 10
    # LayerNorm and softmax statistics stay float32
    inferred = onnx.shape_inference.infer_shapes(fp16)
    types = {vi.name: vi.type.tensor_type.elem_type for vi in inferred.graph.value_info}
    for node in graph.node:
        if node.op_type in ("LayerNormalization", "Softmax"):
            assert types[node.input[0]] == TensorProto.FLOAT, node.name
        if node.op_type == CDA_OP:
            assert types[node.input[0]] == types[node.output[0]] == TensorProto.FLOAT16

    worst = worst_ort = 0.0
    for rgb, depth in scenes:
        ref = sigmoid(run_onnx(tiny_export.model, rgb, depth))
        worst = max(worst, float(np.abs(sigmoid(run_onnx(fp16, rgb, depth)) - ref).max()))
        worst_ort = max(worst_ort, float(np.abs(sigmoid(run_onnx(fp16, rgb, depth, fp16_emulation=False)) - ref).max()))
    print(f"fp16 vs fp32 sigmoid max abs diff on 8 scenes: {worst:.2e} (emulated), {worst_ort:.2e} (ORT casts)")
    assert worst < 1e-2 and worst_ort < 1e-2


def test_patch_is_undone_and_bad_arguments_fail(tiny_model: MutualSenseNet) -> None:
    with cda_as_onnx_node(tiny_model) as n:
        assert n == sum(isinstance(m, MutualFormerBlock) for m in tiny_model.modules())
    assert all("cda" not in vars(m) for m in tiny_model.modules())
    with pytest.raises(ValueError, match="opset"):
        export_onnx(tiny_model, opset=17)
    with pytest.raises(ValueError, match="batch"):
        export_onnx(tiny_model, batch=0)


@pytest.mark.slow
def test_paper_config_exports_and_matches_torch() -> None:
    model = random_model("paper")
    result = export_onnx(model)
    print(f"paper: max |ORT - torch| = {result.max_abs_error:.2e}, max |logit| = {result.max_abs_logit:.2f}")
    assert result.cda_nodes == 2
    assert result.max_abs_error <= 1e-4 * result.max_abs_logit
