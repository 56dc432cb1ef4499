"""Export a :class:`MutualSenseNet` to ONNX with each block's CDA as one custom node (needs torch).

Model I/O (docs/design.md §8): ``rgb`` [B,3,H,W], ``depth`` [B,1,H,W] float32 → ``saliency`` [B,1,H,W]
logits, fixed shapes. Each MutualFormer block's cross-diffusion attention becomes one
``mutualsense::CrossDiffusionAttention`` node (see :mod:`mutualsense.export.cda_onnx`), emitted by
the TorchScript exporter from an ``autograd.Function.symbolic``; its model-local function body is
appended afterwards, the graph is simplified with onnxsim, checked, and written as IR 9.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from mutualsense.export.model.block import MutualAttention, MutualFormerBlock
from mutualsense.export.model.cda import cross_diffusion_attention
from mutualsense.export.model.net import MutualSenseNet
from mutualsense.export.onnx_graph import (
    CDA_DOMAIN,
    CDA_OP,
    CDA_VERSION,
    add_cda_function,
    cda_nodes,
    finalize,
    run_onnx,
    strip_functions,
    to_fp16,
)

__all__ = [
    "CDA_DOMAIN",
    "CDA_OP",
    "CdaOnnxFunction",
    "OnnxExport",
    "cda_as_onnx_node",
    "export_onnx",
    "run_onnx",
    "strip_functions",
    "to_fp16",
]

log = logging.getLogger(__name__)

MIN_OPSET = 19


class CdaOnnxFunction(torch.autograd.Function):
    """The CDA math in eager mode; a single ``mutualsense::CrossDiffusionAttention`` node when exported."""

    @staticmethod
    def forward(ctx, q_r, k_r, v_r, q_d, k_d, v_d, alpha: float, scale: float):  # type: ignore[override]
        return cross_diffusion_attention(q_r, k_r, v_r, q_d, k_d, v_d, alpha, scale, "fast")

    @staticmethod
    def symbolic(g, q_r, k_r, v_r, q_d, k_d, v_d, alpha: float, scale: float):  # type: ignore[no-untyped-def]
        outs = g.op(
            f"{CDA_DOMAIN}::{CDA_OP}",
            q_r,
            k_r,
            v_r,
            q_d,
            k_d,
            v_d,
            alpha_f=float(alpha),
            scale_f=float(scale),
            plugin_version_s="1",
            plugin_namespace_s="",
            outputs=4,
        )
        for out, like in zip(outs, (q_r, q_d, q_r, q_d), strict=True):
            out.setType(like.type())
        return outs


def _cda_node(self: MutualAttention, q_r, k_r, v_r, q_d, k_d, v_d, mode):  # type: ignore[no-untyped-def]
    return CdaOnnxFunction.apply(q_r, k_r, v_r, q_d, k_d, v_d, float(self.alpha), float(self.scale))


@contextlib.contextmanager
def cda_as_onnx_node(model: torch.nn.Module) -> Iterator[int]:
    """Inside the ``with``, every ``MutualAttention.cda`` of ``model`` emits the custom node; yields their count.

    The patch is an instance attribute on each attention module (block.py is left alone) and is
    removed on exit. The node always carries the fast form, whatever the block's ``mode``.
    """
    patched = [m for m in model.modules() if isinstance(m, MutualAttention)]
    for m in patched:
        m.cda = types.MethodType(_cda_node, m)  # type: ignore[method-assign]
    try:
        yield len(patched)
    finally:
        for m in patched:
            del m.cda


@dataclass(frozen=True)
class OnnxExport:
    """An exported model.

    Attributes:
        model: the simplified, checked ONNX model (custom node + function body), IR 9.
        trt_model: the same graph without function bodies, for TensorRT parsers < 10.7.
        opset: default-domain opset.
        cda_nodes: number of CrossDiffusionAttention nodes (one per MutualFormer block).
        max_abs_error: max |ONNX Runtime − PyTorch| on the logits for a random input.
        max_abs_logit: max |PyTorch logit| on that input (to judge the error relative to it).
        seconds: wall time of the export, verification included.
    """

    model: onnx.ModelProto
    trt_model: onnx.ModelProto
    opset: int
    cda_nodes: int
    max_abs_error: float
    max_abs_logit: float
    seconds: float

    def to_fp16(self) -> onnx.ModelProto:
        """The FP16 copy of :attr:`model` (float32 I/O), see :func:`~mutualsense.export.onnx_graph.to_fp16`."""
        return to_fp16(self.model)


def _torch_export(model: MutualSenseNet, rgb: torch.Tensor, depth: torch.Tensor, opset: int) -> onnx.ModelProto:
    with tempfile.TemporaryDirectory(prefix="mutualsense-onnx-") as tmp, warnings.catch_warnings():
        path = Path(tmp) / "model.onnx"
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            (rgb, depth),
            path,
            input_names=["rgb", "depth"],
            output_names=["saliency"],
            opset_version=opset,
            custom_opsets={CDA_DOMAIN: CDA_VERSION},
            do_constant_folding=True,
            dynamo=False,
        )
        return onnx.load(path)


def _simplify(model: onnx.ModelProto) -> onnx.ModelProto:
    import onnxsim

    simplified, ok = onnxsim.simplify(model)
    if not ok:
        raise RuntimeError("onnxsim could not validate the simplified model against the original")
    return simplified


def export_onnx(
    model: MutualSenseNet,
    batch: int = 1,
    input_size: tuple[int, int] | None = None,
    opset: int = MIN_OPSET,
    simplify: bool = True,
    seed: int = 0,
) -> OnnxExport:
    """Export ``model`` (put in eval mode) to ONNX and verify it on ONNX Runtime CPU.

    Args:
        model: the network; its config gives the input size unless ``input_size`` (height, width) is set.
        batch: fixed batch size B.
        opset: default-domain opset (≥ 19: modelopt's quantiser needs it for the custom node).
        simplify: run onnxsim.
        seed: seed of the random input used to measure ``max_abs_error``.
    """
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET}, got {opset}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    t0 = time.perf_counter()
    h, w = input_size or (model.config.input.height, model.config.input.width)
    gen = torch.Generator().manual_seed(seed)
    rgb = torch.randn(batch, 3, h, w, generator=gen)
    depth = torch.randn(batch, 1, h, w, generator=gen)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            reference = model(rgb, depth).numpy()
        with torch.no_grad(), cda_as_onnx_node(model) as n_attn:
            onnx_model = _torch_export(model, rgb, depth, opset)
    finally:
        model.train(was_training)
    n_blocks = sum(isinstance(m, MutualFormerBlock) for m in model.modules())
    add_cda_function(onnx_model)
    if simplify:
        onnx_model = _simplify(onnx_model)
    finalize(onnx_model)
    n_cda = len(cda_nodes(onnx_model))
    if not (n_cda == n_blocks == n_attn) or not any(f.name == CDA_OP for f in onnx_model.functions):
        raise RuntimeError(f"expected {n_blocks} {CDA_OP} nodes with their function, found {n_cda}")
    onnx.checker.check_model(onnx_model, full_check=True)
    out = run_onnx(onnx_model, rgb.numpy(), depth.numpy())
    err = float(np.abs(out - reference).max())
    seconds = time.perf_counter() - t0
    log.info("exported %s: %d CDA nodes, max |ORT - torch| = %.3g, %.1f s", model.config.name, n_cda, err, seconds)
    return OnnxExport(
        model=onnx_model,
        trt_model=strip_functions(onnx_model),
        opset=opset,
        cda_nodes=n_cda,
        max_abs_error=err,
        max_abs_logit=float(np.abs(reference).max()),
        seconds=seconds,
    )
