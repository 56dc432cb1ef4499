"""Torch-free ONNX graph utilities for the exported MutualSense model (needs ``onnx``; ORT to run).

:func:`strip_functions` makes the copy for TensorRT parsers older than 10.7 (they would inline a
local function instead of using the plugin); :func:`inline_functions` shows what ONNX Runtime
runs; :func:`to_fp16` makes the FP16 model (float32 I/O, normalisation and softmax statistics in
float32); :func:`run_onnx` runs a model on ONNX Runtime CPU, FP16 models with the numerics of an
FP16 engine (:func:`cpu_fp16_emulation`). The CDA node itself lives in
:mod:`mutualsense.export.cda_onnx`; its names are re-exported here.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import onnx
import onnx.inliner
from onnx import TensorProto

from mutualsense.export.cda_onnx import (
    CDA_ATTRIBUTES,
    CDA_DOMAIN,
    CDA_INPUTS,
    CDA_OP,
    CDA_OUTPUTS,
    CDA_VERSION,
    add_cda_function,
    cda_function,
    cda_nodes,
    cda_numpy,
    default_opset,
)

__all__ = [
    "CDA_ATTRIBUTES",
    "CDA_DOMAIN",
    "CDA_INPUTS",
    "CDA_OP",
    "CDA_OUTPUTS",
    "CDA_VERSION",
    "FP16_BLOCKED_OPS",
    "IR_VERSION",
    "add_cda_function",
    "cda_function",
    "cda_nodes",
    "cda_numpy",
    "cpu_fp16_emulation",
    "default_opset",
    "finalize",
    "has_float16",
    "inline_functions",
    "name_nodes",
    "run_onnx",
    "run_onnx_outputs",
    "strip_functions",
    "to_fp16",
]

IR_VERSION = 9  # JetPack 6's ONNX Runtime and TensorRT parser reject the IR 10+ that onnx 1.23 writes

# Kept in float32 by to_fp16 (inputs cast up, outputs cast down): normalisation statistics,
# softmax, exponentials/powers, plus onnxconverter-common's own default list (Resize, TopK, ...).
FP16_BLOCKED_OPS: tuple[str, ...] = (
    "LayerNormalization",
    "GroupNormalization",
    "InstanceNormalization",
    "BatchNormalization",
    "Softmax",
    "LogSoftmax",
    "ReduceMean",
    "ReduceSum",
    "ReduceSumSquare",
    "ReduceL2",
    "Pow",
    "Sqrt",
    "Reciprocal",
    "Exp",
    "Log",
)


def finalize(model: onnx.ModelProto) -> onnx.ModelProto:
    """Set the IR version JetPack 6 reads, in place; returns ``model``."""
    model.ir_version = IR_VERSION
    return model


def strip_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy without function bodies: TensorRT < 10.7 would otherwise inline them instead of using the plugin."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.functions[:]
    return out


def inline_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy with every model-local function call replaced by its body (what ORT does when it loads)."""
    return onnx.inliner.inline_local_functions(model)


