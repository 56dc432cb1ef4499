"""Which layers lose the most to INT8: per-node quantisation error of a Q/DQ model against FP32, on
calibration samples (the report in an INT8 bundle's manifest, and what ``--auto-fp16`` keeps in float)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from mutualsense.calibration.quantize import PASS_THROUGH, QuantizedModel, batch_of
from mutualsense.calibration.set import CalibrationSet
from mutualsense.export.onnx_graph import run_onnx_outputs

__all__ = ["LayerError", "layer_sensitivity"]


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
    batch = batch_of(fp32)
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
        if n.name not in out_name or n.op_type in PASS_THROUGH | {"Concat"}:
            continue  # data movement shares its neighbours' scales: keeping it in float changes nothing
        ins = [err[fp32_name(i)] for i in n.input if fp32_name(i) in err]
        own = err[out_name[n.name]]
        out.append(LayerError(n.name, n.op_type, own, own - (max(ins) if ins else 0.0)))
    out.sort(key=lambda e: e.added_error, reverse=True)
    return out
