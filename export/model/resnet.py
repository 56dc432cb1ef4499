"""ResNet backbones written in-repo (no torchvision: nothing can be downloaded on our machines).

``resnet50`` follows He et al. (bottleneck blocks 3-4-6-3, ImageNet stem); ``tiny`` is a light
basic-block network with a cheap stride-4 stem that trains on a laptop CPU. Both return four
feature maps at strides 4, 8, 16 and 32.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet"]


def _conv_bn_relu(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    """Identity, or a 1×1 strided projection where the shape changes."""
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with an identity (or 1×1 projection) shortcut."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class Bottleneck(nn.Module):
    """1×1 → 3×3 (strided) → 1×1 bottleneck, expansion 4 (ResNet-50 v1.5)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.downsample(x))


class ResNet(nn.Module):
    """A four-stage ResNet returning features at strides 4, 8, 16, 32.

    Args:
        in_channels: 3 for RGB, 1 for depth.
        widths: base width of each stage (output channels are width × expansion).
        blocks: number of residual blocks per stage.
        bottleneck: bottleneck blocks (ResNet-50) or basic blocks.
        stem: ``"imagenet"`` (7×7/2 conv + 3×3/2 max-pool) or ``"light"`` (two 3×3/2 convs).
        stem_channels: channels after the stem.
    """

    def __init__(
        self,
        in_channels: int,
        widths: Sequence[int],
        blocks: Sequence[int],
        bottleneck: bool,
        stem: str = "imagenet",
        stem_channels: int = 64,
    ) -> None:
        super().__init__()
        block: type[BasicBlock] | type[Bottleneck] = Bottleneck if bottleneck else BasicBlock
        if stem == "imagenet":
            self.stem = nn.Sequential(_conv_bn_relu(in_channels, stem_channels, 7, 2), nn.MaxPool2d(3, 2, 1))
        elif stem == "light":
            self.stem = nn.Sequential(
                _conv_bn_relu(in_channels, stem_channels, 3, 2), _conv_bn_relu(stem_channels, stem_channels, 3, 2)
            )
        else:
            raise ValueError(f"stem must be 'imagenet' or 'light', got {stem!r}")
        stages = []
        cin = stem_channels
        for i, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            layers = []
            for j in range(count):
                layers.append(block(cin, width, 2 if (j == 0 and i > 0) else 1))
                cin = width * block.expansion
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.out_channels = tuple(w * block.expansion for w in widths)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats
