"""Tests for :mod:`mutualsense.evaluation.metrics`, cross-checked against pysodmetrics (the reference)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutualsense.evaluation import metrics as M

TOL = 1e-6


# --------------------------------------------------------------------------- the reference


def _load_reference() -> types.ModuleType:
    """Import ``py_sod_metrics.sod_metrics`` (Smeasure, Fmeasure, Emeasure, MAE).

    The package ``__init__`` also imports its context-measure and size-invariance modules, which
    need scikit-image and scikit-learn. The four classic metrics use neither, so when those are
    missing the submodule is loaded on its own, with an empty stand-in for ``skimage`` (only
    used by metrics not tested here).
    """
    try:
        return importlib.import_module("py_sod_metrics.sod_metrics")
    except ImportError:
        pass
    spec = importlib.util.find_spec("py_sod_metrics")
    if spec is None or spec.submodule_search_locations is None:
        pytest.skip("pysodmetrics is not installed", allow_module_level=True)
    for name in [n for n in sys.modules if n == "py_sod_metrics" or n.startswith("py_sod_metrics.")]:
        del sys.modules[name]
    package = types.ModuleType("py_sod_metrics")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["py_sod_metrics"] = package
    if importlib.util.find_spec("skimage") is None:
        root = types.ModuleType("skimage")
        for sub in ("measure", "morphology"):
            module = types.ModuleType(f"skimage.{sub}")
            sys.modules[module.__name__] = module
            setattr(root, sub, module)
        sys.modules["skimage"] = root
    return importlib.import_module("py_sod_metrics.sod_metrics")


REF = _load_reference()


def _reference(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Run the reference evaluators over ``pairs``; curves are flipped to ascending threshold."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm, fm, em, ma = REF.Smeasure(), REF.Fmeasure(), REF.Emeasure(), REF.MAE()
        for pred, gt in pairs:
            for metric in (sm, fm, em, ma):
                metric.step(pred, gt)
        f = fm.get_results()["fm"]
        e = em.get_results()["em"]
        return {
            "s": np.array(sm.sms, dtype=np.float64),
            "mae": np.array(ma.maes, dtype=np.float64),
            "f_curves": np.array(fm.changeable_fms)[:, ::-1],
            "e_curves": np.array(em.changeable_ems)[:, ::-1],
            "adp_f": np.array(fm.adaptive_fms, dtype=np.float64),
            "adp_e": np.array(em.adaptive_ems, dtype=np.float64),
            "dataset": {
                "s_measure": sm.get_results()["sm"],
                "mae": ma.get_results()["mae"],
                "max_f": f["curve"].max(),
                "mean_f": f["curve"].mean(),
                "adaptive_f": f["adp"],
                "max_e": e["curve"].max(),
                "mean_e": e["curve"].mean(),
                "adaptive_e": e["adp"],
            },
        }


# --------------------------------------------------------------------------- test images


def _disk(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).astype(np.uint8) * 255


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def _noisy(img: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    return np.clip(img.astype(np.float64) + rng.normal(0, std, img.shape), 0, 255).round().astype(np.uint8)


def _random_blobs(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    gt = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        gt |= _disk(h, w, cy, cx, rng.uniform(0.05, 0.3) * min(h, w))
    if not gt.any():
        gt[h // 2, w // 2] = 255
    return gt


def _build_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(20240611)
    cases: list[tuple[str, np.ndarray, np.ndarray]] = []
    sizes = [(256, 256), (64, 48), (37, 101), (120, 80), (17, 9), (8, 8), (200, 33)]
    for h, w in sizes:
        gt = _random_blobs(h, w, rng)
        cases += [
            (f"noise-{h}x{w}", rng.integers(0, 256, (h, w), dtype=np.uint8), gt),
            (f"blur-{h}x{w}", _blur(gt, max(1.0, min(h, w) / 20)), gt),
            (f"blur-noise-{h}x{w}", _noisy(_blur(gt, 2.0), rng, 30), gt),
            (f"shifted-{h}x{w}", _blur(np.roll(gt, (h // 10, w // 10), axis=(0, 1)), 1.5), gt),
            (f"perfect-{h}x{w}", gt.copy(), gt),
            (f"inverted-{h}x{w}", 255 - gt, gt),
            (f"zero-pred-{h}x{w}", np.zeros((h, w), np.uint8), gt),
            (f"narrow-range-{h}x{w}", (100 + _blur(gt, 2.0) // 25).astype(np.uint8), gt),
        ]
    h, w = 96, 128
    gt = _random_blobs(h, w, rng)
    noise = rng.integers(0, 256, (h, w), dtype=np.uint8)
    zeros, ones = np.zeros((h, w), np.uint8), np.full((h, w), 255, np.uint8)
    tiny = np.zeros((h, w), np.uint8)
    tiny[40, 50] = 255
    tiny_blob = _disk(h, w, 20, 30, 1.5)
    cases += [
        ("gt-empty-noise", noise, zeros),
        ("gt-empty-zero-pred", zeros, zeros),
        ("gt-empty-blur", _blur(gt, 3.0), zeros),
        ("gt-full-noise", noise, ones),
        ("gt-full-one-pred", ones, ones),
        ("gt-full-zero-pred", zeros, ones),
        ("const-pred-128", np.full((h, w), 128, np.uint8), gt),
        ("const-pred-255", ones, gt),
        ("binary-pred", np.where(_blur(gt, 4.0) > 100, 255, 0).astype(np.uint8), gt),
        ("tiny-pixel-perfect", tiny.copy(), tiny),
        ("tiny-pixel-blur", _blur(tiny, 2.0), tiny),
        ("tiny-pixel-noise", noise, tiny),
        ("tiny-blob-blur", _noisy(_blur(tiny_blob, 1.0), rng, 10), tiny_blob),
        ("gt-levels-128-129", noise, np.where(noise > 127, 129, 128).astype(np.uint8)),
        ("gt-soft-mask", noise, _blur(gt, 3.0)),
        ("two-levels", np.where(noise > 200, 7, 3).astype(np.uint8), gt),
        ("two-by-two", np.array([[10, 240], [90, 0]], np.uint8), np.array([[255, 0], [0, 0]], np.uint8)),
    ]
    return cases


CASES = _build_cases()
# The reference gives S = NaN when the GT centroid is in the last row/column (an empty quadrant).
EDGE_CASES = [
    (
        "object-last-column",
        np.tile(np.arange(0, 250, 25, dtype=np.uint8), (10, 1)),
        np.pad(np.full((10, 1), 255, np.uint8), ((0, 0), (9, 0))),
    ),
    (
        "object-last-row",
        _blur(np.pad(np.full((1, 40), 255, np.uint8), ((29, 0), (0, 0))), 1.0),
        np.pad(np.full((1, 40), 255, np.uint8), ((29, 0), (0, 0))),
    ),
    ("single-row-image", np.array([[0, 50, 200, 255, 30]], np.uint8), np.array([[0, 0, 255, 255, 0]], np.uint8)),
]


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return _reference([(p, g) for _, p, g in CASES])


def _ours(pred: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
    ev = M.SaliencyEvaluator()
    ev.update(pred, gt)
    r = ev.result()
    return {
        "s": M.s_measure(pred, gt),
        "mae": M.mae(pred, gt),
        "f_curve": M.f_measure_curve(pred, gt),
        "e_curve": M.e_measure_curve(pred, gt),
        "scores": r,
    }


# --------------------------------------------------------------------------- vs the reference


def test_enough_cases() -> None:
    assert len(CASES) >= 50
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[name for name, _, _ in CASES])
def test_per_image_matches_reference(index: int, reference: dict[str, Any]) -> None:
    _, pred, gt = CASES[index]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # our code must not warn (no 0/0, no empty means)
        ours = _ours(pred, gt)
    assert np.isfinite(reference["s"][index])
    assert abs(ours["s"] - reference["s"][index]) <= TOL
    assert abs(ours["mae"] - reference["mae"][index]) <= TOL
    assert ours["f_curve"].shape == ours["e_curve"].shape == (256,)
    np.testing.assert_allclose(ours["f_curve"], reference["f_curves"][index], rtol=0, atol=TOL)
    np.testing.assert_allclose(ours["e_curve"], reference["e_curves"][index], rtol=0, atol=TOL)
    scores = ours["scores"]
    assert abs(scores.max_f - reference["f_curves"][index].max()) <= TOL
    assert abs(scores.max_e - reference["e_curves"][index].max()) <= TOL
    assert abs(scores.adaptive_f - reference["adp_f"][index]) <= TOL
    assert abs(scores.adaptive_e - reference["adp_e"][index]) <= TOL
    assert scores.s_measure == ours["s"] and scores.mae == ours["mae"]


def test_dataset_matches_reference(reference: dict[str, Any]) -> None:
    scores = M.evaluate((p for _, p, _ in CASES), (g for _, _, g in CASES))
    assert scores.count == len(CASES)
    got = scores.as_dict()
    for key, want in reference["dataset"].items():
        assert abs(got[key] - want) <= TOL, key


def test_evaluator_matches_evaluate_and_reset() -> None:
    ev = M.SaliencyEvaluator()
    ev.update(CASES[0][1], CASES[0][2])
    ev.reset()
    for _, pred, gt in CASES[:10]:
        ev.update(pred, gt)
    assert ev.count == 10
    assert ev.result() == M.evaluate([p for _, p, _ in CASES[:10]], [g for _, _, g in CASES[:10]])
    np.testing.assert_array_equal(ev.f_curve.max(), ev.result().max_f)


@pytest.mark.parametrize("gt_value", [0, 255])
def test_single_pixel_image_matches_reference(gt_value: int) -> None:
    # E-measure divides by H*W - 1 + eps, so a 1x1 image scores ~1/eps (kept, as in the reference).
    pred, gt = np.full((1, 1), 200, np.uint8), np.full((1, 1), gt_value, np.uint8)
    ref = _reference([(pred, gt)])
    assert M.s_measure(pred, gt) == ref["s"][0]
    assert M.mae(pred, gt) == ref["mae"][0]
    np.testing.assert_array_equal(M.f_measure_curve(pred, gt), ref["f_curves"][0])
    np.testing.assert_array_equal(M.e_measure_curve(pred, gt), ref["e_curves"][0])


@pytest.mark.parametrize("name, pred, gt", EDGE_CASES, ids=[c[0] for c in EDGE_CASES])
def test_empty_quadrant_is_finite_where_reference_is_nan(name: str, pred: np.ndarray, gt: np.ndarray) -> None:
    ref = _reference([(pred, gt)])
    assert np.isnan(ref["s"][0])  # documented deviation: we skip the zero-weight empty quadrant
    s = M.s_measure(pred, gt)
    assert 0.0 <= s <= 1.0
    # Everything else still matches.
    assert abs(M.mae(pred, gt) - ref["mae"][0]) <= TOL
    np.testing.assert_allclose(M.f_measure_curve(pred, gt), ref["f_curves"][0], rtol=0, atol=TOL)
    np.testing.assert_allclose(M.e_measure_curve(pred, gt), ref["e_curves"][0], rtol=0, atol=TOL)


def test_empty_quadrant_score_equals_nan_free_formula() -> None:
    # With the empty quadrants dropped, S equals the reference's own formula on the non-empty ones.
    pred, gt = EDGE_CASES[0][1], EDGE_CASES[0][2]
    p, g = REF.validate_and_normalize_input(pred, gt)
    sm = REF.Smeasure()
    h, w = g.shape
    cy = int(np.round(np.argwhere(g).mean(axis=0)[0])) + 1
    region = sm.ssim(p[:cy, :w], g[:cy, :w]) * (cy * w / (h * w))
    if cy < h:
        region += sm.ssim(p[cy:, :w], g[cy:, :w]) * ((h - cy) * w / (h * w))
    want = max(0.0, 0.5 * sm.object(p, g) + 0.5 * region)
    assert abs(M.s_measure(pred, gt) - want) <= TOL


# --------------------------------------------------------------------------- input conventions


@pytest.mark.parametrize("index", range(0, len(CASES), 5))
def test_float64_of_uint8_is_bit_identical(index: int) -> None:
    _, pred, gt = CASES[index]
    as_float = pred / 255
    assert M.s_measure(as_float, gt) == M.s_measure(pred, gt)
    assert M.mae(as_float, gt) == M.mae(pred, gt)
    np.testing.assert_array_equal(M.f_measure_curve(as_float, gt), M.f_measure_curve(pred, gt))
    np.testing.assert_array_equal(M.e_measure_curve(as_float, gt), M.e_measure_curve(pred, gt))


def test_bool_and_float_masks_equal_uint8() -> None:
    _, pred, gt = CASES[2]
    soft = _blur(gt, 2.0)  # values on both sides of 128
    for mask in (soft > 128, soft / 255, (soft / 255).astype(np.float32)):
        assert M.s_measure(pred, mask) == M.s_measure(pred, soft)
        np.testing.assert_array_equal(M.e_measure_curve(pred, mask), M.e_measure_curve(pred, soft))
    binary = gt > 128
    assert M.s_measure(binary, gt) == M.s_measure(gt, gt) == pytest.approx(1.0, abs=1e-12)


def test_probability_maps_match_reference_up_to_quantisation() -> None:
    rng = np.random.default_rng(7)
    for _ in range(6):
        gt = _random_blobs(80, 96, rng)
        prob = np.clip(_blur(gt, 3.0) / 255 + rng.normal(0, 0.1, gt.shape), 0, 1)
        for pred in (prob, prob.astype(np.float32)):
            ref = _reference([((prob * 255).round().astype(np.uint8), gt)])
            assert abs(M.s_measure(pred, gt) - ref["s"][0]) <= 1e-3
            assert abs(M.mae(pred, gt) - ref["mae"][0]) <= 1 / 255
            assert abs(M.f_measure_curve(pred, gt).max() - ref["f_curves"][0].max()) <= 5e-3
            assert abs(M.e_measure_curve(pred, gt).max() - ref["e_curves"][0].max()) <= 5e-3


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("shape", [(256, 256), (31, 77), (1, 1)])
def test_perfect_prediction(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    gt = (rng.random(shape) > 0.6).astype(np.uint8) * 255
    gt.flat[0] = 255
    scores = M.evaluate([gt], [gt])
    n = gt.size
    assert scores.s_measure == pytest.approx(1.0, abs=1e-12)
    assert scores.max_f == pytest.approx(1.0, abs=1e-12)
    assert scores.mae == 0.0
    # E-measure divides by H*W - 1 like the MATLAB original: a perfect map scores N / (N - 1).
    assert scores.max_e == pytest.approx(n / (n - 1 + np.spacing(1)), rel=1e-12)


def test_inverted_prediction_is_worst() -> None:
    gt = _disk(64, 64, 32, 32, 12)
    assert M.mae(255 - gt, gt) == 1.0
    assert M.f_measure_curve(255 - gt, gt)[1:].max() == 0.0
    assert M.s_measure(255 - gt, gt) < 0.05


def test_curve_index_is_threshold() -> None:
    gt = np.array([[255, 255, 0, 0]], np.uint8)
    pred = np.array([[0, 200, 100, 255]], np.uint8)
    f = M.f_measure_curve(pred, gt, beta2=1.0)
    # t <= 0: everything foreground -> P = 1/2, R = 1; levels > 200 -> only the BG pixel at 255.
    assert f[0] == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert f[255] == 0.0
    assert f[150] == pytest.approx(2 * 0.5 * 0.5 / 1.0)  # pixels 200 and 255 are foreground


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
    fg=st.floats(0.0, 1.0),
)
def test_ranges_and_reference_property(h: int, w: int, seed: int, fg: float) -> None:
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 256, (h, w), dtype=np.uint8)
    gt = (rng.random((h, w)) < fg).astype(np.uint8) * 255
    ref = _reference([(pred, gt)])
    s, m = M.s_measure(pred, gt), M.mae(pred, gt)
    f, e = M.f_measure_curve(pred, gt), M.e_measure_curve(pred, gt)
    n = h * w
    assert 0.0 <= s <= 1.0 and 0.0 <= m <= 1.0
    assert np.all((f >= 0) & (f <= 1 + 1e-12))
    assert np.all((e >= 0) & (e <= max(n / (n - 1 + np.spacing(1)), 1.0) + 1e-9))
    if np.isfinite(ref["s"][0]):
        assert abs(s - ref["s"][0]) <= TOL
    np.testing.assert_allclose(f, ref["f_curves"][0], rtol=0, atol=TOL)
    np.testing.assert_allclose(e, ref["e_curves"][0], rtol=0, atol=TOL)
    assert abs(m - ref["mae"][0]) <= TOL


# --------------------------------------------------------------------------- errors


FUNCS: list[Callable[[np.ndarray, np.ndarray], object]] = [
    M.s_measure,
    M.mae,
    M.f_measure_curve,
    M.e_measure_curve,
    M.SaliencyEvaluator().update,
]


@pytest.mark.parametrize("func", FUNCS)
def test_shape_mismatch_raises(func: Callable[[np.ndarray, np.ndarray], object]) -> None:
    with pytest.raises(ValueError, match=r"shapes differ.*\(10, 12\).*\(12, 10\)"):
        func(np.zeros((10, 12), np.uint8), np.zeros((12, 10), np.uint8))


@pytest.mark.parametrize(
    "pred, gt, error",
    [
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8), ValueError),
        (np.zeros((0, 4), np.uint8), np.zeros((0, 4), np.uint8), ValueError),
        (np.full((4, 4), 1.5), np.zeros((4, 4), np.uint8), ValueError),
        (np.full((4, 4), -0.1), np.zeros((4, 4), np.uint8), ValueError),
        (np.full((4, 4), np.nan), np.zeros((4, 4), np.uint8), ValueError),
        (np.zeros((4, 4), np.uint16), np.zeros((4, 4), np.uint8), TypeError),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.int32), TypeError),
    ],
)
def test_bad_inputs_raise(pred: np.ndarray, gt: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error):
        M.s_measure(pred, gt)


def test_evaluator_errors_leave_state_untouched() -> None:
    ev = M.SaliencyEvaluator()
    with pytest.raises(ValueError, match="no images"):
        ev.result()
    ev.update(CASES[0][1], CASES[0][2])
    before = ev.result()
    with pytest.raises(ValueError):
        ev.update(np.zeros((3, 3), np.uint8), np.zeros((3, 4), np.uint8))
    assert ev.result() == before


def test_evaluate_errors() -> None:
    pred, gt = CASES[0][1], CASES[0][2]
    with pytest.raises(ValueError, match="differ in length"):
        M.evaluate([pred, pred], [gt])
    with pytest.raises(ValueError, match="differ in length"):
        M.evaluate([pred], [gt, gt])
    with pytest.raises(ValueError, match="no images"):
        M.evaluate([], [])
    with pytest.raises(ValueError, match="pair 1: .*shapes differ"):
        M.evaluate([pred, pred[:5]], [gt, gt])


def test_scores_as_dict() -> None:
    scores = M.Scores(s_measure=0.9, max_f=0.8, max_e=0.95, mae=0.03, count=4)
    d = scores.as_dict()
    assert d["s_measure"] == 0.9 and d["count"] == 4
    assert set(d) >= {"s_measure", "max_f", "max_e", "mae", "count", "mean_f", "adaptive_f"}
    with pytest.raises(AttributeError):
        scores.mae = 0.0  # type: ignore[misc]
