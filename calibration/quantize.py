"""INT8 post-training quantisation to a Q/DQ ONNX graph (ONNX Runtime's static quantiser) and per-layer sensitivity.

Symmetric int8 activations and weights (what TensorRT expects from Q/DQ), per-channel weights, opset
of the exported model (≥ 19). The ``mutualsense::CrossDiffusionAttention`` node is never quantised,
and neither are the data-movement nodes that feed it, so its inputs arrive in float (the TensorRT
plugin takes fp32/fp16 only; design §4: keep the plugin between DQ and Q in higher precision).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from mutualsense.calibration.set import CalibrationSet
from mutualsense.export.onnx_graph import IR_VERSION, name_nodes, run_onnx_outputs

__all__ = ["METHODS", "LayerError", "QuantizedModel", "cda_guard_nodes", "layer_sensitivity", "quantize_int8"]

METHODS = ("minmax", "entropy", "percentile")
CDA_OP = "CrossDiffusionAttention"
_PASS_THROUGH = {"Gather", "Reshape", "Transpose", "Split", "Squeeze", "Unsqueeze", "Slice", "Identity"}


@dataclass
class QuantizedModel:
    """A Q/DQ model and how it was made."""

    model: onnx.ModelProto
    method: str
    excluded: list[str] = field(default_factory=list)  # nodes kept in float by request (sensitivity)
    guarded: list[str] = field(default_factory=list)  # the CDA nodes and what feeds them, always float
    calibration_samples: int = 0

    @property
    def qdq_nodes(self) -> int:
        return sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in self.model.graph.node)


@dataclass(frozen=True)
class LayerError:
    """Quantisation error at one node's output on calibration samples (relative L2 vs FP32)."""

    node: str
    op_type: str
    relative_error: float  # accumulated: everything upstream quantised too
    added_error: float  # this node's own contribution: output error minus its worst input's error

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "op_type": self.op_type,
            "relative_error": self.relative_error,
            "added_error": self.added_error,
        }


def cda_guard_nodes(model: onnx.ModelProto) -> list[str]:
    """The CDA nodes plus the chains of data-movement nodes feeding them (kept out of quantisation)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    guarded: list[str] = []
    todo = [n for n in model.graph.node if n.op_type == CDA_OP]
    while todo:
        node = todo.pop()
        if node.name in guarded:
            continue
        guarded.append(node.name)
        for name in node.input:
            p = producer.get(name)
            if p is not None and p.op_type in _PASS_THROUGH:
                todo.append(p)
    return guarded


class _Reader:
    """``onnxruntime.quantization.CalibrationDataReader`` over a calibration set, one batch at a time."""

    def __init__(self, calib: CalibrationSet, batch: int) -> None:
        self.calib, self.batch, self.i = calib, batch, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i + self.batch > len(self.calib):
            return None
        s = slice(self.i, self.i + self.batch)
        self.i += self.batch
        return {"rgb": self.calib.rgb[s], "depth": self.calib.depth[s]}

    def rewind(self) -> None:
        self.i = 0


def _batch_of(model: onnx.ModelProto) -> int:
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    return int(dim.dim_value) if dim.dim_value > 0 else 1


def quantize_int8(
    model: onnx.ModelProto,
    calib: CalibrationSet,
    method: str = "minmax",
    exclude: Iterable[str] = (),
    percentile: float = 99.999,
) -> QuantizedModel:
    """Quantise an FP32 model (with the CDA node and its function body) to Q/DQ int8.

    Args:
        model: the FP32 ONNX model from ``export_onnx`` (not modified).
        calib: the calibration set (``len(calib) >= batch``).
        method: ``minmax``, ``entropy`` or ``percentile`` (activation range calibration).
        exclude: node names to keep in float (e.g. the most sensitive layers); their consumers are
            excluded too, so the nodes' outputs stay unquantised.
        percentile: the percentile for ``method="percentile"``.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    src = onnx.ModelProto()
    src.CopyFrom(model)
    name_nodes(src)
    guarded = cda_guard_nodes(src)
    excluded = list(dict.fromkeys(exclude))
    # A node's output tensor is quantised by whoever consumes it: keeping a node in float means keeping
    # its consumers' inputs in float too, so exclude those as well.
    consumers: dict[str, list[str]] = {}
    for n in src.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.name)
    by_name = {n.name: n for n in src.graph.node}
    expanded = list(excluded)
    for name in excluded:
        for o in by_name[name].output if name in by_name else ():
            expanded.extend(consumers.get(o, []))
    batch = _batch_of(src)
    calibrate = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[method]
    reader = _Reader(calib, batch)
    CalibrationDataReader.register(_Reader)
    extra: dict[str, Any] = {"ActivationSymmetric": True, "WeightSymmetric": True, "CalibPercentile": percentile}
    # Note: ORT 1.32's quantize_static builds its entropy calibrator with 128 histogram bins and 128
    # quantised bins and does not pass a bin count through extra_options, so "entropy" gives the
    # same ranges as "minmax" (measured: identical scales); "percentile" uses 2048 bins and differs.
    with tempfile.TemporaryDirectory(prefix="mutualsense-int8-") as tmp:
        fp32_path, out_path = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(src, fp32_path)
        quantize_static(
            fp32_path,
            out_path,
            reader,  # type: ignore[arg-type]
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=calibrate,
            nodes_to_exclude=list(dict.fromkeys(guarded + expanded)),
            extra_options=extra,
        )
        q = onnx.load(out_path)
    q.ir_version = IR_VERSION
    if not any(f.name == CDA_OP for f in q.functions):  # the body must travel with the node (ORT runs it)
        q.functions.extend(f for f in src.functions)
    return QuantizedModel(q, method, excluded, guarded, calibration_samples=len(calib) - len(calib) % batch)


