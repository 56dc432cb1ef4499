"""The export toolchain: the MutualFormer model, training and ONNX export (needs the export extra).

This package itself imports without torch (the engine builder runs on Jetsons without it);
its ``model``, ``train`` and ``onnx_export`` modules need torch.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_WEIGHTS", "demo_weights"]

DEMO_WEIGHTS = Path(__file__).parent / "weights" / "tiny.pt"


def demo_weights() -> Path:
    """Path of the shipped demo checkpoint (the ``tiny`` config trained on generated scenes)."""
    return DEMO_WEIGHTS
