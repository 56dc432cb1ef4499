"""Model configurations: small frozen dataclasses that round-trip through plain dicts."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from mutualsense.errors import CheckpointError
from mutualsense.preprocess import InputSpec

__all__ = ["CONFIGS", "ModelConfig", "get_config"]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a :class:`~mutualsense.export.model.net.MutualSenseNet`.

    Attributes:
        name: config name (``paper`` or ``tiny``).
        widths / blocks / bottleneck / stem / stem_channels: the two ResNet streams.
        dim: token width C of the MutualFormer blocks; num_heads: H.
        fusion_levels: backbone stages (0..3 = stride 4..32) fused by MutualFormer blocks.
        blocks_per_level: MutualFormer blocks at each fused level.
        decoder_channels: width of the top-down decoder.
        input: preprocessing and input size (height × width).
    """

    name: str
    widths: tuple[int, int, int, int]
    blocks: tuple[int, int, int, int]
    bottleneck: bool
    stem: str
    stem_channels: int
    dim: int
    num_heads: int
    fusion_levels: tuple[int, ...]
    blocks_per_level: int
    decoder_channels: int
    mlp_ratio: float = 4.0
    alpha: float = 0.6
    input: InputSpec = field(default_factory=InputSpec)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so checkpoints load with ``torch.load(weights_only=True)``."""
        d: dict[str, Any] = {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in fields(self)
            if f.name != "input"
        }
        d["input"] = self.input.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`, with a clear error for unknown or missing fields."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CheckpointError(
                f"model config has unknown fields {unknown}.",
                "the checkpoint was written by a newer mutualsense; upgrade with `pip install -U mutualsense`.",
            )
        try:
            kw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k != "input"}
            return cls(**kw, input=InputSpec.from_dict(d.get("input", {})))
        except TypeError as exc:
            raise CheckpointError(f"model config is incomplete: {exc}.", "re-export the checkpoint.") from exc


CONFIGS: dict[str, ModelConfig] = {
    # The paper's setting: two ResNet-50 streams, C=256, 352×352 input (N=484 tokens at stride 16).
    "paper": ModelConfig(
        name="paper",
        widths=(64, 128, 256, 512),
        blocks=(3, 4, 6, 3),
        bottleneck=True,
        stem="imagenet",
        stem_channels=64,
        dim=256,
        num_heads=8,
        fusion_levels=(2, 3),
        blocks_per_level=1,
        decoder_channels=64,
        input=InputSpec(height=352, width=352),
    ),
    # CPU-trainable demo model (~1.3 M parameters). 192×192 keeps a training step cheap on two
    # cores while leaving 144 tokens at stride 16 for the cross-diffusion fusion.
    "tiny": ModelConfig(
        name="tiny",
        widths=(24, 48, 96, 128),
        blocks=(1, 1, 1, 1),
        bottleneck=False,
        stem="light",
        stem_channels=16,
        dim=64,
        num_heads=4,
        fusion_levels=(2, 3),
        blocks_per_level=1,
        decoder_channels=48,
        input=InputSpec(height=192, width=192),
    ),
}


def get_config(name: str) -> ModelConfig:
    """Look up a named config, with the valid names in the error."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise CheckpointError(f"unknown model config {name!r}.", f"use one of {sorted(CONFIGS)}.") from None
