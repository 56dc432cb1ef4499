"""INT8 post-training quantisation to a Q/DQ ONNX graph, and per-layer sensitivity.

Two quantisers write the same kind of graph: nvidia-modelopt's ONNX PTQ (run in its own venv, see
:mod:`mutualsense.calibration.modelopt`; ``max`` or ``entropy`` calibration) and ONNX Runtime's
``quantize_static`` (in process; ``minmax``, ``entropy``, ``percentile``). ``quantizer="auto"`` takes
modelopt and falls back to ONNX Runtime, saying why, where modelopt cannot run.

Symmetric int8 activations and weights (what TensorRT expects from Q/DQ), per-channel weights, opset
of the exported model (≥ 19). The ``mutualsense::CrossDiffusionAttention`` node is never quantised,
and neither are the data-movement nodes that feed it, so its inputs arrive in float (the TensorRT
plugin takes fp32/fp16 only; docs/design.md §4: keep the plugin between DQ and Q in higher precision).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from mutualsense.calibration.modelopt import (
    MODELOPT_METHODS,
    ModeloptEnv,
    QuantizerError,
    create_env,
    find_env,
    quantize_with_modelopt,
    require_modelopt_method,
)
from mutualsense.calibration.set import CalibrationSet
from mutualsense.export.cda_onnx import CDA_OP, cda_nodes
from mutualsense.export.onnx_graph import IR_VERSION, name_nodes

__all__ = [
    "METHODS",
    "PASS_THROUGH",
    "QUANTIZERS",
    "QuantizedModel",
    "QuantizerChoice",
    "batch_of",
    "cda_guard_nodes",
    "check_quantizer",
    "keep_inputs_float",
    "quantize_int8",
    "resolve_quantizer",
]

METHODS = ("minmax", "entropy", "percentile")
QUANTIZERS = ("auto", "modelopt", "onnxruntime")
# What ONNX Runtime's quantiser may quantise: the ops TensorRT runs in int8 (as modelopt chooses them).
# Left to itself ORT also quantises LayerNormalization's rank-1 weight with axis 1 (invalid ONNX that
# TensorRT's parser rejects) and Softmax's output (int8 probabilities), both measured here.
ORT_OPS_TO_QUANTIZE = ("Conv", "Gemm", "MatMul", "Add", "Mul", "Concat", "Resize", "MaxPool", "AveragePool")
PASS_THROUGH = {"Gather", "Reshape", "Transpose", "Split", "Squeeze", "Unsqueeze", "Slice", "Identity"}


@dataclass
class QuantizedModel:
    """A Q/DQ model and how it was made."""

    model: onnx.ModelProto
    method: str
    excluded: list[str] = field(default_factory=list)  # nodes kept in float by request (sensitivity)
    guarded: list[str] = field(default_factory=list)  # the CDA nodes and what feeds them, always float
    calibration_samples: int = 0
    quantizer: str = "onnxruntime"  # which quantiser ran: "modelopt" or "onnxruntime"
    quantizer_detail: str = ""  # its versions and settings, for the manifest
    quantizer_note: str | None = None  # why "auto" fell back to ONNX Runtime

    @property
    def qdq_nodes(self) -> int:
        return sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in self.model.graph.node)


def cda_guard_nodes(model: onnx.ModelProto) -> list[str]:
    """The CDA nodes plus the chains of data-movement nodes feeding them (kept out of quantisation)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    guarded: list[str] = []
    todo = cda_nodes(model)
    while todo:
        node = todo.pop()
        if node.name in guarded:
            continue
        guarded.append(node.name)
        for name in node.input:
            p = producer.get(name)
            if p is not None and p.op_type in PASS_THROUGH:
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


def batch_of(model: onnx.ModelProto) -> int:
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    return int(dim.dim_value) if dim.dim_value > 0 else 1


@dataclass(frozen=True)
class QuantizerChoice:
    """The quantiser that will run: ``"modelopt"`` (with its venv) or ``"onnxruntime"``, and why."""

    name: str
    env: ModeloptEnv | None = None
    note: str | None = None  # why "auto" fell back to ONNX Runtime
    requested: str = "auto"


def check_quantizer(quantizer: str, method: str) -> None:
    """Refuse, before any work, a quantiser that does not exist or cannot run ``method`` as asked.

    Raises:
        QuantizerError: an unknown quantiser, or ``modelopt`` with a method it does not offer.
    """
    if quantizer not in QUANTIZERS:
        raise QuantizerError(f"unknown quantizer {quantizer!r}.", f"use one of {', '.join(QUANTIZERS)}.")
    if quantizer == "modelopt":
        require_modelopt_method(method)


def resolve_quantizer(
    quantizer: str, method: str, create: bool = True, on_step: Callable[[str], None] | None = None
) -> QuantizerChoice:
    """Decide which quantiser runs; ``modelopt`` (and ``auto``) make modelopt's venv when it is missing.

    Raises:
        QuantizerError: ``quantizer="modelopt"`` and modelopt cannot run (``auto`` falls back instead).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_quantizer(quantizer, method)
    if quantizer == "onnxruntime":
        return QuantizerChoice("onnxruntime", requested=quantizer)
    if method not in MODELOPT_METHODS:
        return QuantizerChoice("onnxruntime", note=f"nvidia-modelopt has no {method} calibration for int8")
    env = find_env()
    if env is None and create:
        try:
            env = create_env(on_step=on_step)
        except QuantizerError as e:
            if quantizer == "modelopt":
                raise
            return QuantizerChoice("onnxruntime", note=f"nvidia-modelopt could not be set up: {e.what}")
    if env is None:
        if quantizer == "modelopt":
            raise QuantizerError(
                "nvidia-modelopt's venv does not exist.", "run `mutualsense setup-modelopt` (or let it be created)."
            )
        return QuantizerChoice("onnxruntime", note="nvidia-modelopt's venv does not exist (not created)")
    return QuantizerChoice("modelopt", env, requested=quantizer)


def quantize_int8(
    model: onnx.ModelProto,
    calib: CalibrationSet,
    method: str = "minmax",
    exclude: Iterable[str] = (),
    percentile: float = 99.999,
    quantizer: str | QuantizerChoice = "auto",
    on_step: Callable[[str], None] | None = None,
) -> QuantizedModel:
    """Quantise an FP32 model (with the CDA node and its function body) to Q/DQ int8.

    Args:
        model: the FP32 ONNX model from ``export_onnx`` (not modified).
        calib: the calibration set (``len(calib) >= batch``).
        method: ``minmax``, ``entropy`` or ``percentile`` (activation range calibration; modelopt
            offers the first two).
        exclude: node names to keep in float (e.g. the most sensitive layers); their consumers are
            excluded too, so the nodes' outputs stay unquantised.
        percentile: the percentile for ``method="percentile"``.
        quantizer: ``auto`` (nvidia-modelopt, else ONNX Runtime with the reason in
            ``quantizer_note``), ``modelopt``, ``onnxruntime``, or an earlier :func:`resolve_quantizer`.
        on_step: progress callback (creating modelopt's venv takes a minute or two, once).

    Raises:
        QuantizerError: ``quantizer="modelopt"`` and modelopt cannot set up or quantise this model.
    """
    choice = (
        quantizer if isinstance(quantizer, QuantizerChoice) else resolve_quantizer(quantizer, method, True, on_step)
    )
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
    keep_float = list(dict.fromkeys(guarded + expanded))
    batch = batch_of(src)
    used = len(calib) - len(calib) % batch
    note = choice.note
    if choice.name == "modelopt":
        assert choice.env is not None
        try:
            q = quantize_with_modelopt(choice.env, src, calib.rgb[:used], calib.depth[:used], method, keep_float)
            detail = f"{choice.env.describe(with_path=False)}: QDQ, int8 {MODELOPT_METHODS[method]} calibration"
        except QuantizerError as e:
            if choice.requested != "auto":
                raise
            note = f"nvidia-modelopt failed on this model: {e.what}"
            choice = QuantizerChoice("onnxruntime", note=note)
    if choice.name == "onnxruntime":
        q = _quantize_onnxruntime(src, calib, method, keep_float, percentile, batch)
        detail = (
            f"onnxruntime.quantization.quantize_static {_onnxruntime_version()} "
            f"(QDQ, symmetric int8, per-channel weights, {method} calibration)"
        )
    keep_inputs_float(q, keep_float)
    q.ir_version = IR_VERSION
    if not any(f.name == CDA_OP for f in q.functions):  # the body must travel with the node (ORT runs it)
        q.functions.extend(f for f in src.functions)
    return QuantizedModel(q, method, excluded, guarded, used, choice.name, detail, note)


def keep_inputs_float(model: onnx.ModelProto, names: Iterable[str]) -> int:
    """Feed the named nodes their float activations: ``DQ(Q(x))`` inputs are rewired to ``x``.

    The quantisers disagree on what excluding a node means: ONNX Runtime keeps its inputs in float,
    modelopt may still quantise a tensor the node shares with a quantised neighbour (the Q/DQ then
    serves both). Rewiring makes "kept in higher precision" mean the same for both; Q/DQ pairs left
    without consumers are removed. Returns how many inputs were rewired.
    """
    wanted = set(names)
    producer = {o: n for n in model.graph.node for o in n.output}
    rewired = 0
    for node in model.graph.node:
        if node.name not in wanted:
            continue
        for k, name in enumerate(node.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            qn = producer.get(dq.input[0])
            if qn is not None and qn.op_type == "QuantizeLinear":
                node.input[k] = qn.input[0]
                rewired += 1
    if rewired:
        outputs = {o.name for o in model.graph.output}
        while True:
            used = {i for n in model.graph.node for i in n.input} | outputs
            dead = [
                n
                for n in model.graph.node
                if n.op_type in ("QuantizeLinear", "DequantizeLinear") and not any(o in used for o in n.output)
            ]
            if not dead:
                break
            for n in dead:
                model.graph.node.remove(n)
    return rewired


def _onnxruntime_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def _quantize_onnxruntime(
    src: onnx.ModelProto, calib: CalibrationSet, method: str, keep_float: list[str], percentile: float, batch: int
) -> onnx.ModelProto:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    calibrate = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[method]
    reader = _Reader(calib, batch)
    CalibrationDataReader.register(_Reader)
    # QuantizeBias=False: TensorRT dequantises int8 (and fp8/int4) only, not the int32 biases ORT writes by default
    extra: dict[str, Any] = {
        "ActivationSymmetric": True,
        "WeightSymmetric": True,
        "CalibPercentile": percentile,
        "QuantizeBias": False,
    }
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
            nodes_to_exclude=keep_float,
            op_types_to_quantize=list(ORT_OPS_TO_QUANTIZE),
            extra_options=extra,
        )
        return onnx.load(out_path)
