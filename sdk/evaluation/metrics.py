"""Salient-object-detection metrics: S-measure, F-measure, E-measure and MAE.

Pure numpy (no SciPy, OpenCV or torch), so it runs on the robot. The definitions and every
numerical convention follow the RGB-D SOD literature as implemented by ``pysodmetrics``
(``Smeasure``, ``Fmeasure``, ``Emeasure`` and ``MAE``, which port the original MATLAB code):

* ``gt`` is binarised: ``uint8`` masks at ``gt > 128``, float masks at ``gt > 128 / 255``,
  ``bool`` masks are used as they are.
* ``pred`` is converted to float64 in [0, 1] (``uint8`` divided by 255, float used as it is,
  ``bool`` as 0/1) and then min-max normalised to [0, 1] when it is not constant, as MATLAB's
  ``mapminmax(im2double(pred))`` does.
* The F- and E-measure sweeps binarise the normalised map at 256 thresholds: the map is
  quantised with ``floor(pred * 255)`` and the pixels at level ``>= t`` are foreground, for
  ``t = 0 .. 255``. Curves returned here are indexed by ``t`` (ascending threshold); note that
  pysodmetrics stores the same curve in the reverse order.
* ``eps`` is ``np.spacing(1)`` (MATLAB's ``eps``); F-measure uses ``beta^2 = 0.3``.

A ``uint8`` map and the float64 map ``pred_u8 / 255`` give bit-identical scores. Dataset scores
average the per-image S-measure and MAE, and take the maximum (and mean) of the *mean* per-image
F- and E-measure curves, as the benchmarks do.

One deliberate deviation: when the ground-truth centroid lies in the last row or column, one
quadrant of the S-measure region term is empty; pysodmetrics (and the MATLAB code) then return
NaN, whereas here the empty quadrant contributes nothing (its area weight is zero anyway).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from mutualsense.evaluation.measures import (
    LEVELS,
    FloatArray,
    pair_adaptive_e,
    pair_adaptive_f,
    pair_e_curve,
    pair_f_curve,
    pair_s_measure,
    prepare_pair,
)

__all__ = [
    "SaliencyEvaluator",
    "Scores",
    "e_measure_curve",
    "evaluate",
    "f_measure_curve",
    "mae",
    "s_measure",
]

# --------------------------------------------------------------------------- public API


def s_measure(pred: np.ndarray, gt: np.ndarray, alpha: float = 0.5) -> float:
    """Structure measure (Fan et al., ICCV 2017): ``alpha * object + (1 - alpha) * region``.

    Args:
        pred: prediction, ``uint8`` 0..255, float 0..1 or bool, shape (H, W).
        gt: mask, ``uint8`` 0/255, float 0/1 or bool, same shape.
        alpha: weight of the object-aware term.

    Returns:
        The S-measure in [0, 1]; higher is better.
    """
    return pair_s_measure(prepare_pair(pred, gt), alpha)


def mae(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute error between the normalised prediction and the binary mask (lower is better)."""
    pair = prepare_pair(pred, gt)
    return float(np.mean(np.abs(pair.pred - pair.gt)))


def f_measure_curve(pred: np.ndarray, gt: np.ndarray, beta2: float = 0.3) -> FloatArray:
    """F-measure at the 256 thresholds: ``out[t]`` binarises the map at ``floor(255 * pred) >= t``.

    ``F = (1 + beta2) * P * R / (beta2 * P + R)``, and 0 where ``P * R == 0``.
    Its maximum is the image's max F-measure, its mean the mean F-measure.
    """
    return pair_f_curve(prepare_pair(pred, gt), beta2)


def e_measure_curve(pred: np.ndarray, gt: np.ndarray) -> FloatArray:
    """Enhanced-alignment measure (Fan et al., IJCAI 2018) at the 256 thresholds, indexed like
    :func:`f_measure_curve`.

    As in the reference code the alignment sum is divided by ``H * W - 1``, so a perfect
    prediction scores ``H * W / (H * W - 1)``, a hair above 1.
    """
    return pair_e_curve(prepare_pair(pred, gt))


