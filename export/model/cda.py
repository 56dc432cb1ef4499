"""Cross-Diffusion Attention (CDA): the fusion core of MutualFormer, as one function.

Interface (design.md §8, the ``mutualsense::CrossDiffusionAttention`` node): six tensors
``q_r, k_r, v_r, q_d, k_d, v_d`` of shape [B, H, N, d] → ``o_r, o_d, o_rd, o_dr`` of the same shape.

With row-softmax attention maps A_r, A_d the authors' diffusion matrices are S = D^-½ Aᵀ D^-½ with
D = diag(row sums of A) = I, so S = Aᵀ, and one diffusion step gives

    A_rd = α·A_rᵀ A_d + (1−α)(A_r + A_d),     A_dr = α·A_dᵀ A_r + (1−α)(A_r + A_d).

``mode="fast"`` never forms those N×N products; by associativity it computes, in O(N²d),

    O_rd = α·A_rᵀ O_d + (1−α)(A_r V_d + O_d),  O_dr = α·A_dᵀ O_r + (1−α)(O_r + A_d V_r).

``mode="literal"`` forms A_rd and A_dr (O(N³)) and is kept as the reference.

:func:`cross_diffusion_attention_merged` is the same fast form for inference on the CPU (no
autograd): one head at a time, so each N×N map (4 MiB at N=1024) is reused from the allocator's
heap instead of being mapped afresh at every call (a fresh 32 MiB batch of maps costs more in page
faults than its matrix products), the softmax in place, both value products of a map in one
matrix product (A_r [V_r | V_d]), the scale applied to Q (N·d products, not N·N), and the outputs
written straight into the merged [B, N, 2C] layout the block's projections read.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["CdaMode", "attention_map", "cross_diffusion_attention", "cross_diffusion_attention_merged"]

CdaMode = Literal["fast", "literal"]


def attention_map(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """Row-softmax attention softmax(q kᵀ · scale), statistics in float32 for half inputs."""
    logits = (q @ k.transpose(-2, -1)) * scale
    return logits.float().softmax(dim=-1).to(q.dtype)


def cross_diffusion_attention(
    q_r: torch.Tensor,
    k_r: torch.Tensor,
    v_r: torch.Tensor,
    q_d: torch.Tensor,
    k_d: torch.Tensor,
    v_d: torch.Tensor,
    alpha: float = 0.6,
    scale: float | None = None,
    mode: CdaMode = "fast",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Compute (o_r, o_d, o_rd, o_dr) of the CDA node; every tensor is [B, H, N, d]."""
    if scale is None:
        scale = q_r.shape[-1] ** -0.5
    a_r = attention_map(q_r, k_r, scale)
    a_d = attention_map(q_d, k_d, scale)
    o_r = a_r @ v_r
    o_d = a_d @ v_d
    if mode == "fast":
        o_rd = alpha * (a_r.transpose(-2, -1) @ o_d) + (1 - alpha) * (a_r @ v_d + o_d)
        o_dr = alpha * (a_d.transpose(-2, -1) @ o_r) + (1 - alpha) * (o_r + a_d @ v_r)
    elif mode == "literal":
        y = a_r + a_d
        a_rd = alpha * (a_r.transpose(-2, -1) @ a_d) + (1 - alpha) * y
        a_dr = alpha * (a_d.transpose(-2, -1) @ a_r) + (1 - alpha) * y
        o_rd = a_rd @ v_d
        o_dr = a_dr @ v_r
    else:
        raise ValueError(f"mode must be 'fast' or 'literal', got {mode!r}")
    return o_r, o_d, o_rd, o_dr


def cross_diffusion_attention_merged(
    q_r: torch.Tensor,
    k_r: torch.Tensor,
    v_r: torch.Tensor,
    q_d: torch.Tensor,
    k_d: torch.Tensor,
    v_d: torch.Tensor,
    alpha: float = 0.6,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fast form for inference: ([o_r | o_rd], [o_d | o_dr]) with heads merged, each [B, N, 2C].

    Inputs are [B, H, N, d] (any strides with a unit last stride); C = H·d. Equal to merging the
    outputs of ``cross_diffusion_attention(..., mode="fast")`` head by head and concatenating them;
    no autograd (call it under ``torch.no_grad()`` or ``torch.inference_mode()``).
    """
    b, h, n, d = q_r.shape
    c = h * d
    if scale is None:
        scale = d**-0.5
    out_r = q_r.new_empty(b, n, 2, h, d)  # [o_r | o_rd] merged: column (j·C + head·d + i)
    out_d = q_r.new_empty(b, n, 2, h, d)
    q_r, q_d = q_r * scale, q_d * scale  # N·d multiplications instead of N·N
    k_r, k_d = k_r.contiguous(), k_d.contiguous()
    for i in range(b):
        for j in range(h):
            a_r = _softmax_rows(q_r[i, j] @ k_r[i, j].t())
            a_d = _softmax_rows(q_d[i, j] @ k_d[i, j].t())
            rv = a_r @ torch.cat((v_r[i, j], v_d[i, j]), dim=1)  # [A_r V_r | A_r V_d]
            dv = a_d @ torch.cat((v_d[i, j], v_r[i, j]), dim=1)  # [A_d V_d | A_d V_r]
            o_r, o_d = rv[:, :d], dv[:, :d]
            out_r[i, :, 0, j] = o_r
            out_d[i, :, 0, j] = o_d
            out_r[i, :, 1, j] = torch.addmm(rv[:, d:] + o_d, a_r.t(), o_d, beta=1 - alpha, alpha=alpha)
            out_d[i, :, 1, j] = torch.addmm(o_r + dv[:, d:], a_d.t(), o_r, beta=1 - alpha, alpha=alpha)
    return out_r.view(b, n, 2 * c), out_d.view(b, n, 2 * c)


def _softmax_rows(logits: torch.Tensor) -> torch.Tensor:
    """Row softmax of a float32 matrix, in place (the map is written once and read three times)."""
    return torch.ops.aten._softmax.out(logits, -1, False, out=logits)
