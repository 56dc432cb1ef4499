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
from numpy.typing import NDArray

__all__ = [
    "SaliencyEvaluator",
    "Scores",
    "e_measure_curve",
    "evaluate",
    "f_measure_curve",
    "mae",
    "s_measure",
]

_EPS = float(np.spacing(1))  # MATLAB's eps, as used by the reference code
_LEVELS = 256
_GT_LEVEL = 128  # uint8 ground truth is foreground where gt > 128

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]


# --------------------------------------------------------------------------- input handling


@dataclass(frozen=True)
class _Pair:
    """A validated prediction/mask pair in the form every metric works on."""

    pred: FloatArray  # min-max normalised prediction in [0, 1]
    gt: BoolArray  # binary mask
    fg_hist: IntArray  # fg_hist[v]: GT-foreground pixels whose quantised prediction is v
    bg_hist: IntArray  # same for GT-background pixels


def _binarise_gt(gt: np.ndarray) -> BoolArray:
    if gt.dtype == np.bool_:
        return gt
    if gt.dtype == np.uint8:
        return gt > _GT_LEVEL
    if np.issubdtype(gt.dtype, np.floating):
        return gt > _GT_LEVEL / 255
    raise TypeError(f"gt must be a bool, uint8 (0/255) or float (0/1) mask, got dtype {gt.dtype}.")


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(
            f"pred and gt shapes differ: pred {pred.shape} vs gt {gt.shape}; "
            "resize the prediction to the mask's size before evaluating."
        )
    if pred.ndim != 2:
        raise ValueError(f"pred and gt must be 2-D (H, W) single-channel maps, got shape {pred.shape}.")
    if pred.size == 0:
        raise ValueError(f"pred and gt are empty (shape {pred.shape}).")
    return pred, gt


def _hist_by_level(levels: np.ndarray, gt: BoolArray) -> tuple[IntArray, IntArray]:
    """Per-level pixel counts of an integer level image in the GT foreground and background."""
    total = np.bincount(levels.ravel(), minlength=_LEVELS)
    fg = np.bincount(levels[gt], minlength=_LEVELS)
    return fg.astype(np.int64), (total - fg).astype(np.int64)