@dataclass(frozen=True)
class Scores:
    """Dataset-level scores.

    ``max_f``/``mean_f`` (``max_e``/``mean_e``) are the max/mean over thresholds of the mean
    per-image F (E) curve; ``adaptive_f``/``adaptive_e`` average per-image scores at the
    threshold ``min(2 * mean(pred), 1)``. ``count`` is the number of images.
    """

    s_measure: float
    max_f: float
    max_e: float
    mae: float
    count: int
    mean_f: float = float("nan")
    adaptive_f: float = float("nan")
    mean_e: float = float("nan")
    adaptive_e: float = float("nan")

    def as_dict(self) -> dict[str, float | int]:
        """The scores as a plain ``{name: value}`` dict (JSON-serialisable)."""
        return asdict(self)


class SaliencyEvaluator:
    """Accumulates metrics one image at a time, in constant memory.

    Args:
        alpha: S-measure weight of the object-aware term.
        beta2: F-measure ``beta^2``.

    Example::

        ev = SaliencyEvaluator()
        for pred, gt in pairs:
            ev.update(pred, gt)
        print(ev.result().as_dict())
    """

    def __init__(self, alpha: float = 0.5, beta2: float = 0.3) -> None:
        self.alpha = alpha
        self.beta2 = beta2
        self.reset()

    def reset(self) -> None:
        """Forget every image added so far."""
        self._count = 0
        self._s_sum = 0.0
        self._mae_sum = 0.0
        self._adp_f_sum = 0.0
        self._adp_e_sum = 0.0
        self._f_sum: FloatArray = np.zeros(LEVELS)
        self._e_sum: FloatArray = np.zeros(LEVELS)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one prediction/mask pair (conventions as in :func:`s_measure`)."""
        pair = prepare_pair(pred, gt)
        s = pair_s_measure(pair, self.alpha)
        m = float(np.mean(np.abs(pair.pred - pair.gt)))
        f_curve = pair_f_curve(pair, self.beta2)
        e_curve = pair_e_curve(pair)
        adp_f = pair_adaptive_f(pair, self.beta2)
        adp_e = pair_adaptive_e(pair)
        # Commit only once every metric has been computed, so a bad pair leaves no trace.
        self._s_sum += s
        self._mae_sum += m
        self._f_sum += f_curve
        self._e_sum += e_curve
        self._adp_f_sum += adp_f
        self._adp_e_sum += adp_e
        self._count += 1

    @property
    def count(self) -> int:
        """Number of images accumulated so far."""
        return self._count

    @property
    def f_curve(self) -> FloatArray:
        """Mean per-image F-measure curve (index = threshold level 0..255)."""
        self._require_data()
        return self._f_sum / self._count

    @property
    def e_curve(self) -> FloatArray:
        """Mean per-image E-measure curve (index = threshold level 0..255)."""
        self._require_data()
        return self._e_sum / self._count

    def result(self) -> Scores:
        """Dataset-level scores of everything accumulated so far.

        Raises:
            ValueError: if no image has been added.
        """
        f_curve, e_curve = self.f_curve, self.e_curve
        n = self._count
        return Scores(
            s_measure=self._s_sum / n,
            max_f=float(f_curve.max()),
            max_e=float(e_curve.max()),
            mae=self._mae_sum / n,
            count=n,
            mean_f=float(f_curve.mean()),
            adaptive_f=self._adp_f_sum / n,
            mean_e=float(e_curve.mean()),
            adaptive_e=self._adp_e_sum / n,
        )

    def _require_data(self) -> None:
        if self._count == 0:
            raise ValueError("no images evaluated yet; call update(pred, gt) first.")


def evaluate(predictions: Iterable[np.ndarray], masks: Iterable[np.ndarray]) -> Scores:
    """Score a dataset given matching sequences of predictions and masks.

    Raises:
        ValueError: if the sequences differ in length, are empty, or a pair is malformed.
    """
    evaluator = SaliencyEvaluator()
    mask_iter = iter(masks)
    count = 0
    for pred in predictions:
        gt = next(mask_iter, None)
        if gt is None:
            raise ValueError(f"predictions and masks differ in length: only {count} masks.")
        try:
            evaluator.update(pred, gt)
        except ValueError as exc:
            raise ValueError(f"pair {count}: {exc}") from exc
        count += 1
    if next(mask_iter, None) is not None:
        raise ValueError(f"predictions and masks differ in length: only {count} predictions.")
    return evaluator.result()
