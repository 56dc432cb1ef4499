"""Optional temporal smoothing of the saliency map (steadier masks, objects and tracks on a flickering model).

An exponential moving average with a time constant rather than a per-frame weight, so the smoothing
means the same at 15 and 60 fps: ``s_t = s_{t-1} + a (p_t - s_{t-1})`` with ``a = 1 - exp(-dt / tau)``.
``tau = 0`` turns it off; a new shape, time going backwards or a gap longer than ``max_gap_s`` starts
afresh (the map passes through unchanged). The cost is one fused multiply-add on the model grid.
"""

from __future__ import annotations

import math

import numpy as np

from mutualsense.errors import MutualSenseError

__all__ = ["SaliencySmoother"]


class SaliencySmoother:
    """Callable: (saliency map on the model grid, colour timestamp in ms) → the smoothed map.

    Args:
        time_constant_s: the average's time constant tau (0: no smoothing).
        max_gap_s: a longer pause between maps restarts the average.
    """

    def __init__(self, time_constant_s: float = 0.1, max_gap_s: float = 1.0) -> None:
        if not (math.isfinite(time_constant_s) and time_constant_s >= 0):
            raise MutualSenseError(
                f"the saliency smoothing time constant must be >= 0 s, got {time_constant_s!r}.",
                "pass 0 (off) or e.g. 0.1 (100 ms).",
            )
        self.time_constant_s, self.max_gap_s = float(time_constant_s), float(max_gap_s)
        self._state: np.ndarray | None = None
        self._last_ms = 0.0

    def __call__(self, prob: np.ndarray, timestamp_ms: float) -> np.ndarray:
        dt = (timestamp_ms - self._last_ms) / 1000.0
        self._last_ms = timestamp_ms
        state = self._state
        if self.time_constant_s == 0 or state is None or state.shape != prob.shape or not 0 < dt <= self.max_gap_s:
            self._state = np.array(prob, dtype=np.float32, copy=True)
            return prob
        a = np.float32(1.0 - math.exp(-dt / self.time_constant_s))
        state += a * (prob - state)
        return state.copy()
