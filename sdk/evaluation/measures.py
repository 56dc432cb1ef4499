"""The per-image machinery behind :mod:`mutualsense.evaluation.metrics`: a validated prediction/mask
pair, the S-measure terms and the threshold sweeps of the F- and E-measure (conventions: see there)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "LEVELS",
    "BoolArray",
    "FloatArray",
    "IntArray",
    "PreparedPair",
    "pair_adaptive_e",
    "pair_adaptive_f",
    "pair_e_curve",
    "pair_f_curve",
    "pair_s_measure",
    "prepare_pair",
]


_EPS = float(np.spacing(1))  # MATLAB's eps, as used by the reference code
LEVELS = 256
_GT_LEVEL = 128  # uint8 ground truth is foreground where gt > 128

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]


# --------------------------------------------------------------------------- input handling


@dataclass(frozen=True)
class PreparedPair:
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
    total = np.bincount(levels.ravel(), minlength=LEVELS)
    fg = np.bincount(levels[gt], minlength=LEVELS)
    return fg.astype(np.int64), (total - fg).astype(np.int64)


def prepare_pair(pred: np.ndarray, gt: np.ndarray) -> PreparedPair:
    """Validate, normalise and histogram one pair (see the module docstring for the rules)."""
    pred, gt = _check_pair(pred, gt)
    mask = _binarise_gt(gt)
    if pred.dtype == np.uint8:
        # Normalise the 256 possible values with the very float operations the reference applies
        # to the whole image (so results are bit-identical), then look them up.
        values = np.arange(LEVELS) / 255
        lo, hi = values[int(pred.min())], values[int(pred.max())]
        if hi != lo:
            values = (values - lo) / (hi - lo)
        norm = values[pred]
        raw_fg, raw_bg = _hist_by_level(pred, mask)
        level_of_value = (values * 255).astype(np.uint8)
        fg_hist = np.bincount(level_of_value, weights=raw_fg, minlength=LEVELS).astype(np.int64)
        bg_hist = np.bincount(level_of_value, weights=raw_bg, minlength=LEVELS).astype(np.int64)
        return PreparedPair(norm, mask, fg_hist, bg_hist)
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
    return PreparedPair(norm, mask, fg_hist, bg_hist)


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


def pair_s_measure(pair: PreparedPair, alpha: float) -> float:
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


def pair_f_curve(pair: PreparedPair, beta2: float) -> FloatArray:
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


def pair_e_curve(pair: PreparedPair) -> FloatArray:
    size = pair.gt.size
    gt_fg = int(np.count_nonzero(pair.gt))
    total = _enhanced_sum(size, gt_fg, _at_least(pair.fg_hist), _at_least(pair.bg_hist))
    return np.asarray(total, dtype=np.float64) / (size - 1 + _EPS)


def _adaptive_threshold(pred: FloatArray) -> float:
    return min(2 * float(np.mean(pred)), 1.0)


def pair_adaptive_f(pair: PreparedPair, beta2: float) -> float:
    binary = pair.pred >= _adaptive_threshold(pair.pred)
    inter = int(np.count_nonzero(binary & pair.gt))
    if inter == 0:
        return 0.0
    precision = inter / int(np.count_nonzero(binary))
    recall = inter / int(np.count_nonzero(pair.gt))
    return (1 + beta2) * precision * recall / (beta2 * precision + recall)


def pair_adaptive_e(pair: PreparedPair) -> float:
    binary = pair.pred >= _adaptive_threshold(pair.pred)
    fg_fg = int(np.count_nonzero(binary & pair.gt))
    fg_bg = int(np.count_nonzero(binary & ~pair.gt))
    size = pair.gt.size
    total = _enhanced_sum(size, int(np.count_nonzero(pair.gt)), fg_fg, fg_bg)
    return float(total) / (size - 1 + _EPS)
