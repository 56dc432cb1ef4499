"""Postprocessing against its straightforward form: every component visited, the map resized eagerly.

The runtime keeps the saliency map at the model's resolution and finds objects there (as before);
the full-resolution map is made when ``result.saliency`` is first read. The objects, the model-grid
map and the full-resolution map must equal what the first implementation, written out below, gave.
The one exception is each object's score: the compiled kernel (``mutualsense.cpu_kernels``) sums in
float64 where numpy's float32 mean sums pairwise, so the two agree to the float32 sum's precision (1e-6), not the bit.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from mutualsense.results import SaliencyResult, SalientObject, find_objects, postprocess, saliency_map, sigmoid


def reference_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float32)


def reference_objects(prob, depth_m, color_size, threshold=0.5, min_area_fraction=0.002):  # noqa: ANN001, ANN201
    mask = (prob > threshold).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    h, w = prob.shape
    sx, sy = color_size[0] / w, color_size[1] / h
    objects = []
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if area < min_area_fraction * h * w:
            continue
        region = labels[y : y + bh, x : x + bw] == i
        score = float(prob[y : y + bh, x : x + bw][region].mean())
        distance, valid_fraction = None, 0.0
        if depth_m is not None:
            d = depth_m[y : y + bh, x : x + bw][region]
            valid = d[d > 0]
            valid_fraction = valid.size / d.size
            distance = float(np.median(valid)) if valid.size else None
        box = (
            int(x * sx),
            int(y * sy),
            min(color_size[0], round((x + bw) * sx)),
            min(color_size[1], round((y + bh) * sy)),
        )
        objects.append(SalientObject(box, score, float(area) / (h * w), distance, valid_fraction))
    objects.sort(key=lambda o: o.area_fraction, reverse=True)
    return tuple(objects)


def assert_same_objects(got: tuple[SalientObject, ...], expected: tuple[SalientObject, ...]) -> None:
    """Every field identical but the score, which must agree to a float32 sum's precision."""
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert a.score == pytest.approx(b.score, rel=1e-6, abs=0)  # a float32 sum of up to h·w values
        assert dataclasses.replace(a, score=b.score) == b


def logit_map(seed: int, shape: tuple[int, int] = (192, 192), noise: float = 1.0) -> np.ndarray:
    """Blobs of confident saliency on a noisy background (noise 4: thousands of specks)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    logits = rng.normal(-3.0, noise, shape)
    for _ in range(rng.integers(1, 6)):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(4, h // 4)
        logits[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] += rng.uniform(4, 9)
    return logits.astype(np.float32)


def aligned_depth(seed: int, shape: tuple[int, int] = (192, 192)) -> np.ndarray:
    rng = np.random.default_rng(seed + 100)
    depth = rng.integers(300, 6000, shape).astype(np.uint16)
    depth[rng.random(shape) < 0.2] = 0
    depth[: shape[0] // 3, : shape[1] // 3] = 0  # a region with no valid depth at all
    return depth


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("noise", [1.0, 4.0])
def test_objects_and_maps_are_identical(seed: int, noise: float) -> None:
    logits, depth = logit_map(seed, noise=noise), aligned_depth(seed)
    color_size, scale = (640, 480), 0.001
    prob, objects = postprocess(logits, depth, scale, color_size, threshold=0.5)
    expected_prob = reference_sigmoid(logits)
    np.testing.assert_array_equal(prob, expected_prob)
    assert_same_objects(objects, reference_objects(expected_prob, depth.astype(np.float32) * scale, color_size))
    assert_same_objects(
        find_objects(prob, None, color_size, 0.3), reference_objects(expected_prob, None, color_size, 0.3)
    )
    # the full-resolution map, made on demand, is the eager map of before
    np.testing.assert_array_equal(saliency_map(logits, color_size), cv2.resize(expected_prob, color_size))
    result = _result(prob, color_size)
    assert result.saliency.shape == (480, 640)
    np.testing.assert_array_equal(
        result.saliency, cv2.resize(expected_prob, color_size, interpolation=cv2.INTER_LINEAR)
    )
    assert result.saliency is result.saliency  # computed once
    np.testing.assert_array_equal(result.mask(), result.saliency > 0.5)


def test_the_full_map_is_only_made_when_read_and_kept_as_is_at_colour_resolution() -> None:
    prob = reference_sigmoid(logit_map(0))
    result = _result(prob, (640, 480))
    assert "saliency" not in vars(result)
    _ = result.saliency
    assert "saliency" in vars(result)
    assert _result(prob, (192, 192)).saliency is prob
    assert _result(prob, None).saliency is prob


def test_sigmoid_of_half_precision_logits_is_float32_and_close() -> None:
    logits = np.linspace(-20, 20, 4001, dtype=np.float16)
    got = sigmoid(logits)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, 1.0 / (1.0 + np.exp(-logits.astype(np.float64))), atol=1e-6)
    np.testing.assert_allclose(got, reference_sigmoid(logits), atol=1e-3)


def _result(prob: np.ndarray, color_size: tuple[int, int] | None) -> SaliencyResult:
    return SaliencyResult(
        model_saliency=prob,
        objects=(),
        threshold=0.5,
        color_frame_number=1,
        depth_frame_number=1,
        color_timestamp_ms=0.0,
        depth_timestamp_ms=0.0,
        clock_domain="synthetic",
        skew_ms=0.0,
        skew_flagged=False,
        arrival_time=0.0,
        result_time=0.0,
        color_size=color_size,
    )


def test_the_most_components_a_map_can_have() -> None:
    """Isolated pixels on a 2-pixel lattice: h·w/4 components (16-bit labels), every one an object at area 0."""
    logits = np.full((192, 192), -5.0, np.float32)
    logits[::2, ::2] = 5.0
    prob = reference_sigmoid(logits)
    got = find_objects(prob, None, (640, 480), 0.5, min_area_fraction=0.0)
    assert len(got) == 96 * 96
    assert_same_objects(got, reference_objects(prob, None, (640, 480), 0.5, min_area_fraction=0.0))


@pytest.mark.parametrize("seed", range(3))
def test_scores_are_the_float64_means_of_the_regions(seed: int) -> None:
    prob = reference_sigmoid(logit_map(seed, noise=4.0))
    _, labels, stats, _ = cv2.connectedComponentsWithStats((prob > 0.5).astype(np.uint8), connectivity=8)
    by_box = {}
    for i in range(1, len(stats)):
        x, y, bw, bh, _ = stats[i]
        by_box[(x, y, x + bw, y + bh)] = float(prob[labels == i].astype(np.float64).mean())
    objects = find_objects(prob, None, (192, 192), 0.5)
    assert objects
    for obj in objects:
        assert obj.score == pytest.approx(by_box[obj.box], rel=1e-13)
