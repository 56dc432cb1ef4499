"""The CDA custom node in ONNX: its function body, helpers to attach and find it, a numpy reference.

The node (docs/design.md §8) is ``mutualsense::CrossDiffusionAttention`` version 1: inputs
``q_r, k_r, v_r, q_d, k_d, v_d`` [B,H,N,d] → outputs ``o_r, o_d, o_rd, o_dr``; attributes ``alpha``,
``scale``, ``plugin_version`` ("1"), ``plugin_namespace`` (""). ONNX Runtime and the quantisers
inline its model-local function (:func:`cda_function`); TensorRT maps it to the plugin of that name.
The body is written in standard ops and is type-generic (float32 or float16 in and out): the
attention logits and softmax are always float32, the products with V in the inputs' type, in the
O(N²d) form

    O_rd = α·A_rᵀ O_d + (1−α)(A_r V_d + O_d),   O_dr = α·A_dᵀ O_r + (1−α)(O_r + A_d V_r).

``alpha`` and ``scale`` enter the body as attribute references written
``CastLike(Constant(value_float=@alpha), q)``: no bare float constant, so FP16 converters and
graph slimmers cannot mistype it. Torch-free.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx.parser

__all__ = [
    "CDA_ATTRIBUTES",
    "CDA_DOMAIN",
    "CDA_INPUTS",
    "CDA_OP",
    "CDA_OUTPUTS",
    "CDA_VERSION",
    "add_cda_function",
    "cda_function",
    "cda_nodes",
    "cda_numpy",
    "default_opset",
    "set_opset",
]

CDA_DOMAIN = "mutualsense"
CDA_OP = "CrossDiffusionAttention"
CDA_VERSION = 1
CDA_INPUTS = ("q_r", "k_r", "v_r", "q_d", "k_d", "v_d")
CDA_OUTPUTS = ("o_r", "o_d", "o_rd", "o_dr")
CDA_ATTRIBUTES = ("alpha", "scale", "plugin_version", "plugin_namespace")


_CDA_BODY = """
<domain: "{domain}", opset_import: ["" : {opset}]>
{op} <alpha, scale, plugin_version, plugin_namespace> (q_r, k_r, v_r, q_d, k_d, v_d) => (o_r, o_d, o_rd, o_dr)
{{
  alpha_f = Constant <value_float: float = @alpha> ()
  alpha_t = CastLike (alpha_f, q_r)
  one_f = Constant <value_float = 1.0> ()
  one_t = CastLike (one_f, q_r)
  beta_t = Sub (one_t, alpha_t)
  scale_f = Constant <value_float: float = @scale> ()
  q_r32 = Cast <to = 1> (q_r)
  k_r32 = Cast <to = 1> (k_r)
  k_r32t = Transpose <perm = [0, 1, 3, 2]> (k_r32)
  l_r = MatMul (q_r32, k_r32t)
  scale_r = CastLike (scale_f, l_r)
  l_rs = Mul (l_r, scale_r)
  p_r = Softmax <axis = -1> (l_rs)
  a_r = CastLike (p_r, q_r)
  q_d32 = Cast <to = 1> (q_d)
  k_d32 = Cast <to = 1> (k_d)
  k_d32t = Transpose <perm = [0, 1, 3, 2]> (k_d32)
  l_d = MatMul (q_d32, k_d32t)
  scale_d = CastLike (scale_f, l_d)
  l_ds = Mul (l_d, scale_d)
  p_d = Softmax <axis = -1> (l_ds)
  a_d = CastLike (p_d, q_d)
  o_r = MatMul (a_r, v_r)
  o_d = MatMul (a_d, v_d)
  a_rt = Transpose <perm = [0, 1, 3, 2]> (a_r)
  a_dt = Transpose <perm = [0, 1, 3, 2]> (a_d)
  dif_rd = MatMul (a_rt, o_d)
  crs_rd = MatMul (a_r, v_d)
  sum_rd = Add (crs_rd, o_d)
  wd_rd = Mul (alpha_t, dif_rd)
  ws_rd = Mul (beta_t, sum_rd)
  o_rd = Add (wd_rd, ws_rd)
  dif_dr = MatMul (a_dt, o_r)
  crs_dr = MatMul (a_d, v_r)
  sum_dr = Add (o_r, crs_dr)
  wd_dr = Mul (alpha_t, dif_dr)
  ws_dr = Mul (beta_t, sum_dr)
  o_dr = Add (wd_dr, ws_dr)
}}
"""


def cda_function(opset: int = 19) -> onnx.FunctionProto:
    """The model-local function of the CDA node, for a model whose default-domain opset is ``opset``."""
    fn = onnx.parser.parse_function(_CDA_BODY.format(domain=CDA_DOMAIN, opset=opset, op=CDA_OP))
    fn.doc_string = (
        "MutualFormer cross-diffusion attention, O(N^2 d) form; logits and softmax in float32, "
        "the rest in the inputs' type. TensorRT maps the node to the plugin of the same name."
    )
    return fn


def default_opset(model: onnx.ModelProto) -> int:
    """The model's version of the default ("" / ai.onnx) domain."""
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    raise ValueError("the model imports no default-domain opset")


def set_opset(model: onnx.ModelProto, domain: str, version: int) -> None:
    for imp in model.opset_import:
        if imp.domain == domain:
            imp.version = version
            return
    model.opset_import.append(onnx.helper.make_opsetid(domain, version))


def add_cda_function(model: onnx.ModelProto) -> onnx.ModelProto:
    """Attach (or replace) the CDA function and the ``mutualsense`` opset import, in place; returns ``model``."""
    keep = [f for f in model.functions if (f.domain, f.name) != (CDA_DOMAIN, CDA_OP)]
    del model.functions[:]
    model.functions.extend([*keep, cda_function(default_opset(model))])
    set_opset(model, CDA_DOMAIN, CDA_VERSION)
    return model


def cda_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The CDA nodes of the main graph, in graph order."""
    return [n for n in model.graph.node if n.domain == CDA_DOMAIN and n.op_type == CDA_OP]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cda_numpy(
    q_r: np.ndarray,
    k_r: np.ndarray,
    v_r: np.ndarray,
    q_d: np.ndarray,
    k_d: np.ndarray,
    v_d: np.ndarray,
    alpha: float,
    scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reference CDA in float64 numpy, in the literal O(N³) form (A_rd, A_dr formed explicitly)."""
    q_r, k_r, v_r, q_d, k_d, v_d = (np.asarray(t, np.float64) for t in (q_r, k_r, v_r, q_d, k_d, v_d))
    a_r = _softmax(q_r @ np.swapaxes(k_r, -1, -2) * scale)
    a_d = _softmax(q_d @ np.swapaxes(k_d, -1, -2) * scale)
    y = a_r + a_d
    a_rd = alpha * np.swapaxes(a_r, -1, -2) @ a_d + (1 - alpha) * y
    a_dr = alpha * np.swapaxes(a_d, -1, -2) @ a_r + (1 - alpha) * y
    return a_r @ v_r, a_d @ v_d, a_rd @ v_d, a_dr @ v_r
