"""A frameset made ready for the model: aligned depth and preprocessed tensors, with their timings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Prepared"]


@dataclass(frozen=True)
class Prepared:
    """A frameset aligned and preprocessed in the capture thread, with its stage timings."""

    rgb: np.ndarray
    depth: np.ndarray
    aligned_depth: np.ndarray
    align_ms: float
    preprocess_ms: float
    finished: float  # monotonic time preparation ended
