"""The MutualFormer block, parameter-for-parameter compatible with the authors' release.

Parameter names follow the authors' ``MutualFormer.py`` so their state dict loads with
``strict=True``: ``norm1`` (2C), ``norm1_rd``, ``attn.{qkv_r,qkv_d,qkv,proj_r,proj_d,proj_rd,proj}``,
``norm2``, ``mlp.{fc1,fc2}`` — 24C²+17C parameters.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from mutualsense.export.model.cda import CdaMode, cross_diffusion_attention, cross_diffusion_attention_merged

__all__ = ["Mlp", "MutualAttention", "MutualFormerBlock"]


class Mlp(nn.Module):
    """Two-layer GELU MLP (``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class MutualAttention(nn.Module):
    """Cross-diffusion attention between RGB and depth tokens plus self-attention on fused tokens."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = False, alpha: float = 0.6) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.alpha = alpha
        self.qkv_r = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.qkv_d = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj_rd = nn.Linear(dim * 2, dim)
        self.proj_r = nn.Linear(dim * 2, dim)
        self.proj_d = nn.Linear(dim * 2, dim)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, linear: nn.Linear, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, c = x.shape
        qkv = linear(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]

    @staticmethod
    def _merge(x: torch.Tensor) -> torch.Tensor:
        b, h, n, d = x.shape
        return x.transpose(1, 2).reshape(b, n, h * d)

    def cda(
        self,
        q_r: torch.Tensor,
        k_r: torch.Tensor,
        v_r: torch.Tensor,
        q_d: torch.Tensor,
        k_d: torch.Tensor,
        v_d: torch.Tensor,
        mode: CdaMode,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The CDA node; the ONNX exporter swaps this method for one that emits the custom op."""
        return cross_diffusion_attention(q_r, k_r, v_r, q_d, k_d, v_d, self.alpha, self.scale, mode)

    def forward(self, x: torch.Tensor, xrd: torch.Tensor, mode: CdaMode = "fast") -> torch.Tensor:
        if mode == "fast" and self._eager_inference():
            return self._forward_inference(x, xrd)
        c = xrd.shape[-1]
        xr, xd = torch.split(x, c, dim=2)
        o_r, o_d, o_rd, o_dr = self.cda(*self._heads(self.qkv_r, xr), *self._heads(self.qkv_d, xd), mode)
        z_r = self.proj_r(torch.cat((self._merge(o_r), self._merge(o_rd)), dim=2))
        z_d = self.proj_d(torch.cat((self._merge(o_d), self._merge(o_dr)), dim=2))
        q, k, v = self._heads(self.qkv, xrd)
        fused = self._merge(torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1) @ v)
        return self.proj(fused) + self.proj_rd(torch.cat((z_r, z_d), dim=2))

    def _eager_inference(self) -> bool:
        """Plain inference: no autograd, not traced for export, ``cda`` not swapped for the custom node."""
        return not (
            torch.is_grad_enabled()
            or torch.jit.is_tracing()
            or torch.jit.is_scripting()
            or torch.onnx.is_in_onnx_export()
            or "cda" in vars(self)
        )

    def _forward_inference(self, x: torch.Tensor, xrd: torch.Tensor) -> torch.Tensor:
        """``forward`` in the fast mode for inference: the same math, fewer passes over memory.

        The CDA outputs arrive merged and concatenated for ``proj_r``/``proj_d``
        (:func:`cross_diffusion_attention_merged`), and the fused tokens' self-attention runs as
        ``scaled_dot_product_attention`` (a blocked kernel that never stores the N×N map).
        """
        c = xrd.shape[-1]
        xr, xd = torch.split(x, c, dim=2)
        cat_r, cat_d = cross_diffusion_attention_merged(
            *self._heads(self.qkv_r, xr), *self._heads(self.qkv_d, xd), self.alpha, self.scale
        )
        q, k, v = self._heads(self.qkv, xrd)
        fused = self._merge(F.scaled_dot_product_attention(q, k, v, scale=self.scale))
        return self.proj(fused) + self.proj_rd(torch.cat((self.proj_r(cat_r), self.proj_d(cat_d)), dim=2))


class MutualFormerBlock(nn.Module):
    """One MutualFormer block: ``forward(x [B,N,2C] = RGB|depth tokens, xrd [B,N,C]) -> [B,N,C]``.

    Args:
        dim: token width C of each modality.
        num_heads: attention heads H (C must be divisible by H).
        mlp_ratio: hidden width of the MLP relative to C.
        qkv_bias: bias on the q/k/v projections (the authors use none).
        alpha: cross-diffusion weight α (the authors' 0.6).
        mode: ``"fast"`` (O(N²d) reassociation, default) or ``"literal"`` (forms N×N products).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        alpha: float = 0.6,
        mode: CdaMode = "fast",
    ) -> None:
        super().__init__()
        if mode not in ("fast", "literal"):
            raise ValueError(f"mode must be 'fast' or 'literal', got {mode!r}")
        self.mode: CdaMode = mode
        self.norm1 = nn.LayerNorm(dim * 2)
        self.norm1_rd = nn.LayerNorm(dim)
        self.attn = MutualAttention(dim, num_heads, qkv_bias, alpha)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, xrd: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or xrd.dim() != 3 or x.shape[-1] != 2 * xrd.shape[-1] or x.shape[:2] != xrd.shape[:2]:
            raise ValueError(f"expected x [B,N,2C] and xrd [B,N,C], got {tuple(x.shape)} and {tuple(xrd.shape)}")
        out = xrd + self.attn(self.norm1(x), self.norm1_rd(xrd), self.mode)
        return out + self.mlp(self.norm2(out))