def name_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give every main-graph node a unique, non-empty name, in place (FP16 converters derive Cast names from them)."""
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{i}"
        while name in seen:
            name = f"{name}_{i}"
        node.name = name
        seen.add(name)
    return model


def _softmax_feeders(model: onnx.ModelProto) -> set[str]:
    """Names of the MatMul and scaling nodes that compute the logits of each Softmax (kept fp32 too)."""
    producer = {out: node for node in model.graph.node for out in node.output}
    names: set[str] = set()
    for node in model.graph.node:
        if node.op_type != "Softmax":
            continue
        cur = producer.get(node.input[0])
        while cur is not None and cur.op_type in ("Mul", "Div", "Add", "MatMul"):
            names.add(cur.name)
            if cur.op_type == "MatMul":
                break
            cur = next((producer[i] for i in cur.input if i in producer and producer[i].op_type != "Constant"), None)
    return names


def _unshare_initializers(model: onnx.ModelProto, blocked: Callable[[onnx.NodeProto], bool]) -> None:
    """Give blocked nodes their own copy of float initializers they share with converted nodes.

    onnxsim merges identical initializers (e.g. all-zero biases of a LayerNorm and a Conv); the
    converter keeps an initializer float32 when any blocked node reads it, which would leave the
    converted consumers with a float32 input.
    """
    inits = {t.name: t for t in model.graph.initializer if t.data_type == TensorProto.FLOAT}
    converted_reads = {i for n in model.graph.node if not blocked(n) for i in n.input if i in inits}
    for node in model.graph.node:
        if not blocked(node):
            continue
        for i, name in enumerate(node.input):
            if name in converted_reads:
                copy = onnx.TensorProto()
                copy.CopyFrom(inits[name])
                copy.name = f"{name}__fp32_{node.name}"
                model.graph.initializer.append(copy)
                node.input[i] = copy.name


def _is_float(vi: onnx.ValueInfoProto) -> bool:
    return vi.type.tensor_type.elem_type == TensorProto.FLOAT


def _restore_float_outputs(model: onnx.ModelProto, names: set[str]) -> None:
    """Make float32 graph outputs float32 again where the converter left them float16.

    onnxconverter-common casts a blocked node's output to float16 before its keep-io pass looks
    for float32 outputs, so a graph output produced by a blocked op (the final Resize) ends up
    float16. Such an output comes from ``Cast(to=float16)`` of a float32 tensor: drop that cast.
    """
    graph = model.graph
    for vi in graph.output:
        if vi.name not in names or _is_float(vi):
            continue
        vi.type.tensor_type.elem_type = TensorProto.FLOAT
        producer = next(n for n in graph.node if vi.name in n.output)
        src = producer.input[0] if producer.op_type == "Cast" else ""
        if src and src not in names and not any(src in n.input for n in graph.node if n is not producer):
            graph.node.remove(producer)  # the float32 tensor the cast read becomes the output
            for node in graph.node:
                node.output[:] = [vi.name if o == src else o for o in node.output]
        else:  # keep the float16 rounding, cast back up
            half = f"{vi.name}__fp16"
            producer.output[:] = [half if o == vi.name else o for o in producer.output]
            for node in graph.node:
                node.input[:] = [half if i == vi.name else i for i in node.input]
            graph.node.append(
                onnx.helper.make_node("Cast", [half], [vi.name], name=f"{half}_cast", to=TensorProto.FLOAT)
            )


def to_fp16(model: onnx.ModelProto, extra_blocked_ops: Iterable[str] = ()) -> onnx.ModelProto:
    """An FP16 copy with float32 inputs/outputs; numerically sensitive ops stay float32.

    onnxconverter-common's ``convert_float_to_float16(keep_io_types=True)`` with ``op_block_list`` =
    its default list + :data:`FP16_BLOCKED_OPS` and ``node_block_list`` = the logit MatMul/Mul
    feeding every Softmax. Function bodies are left alone: the CDA body is type-generic and keeps
    its own softmax in float32.
    """
    from onnxconverter_common import float16

    work = onnx.ModelProto()
    work.CopyFrom(model)
    name_nodes(work)
    blocked_ops = {*float16.DEFAULT_OP_BLOCK_LIST, *FP16_BLOCKED_OPS, *extra_blocked_ops}
    blocked_nodes = _softmax_feeders(work)
    _unshare_initializers(work, lambda n: n.op_type in blocked_ops or n.name in blocked_nodes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # one warning per weight below 1e-7 in magnitude
        converted = float16.convert_float_to_float16(
            work,
            keep_io_types=True,
            op_block_list=sorted(blocked_ops),
            node_block_list=sorted(blocked_nodes),
        )
    _restore_float_outputs(converted, {o.name for o in model.graph.output if _is_float(o)})
    del converted.graph.value_info[:]  # partly stale after the rewrite; ORT and TensorRT infer them again
    finalize(converted)
    onnx.checker.check_model(converted, full_check=True)
    return converted


# Ops that only move or select data: exact in float16, and ORT CPU has float16 kernels for them.
_EXACT_OPS = frozenset(
    {
        "Cast", "CastLike", "Concat", "Constant", "Expand", "Flatten", "Gather", "Identity", "Pad",
        "Reshape", "Shape", "Slice", "Split", "Squeeze", "Tile", "Transpose", "Unsqueeze",
    }
)  # fmt: skip


def has_float16(model: onnx.ModelProto) -> bool:
    """Whether any initializer or main-graph tensor of ``model`` is float16."""
    if any(t.data_type == TensorProto.FLOAT16 for t in model.graph.initializer):
        return True
    return any(
        vi.type.tensor_type.elem_type == TensorProto.FLOAT16
        for vi in (*model.graph.input, *model.graph.output, *model.graph.value_info)
    )


def cpu_fp16_emulation(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of an FP16 model that ONNX Runtime CPU runs with the numerics of an FP16 GPU engine.

    ORT 1.32's x86 CPU provider has float16 kernels for data movement (Transpose, ...) but not
    for Conv, Gemm, MatMul, Add, Mul, Sub, Div, Relu, Erf, Softmax or Sigmoid; loading such a
    graph it silently runs whole chains of them in float32, never rounding the activations in
    between, which flatters the FP16 model. Here functions are inlined, then every compute op with float16
    inputs or outputs gets explicit Casts: it reads float32 copies of its float16 inputs
    (weights included), computes and accumulates in float32, and rounds each output to float16 —
    float16 storage, float32 arithmetic, as TensorRT does (which fuses some ops and so rounds
    less often: this is the pessimistic side). Data-movement ops stay as they are.
    """
    out = onnx.shape_inference.infer_shapes(inline_functions(model))
    types = {vi.name: vi.type.tensor_type.elem_type for vi in (*out.graph.value_info, *out.graph.input)}
    types.update({t.name: t.data_type for t in out.graph.initializer})
    types.update({vi.name: vi.type.tensor_type.elem_type for vi in out.graph.output})
    name_nodes(out)
    nodes: list[onnx.NodeProto] = []
    for node in out.graph.node:
        if node.op_type in _EXACT_OPS or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        for i, name in enumerate(node.input):
            if name and types.get(name) == TensorProto.FLOAT16:
                up = f"{node.name}__emu_in{i}"
                nodes.append(onnx.helper.make_node("Cast", [name], [up], name=up, to=TensorProto.FLOAT))
                node.input[i] = up
        nodes.append(node)
        for i, name in enumerate(node.output):
            if types.get(name) == TensorProto.FLOAT16:
                wide = f"{node.name}__emu_out{i}"
                node.output[i] = wide
                nodes.append(onnx.helper.make_node("Cast", [wide], [name], name=f"{wide}_cast", to=TensorProto.FLOAT16))
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    del out.graph.value_info[:]
    return out


