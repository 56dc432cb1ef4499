"""Feeding a fixed-batch model: a bundle's batch size is fixed at export, so shorter batches are padded."""

from __future__ import annotations

import numpy as np

__all__ = ["pad_batch"]


def pad_batch(x: np.ndarray, batch: int) -> np.ndarray:
    """``x`` ([n, ...], 1 ≤ n ≤ batch) padded to ``batch`` items with copies of its last item.

    The padding's outputs are discarded by the caller; copies (rather than zeros) keep every input in
    the range the model was calibrated on.
    """
    n = len(x)
    if n < 1 or n > batch:
        raise ValueError(f"a batch of {n} items does not fit a model of batch {batch}")
    if n == batch:
        return x
    return np.concatenate([x, np.repeat(x[-1:], batch - n, axis=0)])