def _prepare(pred: np.ndarray, gt: np.ndarray) -> _Pair:
    """Validate, normalise and histogram one pair (see the module docstring for the rules)."""
    pred, gt = _check_pair(pred, gt)
    mask = _binarise_gt(gt)
    if pred.dtype == np.uint8:
        # Normalise the 256 possible values with the very float operations the reference applies
        # to the whole image (so results are bit-identical), then look them up.
        values = np.arange(_LEVELS) / 255
        lo, hi = values[int(pred.min())], values[int(pred.max())]
        if hi != lo:
            values = (values - lo) / (hi - lo)
        norm = values[pred]
        raw_fg, raw_bg = _hist_by_level(pred, mask)
        level_of_value = (values * 255).astype(np.uint8)
        fg_hist = np.bincount(level_of_value, weights=raw_fg, minlength=_LEVELS).astype(np.int64)
        bg_hist = np.bincount(level_of_value, weights=raw_bg, minlength=_LEVELS).astype(np.int64)
        return _Pair(norm, mask, fg_hist, bg_hist)
    if pred.dtype == np.bool_:
        norm = pred.astype(np.float64)
    elif np.issubdtype(pred.dtype, np.floating):
        norm = pred.astype(np.float64)
        lo, hi = float(norm.min()), float(norm.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 1:
            raise ValueError(
                f"a float pred must be a probability map in [0, 1]; got values in [{lo}, {hi}]. "
                "Apply a sigmoid, or pass the uint8 (0..255) map."
            )
        if hi != lo:
            norm = (norm - lo) / (hi - lo)
    else:
        raise TypeError(f"pred must be uint8 (0..255), float (0..1) or bool, got dtype {pred.dtype}.")
    fg_hist, bg_hist = _hist_by_level((norm * 255).astype(np.uint8), mask)
    return _Pair(norm, mask, fg_hist, bg_hist)


# --------------------------------------------------------------------------- S-measure


def _s_object(x: FloatArray) -> float:
    mean = np.mean(x)
    std = np.std(x, ddof=1) if x.size > 1 else 0.0
    return float(2 * mean / (np.power(mean, 2) + 1 + std + _EPS))


def _object_score(pred: FloatArray, gt: BoolArray) -> float:
    gt_mean = np.mean(gt)
    fg = _s_object(pred[gt]) * gt_mean
    bg = _s_object((1 - pred)[~gt]) * (1 - gt_mean)
    return float(fg + bg)


def _ssim(pred: FloatArray, gt: FloatArray) -> float:
    n = pred.size
    if n == 0:  # empty quadrant: zero weight; the reference yields NaN here
        return 0.0
    x = np.mean(pred)
    y = np.mean(gt)
    dx = pred - x
    dy = gt - y
    sigma_x = np.sum(dx**2) / (n - 1 + _EPS)
    sigma_y = np.sum(dy**2) / (n - 1 + _EPS)
    sigma_xy = np.sum(dx * dy) / (n - 1 + _EPS)
    alpha = 4 * x * y * sigma_xy
    beta = (x**2 + y**2) * (sigma_x + sigma_y)
    if alpha != 0:
        return float(alpha / (beta + _EPS))
    return 1.0 if beta == 0 else 0.0


def _region_score(pred: FloatArray, gt: BoolArray) -> float:
    h, w = gt.shape
    area = h * w
    count = int(np.count_nonzero(gt))
    # Foreground centroid (exact integer sums, rounded half-to-even like np.round), made 1-based
    # like the MATLAB code so that slicing [0:cy] includes the centroid row.
    cy = int(np.round(int(np.dot(np.arange(h), np.count_nonzero(gt, axis=1))) / count)) + 1
    cx = int(np.round(int(np.dot(np.arange(w), np.count_nonzero(gt, axis=0))) / count)) + 1
    g = gt.astype(np.float64)
    w_lt = cx * cy / area
    w_rt = cy * (w - cx) / area
    w_lb = (h - cy) * cx / area
    w_rb = 1 - w_lt - w_rt - w_lb
    return (
        _ssim(pred[:cy, :cx], g[:cy, :cx]) * w_lt
        + _ssim(pred[:cy, cx:], g[:cy, cx:]) * w_rt
        + _ssim(pred[cy:, :cx], g[cy:, :cx]) * w_lb
        + _ssim(pred[cy:, cx:], g[cy:, cx:]) * w_rb
    )


def _s_measure(pair: _Pair, alpha: float) -> float:
    y = np.mean(pair.gt)
    if y == 0:
        return float(1 - np.mean(pair.pred))
    if y == 1:
        return float(np.mean(pair.pred))
    score = _object_score(pair.pred, pair.gt) * alpha + _region_score(pair.pred, pair.gt) * (1 - alpha)
    return float(max(0.0, score))


# --------------------------------------------------------------------------- threshold sweeps


def _at_least(hist: IntArray) -> IntArray:
    """``out[t]`` = number of pixels at level >= t."""
    return np.cumsum(hist[::-1])[::-1]


def _f_curve(pair: _Pair, beta2: float) -> FloatArray:
    tp = _at_least(pair.fg_hist)
    positives = tp + _at_least(pair.bg_hist)
    positives[positives == 0] = 1  # then tp == 0 too
    gt_count = max(int(np.count_nonzero(pair.gt)), 1)
    precision = tp / positives
    recall = tp / gt_count
    numerator = (1 + beta2) * precision * recall
    denominator = np.where(numerator == 0, 1, beta2 * precision + recall)
    return numerator / denominator


def _enhanced_sum(size: int, gt_fg: int, fg_fg: np.ndarray | int, fg_bg: np.ndarray | int) -> np.ndarray | float:
    """Sum of the enhanced-alignment matrix for binarised maps with the given confusion counts."""
    pred_fg = fg_fg + fg_bg
    pred_bg = size - pred_fg
    if gt_fg == 0:
        return pred_bg
    if gt_fg == size:
        return pred_fg
    bg_fg = gt_fg - fg_fg
    bg_bg = pred_bg - bg_fg
    mean_pred = pred_fg / size
    mean_gt = gt_fg / size
    parts = (
        (fg_fg, 1 - mean_pred, 1 - mean_gt),
        (fg_bg, 1 - mean_pred, 0 - mean_gt),
        (bg_fg, 0 - mean_pred, 1 - mean_gt),
        (bg_bg, 0 - mean_pred, 0 - mean_gt),
    )
    terms = []
    for numel, a, b in parts:
        align = 2 * (a * b) / (a**2 + b**2 + _EPS)
        terms.append((align + 1) ** 2 / 4 * numel)
    return np.sum(np.asarray(terms, dtype=np.float64), axis=0)


def _e_curve(pair: _Pair) -> FloatArray:
    size = pair.gt.size
    gt_fg = int(np.count_nonzero(pair.gt))
    total = _enhanced_sum(size, gt_fg, _at_least(pair.fg_hist), _at_least(pair.bg_hist))
    return np.asarray(total, dtype=np.float64) / (size - 1 + _EPS)


def _adaptive_threshold(pred: FloatArray) -> float:
    return min(2 * float(np.mean(pred)), 1.0)


def _adaptive_f(pair: _Pair, beta2: float) -> float:
    binary = pair.pred >= _adaptive_threshold(pair.pred)
    inter = int(np.count_nonzero(binary & pair.gt))
    if inter == 0:
        return 0.0
    precision = inter / int(np.count_nonzero(binary))
    recall = inter / int(np.count_nonzero(pair.gt))
    return (1 + beta2) * precision * recall / (beta2 * precision + recall)


def _adaptive_e(pair: _Pair) -> float:
    binary = pair.pred >= _adaptive_threshold(pair.pred)
    fg_fg = int(np.count_nonzero(binary & pair.gt))
    fg_bg = int(np.count_nonzero(binary & ~pair.gt))
    size = pair.gt.size
    total = _enhanced_sum(size, int(np.count_nonzero(pair.gt)), fg_fg, fg_bg)
    return float(total) / (size - 1 + _EPS)


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
    return _s_measure(_prepare(pred, gt), alpha)


def mae(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute error between the normalised prediction and the binary mask (lower is better)."""
    pair = _prepare(pred, gt)
    return float(np.mean(np.abs(pair.pred - pair.gt)))


def f_measure_curve(pred: np.ndarray, gt: np.ndarray, beta2: float = 0.3) -> FloatArray:
    """F-measure at the 256 thresholds: ``out[t]`` binarises the map at ``floor(255 * pred) >= t``.

    ``F = (1 + beta2) * P * R / (beta2 * P + R)``, and 0 where ``P * R == 0``.
    Its maximum is the image's max F-measure, its mean the mean F-measure.
    """
    return _f_curve(_prepare(pred, gt), beta2)


def e_measure_curve(pred: np.ndarray, gt: np.ndarray) -> FloatArray:
    """Enhanced-alignment measure (Fan et al., IJCAI 2018) at the 256 thresholds, indexed like
    :func:`f_measure_curve`.

    As in the reference code the alignment sum is divided by ``H * W - 1``, so a perfect
    prediction scores ``H * W / (H * W - 1)``, a hair above 1.
    """
    return _e_curve(_prepare(pred, gt))


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
        self._f_sum: FloatArray = np.zeros(_LEVELS)
        self._e_sum: FloatArray = np.zeros(_LEVELS)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one prediction/mask pair (conventions as in :func:`s_measure`)."""
        pair = _prepare(pred, gt)
        s = _s_measure(pair, self.alpha)
        m = float(np.mean(np.abs(pair.pred - pair.gt)))
        f_curve = _f_curve(pair, self.beta2)
        e_curve = _e_curve(pair)
        adp_f = _adaptive_f(pair, self.beta2)
        adp_e = _adaptive_e(pair)
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