def run_onnx(
    model: onnx.ModelProto | str | os.PathLike[str],
    rgb: np.ndarray,
    depth: np.ndarray,
    *,
    threads: int = 1,
    fp16_emulation: bool = True,
) -> np.ndarray:
    """Run the model on ONNX Runtime CPU and return ``saliency`` (float32 logits).

    Args:
        model: a ModelProto or a path; the session is built from the serialized bytes.
        rgb, depth: [B,3,H,W] and [B,1,H,W] float32.
        threads: ORT intra-op threads.
        fp16_emulation: run float16 models through :func:`cpu_fp16_emulation` (float16 storage,
            float32 arithmetic at every op); with False ORT inserts its own casts.
    """
    return run_onnx_outputs(model, rgb, depth, (), threads=threads, fp16_emulation=fp16_emulation)["saliency"]


def run_onnx_outputs(
    model: onnx.ModelProto | str | os.PathLike[str],
    rgb: np.ndarray,
    depth: np.ndarray,
    names: Iterable[str],
    *,
    threads: int = 1,
    fp16_emulation: bool = True,
) -> dict[str, np.ndarray]:
    """Like :func:`run_onnx`, also returning the intermediate tensors ``names``: ``{name: array}`` + ``saliency``."""
    import onnxruntime as ort

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(Path(model))
    if fp16_emulation and has_float16(model):
        model = cpu_fp16_emulation(model)
    extra = [n for n in dict.fromkeys(names) if n != "saliency"]
    if extra:
        model = _with_outputs(model, extra)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {"rgb": np.ascontiguousarray(rgb, np.float32), "depth": np.ascontiguousarray(depth, np.float32)}
    fetch = ["saliency", *extra]
    return dict(zip(fetch, sess.run(fetch, feeds), strict=True))


def _with_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """A copy that also exposes the intermediate tensors ``names`` as graph outputs."""
    out = onnx.shape_inference.infer_shapes(model)
    infos = {vi.name: vi for vi in out.graph.value_info}
    for name in names:
        if name in infos:
            out.graph.output.append(infos[name])
        else:
            out.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    return out


class OrtSession:
    """An in-memory ONNX model on ONNX Runtime CPU, with the backend's ``infer`` (for checks during export).

    FP16 models run through :func:`cpu_fp16_emulation`, so their accuracy is measured faithfully on a CPU.
    """

    name = "onnxruntime-cpu"

    def __init__(self, model: onnx.ModelProto, threads: int = 0) -> None:
        import onnxruntime as ort

        if has_float16(model):
            model = cpu_fp16_emulation(model)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = threads
        self._sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"saliency": self._sess.run(["saliency"], feed)[0]}