def _quantized_nodes(q: onnx.ModelProto) -> set[str]:
    producer = {o: n.op_type for n in q.graph.node for o in n.output}
    return {
        n.name
        for n in q.graph.node
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
        and any(producer.get(i) == "DequantizeLinear" for i in n.input)
    }


def layer_sensitivity(
    fp32: onnx.ModelProto, quantized: QuantizedModel, calib: CalibrationSet, samples: int = 4
) -> list[LayerError]:
    """Per-node quantisation error, most sensitive first (by the error each node adds).

    Runs the FP32 and the Q/DQ model on the first ``samples`` calibration inputs with every quantised
    node's output exposed, and compares each output (after its own Q/DQ, if any) with FP32.
    """
    q = quantized.model
    names = _quantized_nodes(q)
    nodes = [n for n in q.graph.node if n.name in names]
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in q.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def after_qdq(tensor: str) -> str:
        for c in consumers.get(tensor, []):
            if c.op_type == "QuantizeLinear":
                for d in consumers.get(c.output[0], []):
                    if d.op_type == "DequantizeLinear":
                        return d.output[0]
        return tensor

    q_producer = {o: n for n in q.graph.node for o in n.output}

    def fp32_name(tensor: str) -> str:  # DQ(Q(x)) in the quantised graph → x
        dq = q_producer.get(tensor)
        if dq is not None and dq.op_type == "DequantizeLinear":
            qn = q_producer.get(dq.input[0])
            if qn is not None and qn.op_type == "QuantizeLinear":
                return qn.input[0]
        return tensor

    initializers = {t.name for t in fp32.graph.initializer}
    fp32_tensors = {o for n in fp32.graph.node for o in n.output}
    wanted: dict[str, str] = {}  # fp32 tensor → its quantised-graph counterpart
    out_name: dict[str, str] = {}  # node → fp32 name of its output (the quantiser renames graph outputs)
    for n in nodes:
        o = n.output[0]
        base = o if o in fp32_tensors else after_qdq(o)
        if base not in fp32_tensors:
            continue
        out_name[n.name] = base
        wanted[base] = after_qdq(o)
        for i in n.input:
            base = fp32_name(i)
            if base in fp32_tensors and base not in initializers:
                wanted[base] = i
    k = min(samples, len(calib))
    batch = _batch_of(fp32)
    errs: dict[str, list[float]] = {t: [] for t in wanted}
    for s in range(0, max(k - k % batch, batch), batch):
        rgb, depth = calib.rgb[s : s + batch], calib.depth[s : s + batch]
        a = run_onnx_outputs(fp32, rgb, depth, list(wanted))
        b = run_onnx_outputs(q, rgb, depth, list(dict.fromkeys(wanted.values())))
        for t, qt in wanted.items():
            ref = a[t].astype(np.float64)
            errs[t].append(float(np.linalg.norm(b[qt] - ref) / (np.linalg.norm(ref) + 1e-12)))
    err = {t: float(np.mean(v)) for t, v in errs.items()}
    out = []
    for n in nodes:
        if n.name not in out_name or n.op_type in _PASS_THROUGH | {"Concat"}:
            continue  # data movement shares its neighbours' scales: keeping it in float changes nothing
        ins = [err[fp32_name(i)] for i in n.input if fp32_name(i) in err]
        own = err[out_name[n.name]]
        out.append(LayerError(n.name, n.op_type, own, own - (max(ins) if ins else 0.0)))
    out.sort(key=lambda e: e.added_error, reverse=True)
    return out


def top_sensitive(errors: Sequence[LayerError], k: int) -> list[str]:
    """Names of the ``k`` nodes that add the most error."""
    return [e.node for e in errors[:k]]
