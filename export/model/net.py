"""MutualSenseNet: two ResNet streams fused by MutualFormer blocks, and a top-down decoder.

rgb [B,3,H,W], depth [B,1,H,W] → saliency logits [B,1,H,W] (design.md §8; the runtime applies the
sigmoid). At each fused stage the RGB and depth features are projected to C-wide tokens,
concatenated into x [B,N,2C], and fused tokens xrd (a learned mix of both) are refined by
MutualFormer blocks; shallow stages are merged by 1×1 convolutions. The decoder is an
F3Net-style top-down path with a one-channel head, upsampled to the input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mutualsense.export.model.block import MutualFormerBlock
from mutualsense.export.model.cda import CdaMode
from mutualsense.export.model.config import ModelConfig
from mutualsense.export.model.resnet import ResNet

__all__ = ["FusionStage", "MutualSenseNet"]


def _conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, 1, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class FusionStage(nn.Module):
    """Fuse one stage's RGB and depth feature maps with MutualFormer blocks → [B, C, h, w]."""

    def __init__(self, c_rgb: int, c_depth: int, cfg: ModelConfig, mode: CdaMode = "fast") -> None:
        super().__init__()
        c = cfg.dim
        self.embed_r = nn.Conv2d(c_rgb, c, 1)
        self.embed_d = nn.Conv2d(c_depth, c, 1)
        self.embed_rd = nn.Linear(2 * c, c)
        self.blocks = nn.ModuleList(
            MutualFormerBlock(c, cfg.num_heads, cfg.mlp_ratio, alpha=cfg.alpha, mode=mode)
            for _ in range(cfg.blocks_per_level)
        )

    def forward(self, f_r: torch.Tensor, f_d: torch.Tensor) -> torch.Tensor:
        b, _, h, w = f_r.shape
        t_r = self.embed_r(f_r).flatten(2).transpose(1, 2)
        t_d = self.embed_d(f_d).flatten(2).transpose(1, 2)
        x = torch.cat((t_r, t_d), dim=2)
        xrd = self.embed_rd(x)
        for block in self.blocks:
            xrd = block(x, xrd)
        return xrd.transpose(1, 2).reshape(b, -1, h, w)


class MutualSenseNet(nn.Module):
    """The saliency network of a :class:`ModelConfig`."""

    def __init__(self, cfg: ModelConfig, mode: CdaMode = "fast") -> None:
        super().__init__()
        self.config = cfg

        def stream(in_channels: int) -> ResNet:
            return ResNet(in_channels, cfg.widths, cfg.blocks, cfg.bottleneck, cfg.stem, cfg.stem_channels)

        self.rgb_backbone = stream(3)
        self.depth_backbone = stream(1)
        chans = self.rgb_backbone.out_channels
        k = cfg.decoder_channels
        self.fusions = nn.ModuleDict({str(i): FusionStage(chans[i], chans[i], cfg, mode) for i in cfg.fusion_levels})
        self.laterals = nn.ModuleList(
            nn.Conv2d(cfg.dim if i in cfg.fusion_levels else 2 * chans[i], k, 1) for i in range(4)
        )
        self.smooth = nn.ModuleList(_conv_bn_relu(k, k, 3) for _ in range(3))
        self.head = nn.Sequential(_conv_bn_relu(k, k, 3), nn.Conv2d(k, 1, 1))

    def set_cda_mode(self, mode: CdaMode) -> None:
        """Switch every MutualFormer block between the fast and literal cross-diffusion forms."""
        for m in self.modules():
            if isinstance(m, MutualFormerBlock):
                m.mode = mode

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        size = rgb.shape[-2:]
        feats_r = self.rgb_backbone(rgb)
        feats_d = self.depth_backbone(depth)
        merged = []
        for i, (f_r, f_d) in enumerate(zip(feats_r, feats_d, strict=True)):
            key = str(i)
            merged.append(self.fusions[key](f_r, f_d) if key in self.fusions else torch.cat((f_r, f_d), 1))
        p = self.laterals[3](merged[3])
        for i in (2, 1, 0):
            lateral = self.laterals[i](merged[i])
            p = F.interpolate(p, size=lateral.shape[-2:], mode="bilinear", align_corners=False)
            p = self.smooth[i](p + lateral)
        return F.interpolate(self.head(p), size=size, mode="bilinear", align_corners=False)
