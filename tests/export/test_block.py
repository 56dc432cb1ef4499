"""The MutualFormer block against an independent implementation of the paper's equations.

The reference below is written from the paper (arXiv 2112.01177) and the authors' released
``MutualFormer.py`` (S = D^-½ Aᵀ D^-½, A_rd = α·S_r·I·S_dᵀ + (1−α)(A_r + A_d)), literally, with
the authors' parameter names; it imports nothing from mutualsense.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the model tests need torch (pip install mutualsense[export])")
from torch import nn  # noqa: E402

from mutualsense.export.model import MutualFormerBlock, cross_diffusion_attention  # noqa: E402
from mutualsense.export.model.cda import cross_diffusion_attention_merged  # noqa: E402


def diffusion_matrix(a: torch.Tensor) -> torch.Tensor:
    d = torch.diag_embed(a.sum(-1).pow(-0.5))
    return (a @ d).transpose(-1, -2) @ d


class RefAttention(nn.Module):
    def __init__(self, dim: int, heads: int, alpha: float = 0.6) -> None:
        super().__init__()
        self.h, self.alpha, self.scale = heads, alpha, (dim // heads) ** -0.5
        self.qkv_r = nn.Linear(dim, 3 * dim, bias=False)
        self.qkv_d = nn.Linear(dim, 3 * dim, bias=False)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj_rd = nn.Linear(2 * dim, dim)
        self.proj_r = nn.Linear(2 * dim, dim)
        self.proj_d = nn.Linear(2 * dim, dim)
        self.proj = nn.Linear(dim, dim)

    def split(self, lin: nn.Linear, x: torch.Tensor):
        b, n, c = x.shape
        t = lin(x).reshape(b, n, 3, self.h, c // self.h).permute(2, 0, 3, 1, 4)
        return t[0], t[1], t[2]

    def forward(self, x: torch.Tensor, xrd: torch.Tensor) -> torch.Tensor:
        b, n, c2 = x.shape
        c = c2 // 2
        merge = lambda t: t.transpose(1, 2).reshape(b, n, c)  # noqa: E731
        qr, kr, vr = self.split(self.qkv_r, x[..., :c])
        qd, kd, vd = self.split(self.qkv_d, x[..., c:])
        ar = ((qr @ kr.transpose(-2, -1)) * self.scale).softmax(-1)
        ad = ((qd @ kd.transpose(-2, -1)) * self.scale).softmax(-1)
        sr, sd = diffusion_matrix(ar), diffusion_matrix(ad)
        eye = torch.eye(n).expand(b, self.h, n, n)
        y = ar + ad
        ard = self.alpha * (sr @ eye @ sd.transpose(-1, -2)) + (1 - self.alpha) * y
        adr = self.alpha * (sd @ eye @ sr.transpose(-1, -2)) + (1 - self.alpha) * y
        zr = self.proj_r(torch.cat((merge(ar @ vr), merge(ard @ vd)), 2))
        zd = self.proj_d(torch.cat((merge(ad @ vd), merge(adr @ vr)), 2))
        q, k, v = self.split(self.qkv, xrd)
        o = merge(((q @ k.transpose(-2, -1)) * self.scale).softmax(-1) @ v)
        return self.proj(o) + self.proj_rd(torch.cat((zr, zd), 2))


class RefMlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(x)))


class RefBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.norm1_rd, self.norm2 = nn.LayerNorm(2 * dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = RefAttention(dim, heads)
        self.mlp = RefMlp(dim, 4 * dim)

    def forward(self, x: torch.Tensor, xrd: torch.Tensor) -> torch.Tensor:
        x = xrd + self.attn(self.norm1(x), self.norm1_rd(xrd))
        return x + self.mlp(self.norm2(x))


def _randomise(module: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 if p.dim() == 1 else p.shape[-1] ** -0.5))


CASES = [(n, c, h) for n in (16, 100, 484) for c in (64, 256) for h in (4, 8)]


@pytest.mark.parametrize(("n", "c", "h"), CASES)
def test_block_matches_reference(n: int, c: int, h: int) -> None:
    torch.manual_seed(n + c + h)
    ref = RefBlock(c, h)
    _randomise(ref, n * c + h)
    x, xrd = torch.randn(2, n, 2 * c), torch.randn(2, n, c)
    with torch.no_grad():
        expected = ref(x, xrd)
        for mode in ("fast", "literal"):
            block = MutualFormerBlock(c, h, mode=mode)
            block.load_state_dict(ref.state_dict(), strict=True)
            err = (block(x, xrd) - expected).abs().max().item()
            assert err <= 1e-5, f"{mode} N={n} C={c} H={h}: max abs error {err:.2e}"


@pytest.mark.parametrize("mode", ["fast", "literal"])
def test_gradients_match_reference(mode: str) -> None:
    n, c, h = 100, 64, 4
    ref = RefBlock(c, h)
    _randomise(ref, 7)
    block = MutualFormerBlock(c, h, mode=mode)
    block.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, n, 2 * c, requires_grad=True)
    xrd = torch.randn(2, n, c, requires_grad=True)
    w = torch.randn(2, n, c)
    (ref(x, xrd) * w).sum().backward()
    ref_grads = {"x": x.grad.clone(), "xrd": xrd.grad.clone()}
    ref_grads |= {name: p.grad.clone() for name, p in ref.named_parameters()}
    x.grad = xrd.grad = None
    (block(x, xrd) * w).sum().backward()
    grads = {"x": x.grad, "xrd": xrd.grad} | {name: p.grad for name, p in block.named_parameters()}
    assert set(grads) == set(ref_grads)
    for name, g in grads.items():
        err = (g - ref_grads[name]).abs().max().item()
        assert err <= 1e-4, f"gradient of {name}: max abs error {err:.2e}"


@pytest.mark.parametrize("c", [64, 256])
def test_parameter_count_and_names(c: int) -> None:
    block = MutualFormerBlock(c, 8)
    assert sum(p.numel() for p in block.parameters()) == 24 * c * c + 17 * c
    assert set(block.state_dict()) == set(RefBlock(c, 8).state_dict())


def test_fast_cda_never_needs_n_cubed_but_matches_literal_outputs() -> None:
    g = torch.Generator().manual_seed(3)
    qkv = [torch.randn(1, 2, 64, 16, generator=g) for _ in range(6)]
    fast = cross_diffusion_attention(*qkv, alpha=0.6, mode="fast")
    literal = cross_diffusion_attention(*qkv, alpha=0.6, mode="literal")
    for a, b in zip(fast, literal, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    # o_r and o_d are the plain attention outputs
    a_r = ((qkv[0] @ qkv[1].transpose(-2, -1)) * 16**-0.5).softmax(-1)
    assert torch.allclose(fast[0], a_r @ qkv[2], atol=1e-6)


def test_bad_shapes_and_mode_are_rejected() -> None:
    block = MutualFormerBlock(64, 4)
    with pytest.raises(ValueError, match=r"\[B,N,2C\]"):
        block(torch.randn(1, 10, 64), torch.randn(1, 10, 64))
    with pytest.raises(ValueError, match="mode"):
        MutualFormerBlock(64, 4, mode="slow")  # type: ignore[arg-type]


def test_inference_path_matches_the_literal_form_at_the_benchmark_size() -> None:
    """No autograd: one head at a time, merged outputs, fused self-attention kernel; ≤ 1e-5 from literal."""
    torch.manual_seed(0)
    fast, literal = MutualFormerBlock(256, 8, mode="fast").eval(), MutualFormerBlock(256, 8, mode="literal").eval()
    _randomise(fast, 11)
    literal.load_state_dict(fast.state_dict())
    x, xrd = torch.randn(1, 1024, 512), torch.randn(1, 1024, 256)
    calls = []
    original = fast.attn._forward_inference
    fast.attn._forward_inference = lambda *a: calls.append(1) or original(*a)  # type: ignore[method-assign]
    with torch.inference_mode():
        got = fast(x, xrd)
        expected = literal(x, xrd)
    assert calls, "the inference path was not taken"
    assert (got - expected).abs().max().item() <= 1e-5
    with torch.no_grad():
        assert (fast(x[:, :100], xrd[:, :100]) - literal(x[:, :100], xrd[:, :100])).abs().max().item() <= 1e-5
    # with autograd on, the batched form (the one training differentiates and export traces) runs
    fast.requires_grad_(False)
    n_calls = len(calls)
    assert (fast(x[:, :100], xrd[:, :100]) - literal(x[:, :100], xrd[:, :100])).abs().max().item() <= 1e-5
    assert len(calls) == n_calls


def test_merged_cda_equals_the_fast_form_merged_head_by_head() -> None:
    g = torch.Generator().manual_seed(5)
    b, h, n, d = 2, 4, 70, 16
    qkv = [torch.randn(b, h, n, d, generator=g) for _ in range(6)]
    with torch.no_grad():
        o_r, o_d, o_rd, o_dr = cross_diffusion_attention(*qkv, alpha=0.6, mode="fast")
        cat_r, cat_d = cross_diffusion_attention_merged(*qkv, alpha=0.6)

    def merge(t: torch.Tensor) -> torch.Tensor:
        return t.transpose(1, 2).reshape(b, n, h * d)

    assert torch.allclose(cat_r, torch.cat((merge(o_r), merge(o_rd)), 2), atol=1e-6)
    assert torch.allclose(cat_d, torch.cat((merge(o_d), merge(o_dr)), 2), atol=1e-6)
