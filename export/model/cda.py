"""Cross-Diffusion Attention (CDA): the fusion core of MutualFormer, as one function.

Interface (design.md §8, the ``mutualsense::CrossDiffusionAttention`` node): six tensors
``q_r, k_r, v_r, q_d, k_d, v_d`` of shape [B, H, N, d] → ``o_r, o_d, o_rd, o_dr`` of the same shape.

With row-softmax attention maps A_r, A_d the authors' diffusion matrices are S = D^-½ Aᵀ D^-½ with
D = diag(row sums of A) = I, so S = Aᵀ, and one diffusion step gives

    A_rd = α·A_rᵀ A_d + (1−α)(A_r + A_d),     A_dr = α·A_dᵀ A_r + (1−α)(A_r + A_d).

``mode="fast"`` never forms those N×N products; by associativity it computes, in O(N²d),

    O_rd = α·A_rᵀ O_d + (1−α)(A_r V_d + O_d),  O_dr = α·A_dᵀ O_r + (1−α)(O_r + A_d V_r).

``mode="literal"`` forms A_rd and A_dr (O(N³)) and is kept as the reference.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["CdaMode", "attention_map", "cross_diffusion_attention"]

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
