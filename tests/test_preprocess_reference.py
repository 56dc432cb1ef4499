"""Preprocessing against its straightforward form: float image, normalise, transpose; nearness per pixel.

The runtime normalises colour through a per-level table written straight into each plane of the
output and maps raw depth through a table of every raw value; the results must be identical to
the formulas the models were trained with, written out below as they first were.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mutualsense.preprocess import InputSpec, preprocess, preprocess_depth, preprocess_rgb


def reference_rgb(rgb: np.ndarray, spec: InputSpec) -> np.ndarray:
    if rgb.shape[:2] != (spec.height, spec.width):
        rgb = cv2.resize(rgb, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
    scale = np.asarray(spec.rgb_std, np.float32) * 255.0
    out = (rgb.astype(np.float32) - np.asarray(spec.rgb_mean, np.float32) * 255.0) / scale
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def reference_depth(depth: np.ndarray, depth_scale: float | None, spec: InputSpec, encoding: str) -> np.ndarray:
    valid = depth > 0
    if encoding == "metric":
        metres = depth.astype(np.float32) * np.float32(depth_scale)
        near = (spec.depth_max_m - np.clip(metres, spec.depth_min_m, spec.depth_max_m)) / (
            spec.depth_max_m - spec.depth_min_m
        )
    else:
        top = 255.0 if depth.dtype == np.uint8 else float(np.iinfo(depth.dtype).max) if depth.dtype.kind == "u" else 1.0
        near = depth.astype(np.float32) / np.float32(top)
    near = np.where(valid, near, np.float32(0.0)).astype(np.float32)
    if near.shape != (spec.height, spec.width):
        near = cv2.resize(near, (spec.width, spec.height), interpolation=cv2.INTER_NEAREST)
    return ((near - spec.depth_mean) / spec.depth_std)[None].astype(np.float32)


SPECS = [
    InputSpec(),
    InputSpec(
        height=160, width=224, rgb_mean=(0.5, 0.4, 0.3), rgb_std=(0.2, 0.3, 0.25), depth_min_m=0.1, depth_max_m=8.0
    ),
]


@pytest.mark.parametrize("spec", SPECS, ids=["default", "custom"])
@pytest.mark.parametrize(
    "size", [(480, 640), (192, 192), (160, 224), (97, 131), (720, 1280), (191, 97), (37, 500), (1, 1), (2, 3)]
)
def test_colour_is_identical(spec: InputSpec, size: tuple[int, int]) -> None:
    """The compiled pass reproduces cv2.resize's bilinear uint8 resize to the bit (noise: every tie and edge)."""
    rgb = np.random.default_rng(size[0]).integers(0, 256, (*size, 3), dtype=np.uint8)
    expected = reference_rgb(rgb, spec)
    got = preprocess_rgb(rgb, spec)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


def test_colour_views_are_read_where_they_lie() -> None:
    """A BGR frame flipped to RGB and a crop are strided views: read as they are, no copy needed."""
    bgr = np.random.default_rng(7).integers(0, 256, (480, 700, 3), dtype=np.uint8)
    for view in (bgr[:, :, ::-1], bgr[10:400, 30:670], bgr[::2, ::3]):
        np.testing.assert_array_equal(
            preprocess_rgb(view, InputSpec()), reference_rgb(np.ascontiguousarray(view), InputSpec())
        )


@pytest.mark.parametrize("spec", SPECS, ids=["default", "custom"])
@pytest.mark.parametrize("size", [(480, 848), (192, 192), (160, 224)])
@pytest.mark.parametrize("scale", [0.001, 0.0001, 0.00025])
def test_metric_depth_is_identical(spec: InputSpec, size: tuple[int, int], scale: float) -> None:
    rng = np.random.default_rng(7)
    depth = rng.integers(0, 65536, size).astype(np.uint16)
    camera_range = rng.random(size) < 0.7  # mostly 0–9 m at 1 mm, the rest anywhere in the uint16 range
    depth[camera_range] = rng.integers(0, 9000, int(camera_range.sum()))
    depth[:5] = 0
    np.testing.assert_array_equal(preprocess_depth(depth, scale, spec), reference_depth(depth, scale, spec, "metric"))


@pytest.mark.parametrize(
    "depth",
    [
        np.random.default_rng(1).integers(0, 256, (120, 160)).astype(np.uint8),
        np.random.default_rng(2).integers(0, 65536, (192, 192)).astype(np.uint16),
        np.random.default_rng(3).random((100, 90)).astype(np.float32),
        np.random.default_rng(4).integers(0, 1000, (50, 60)).astype(np.int16),
    ],
    ids=["uint8", "uint16", "float32", "int16"],
)
def test_normalized_depth_is_identical(depth: np.ndarray) -> None:
    spec = InputSpec()
    np.testing.assert_array_equal(
        preprocess_depth(depth, None, spec, "normalized"), reference_depth(depth, None, spec, "normalized")
    )


def test_writes_into_a_batch_tensor_without_touching_its_neighbours() -> None:
    spec = InputSpec()
    rng = np.random.default_rng(0)
    rgb, depth = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), rng.integers(0, 5000, (192, 192), dtype=np.uint16)
    batch_rgb, batch_depth = np.full((3, 3, 192, 192), 7.0, np.float32), np.full((3, 1, 192, 192), 7.0, np.float32)
    assert np.shares_memory(preprocess_rgb(rgb, spec, out=batch_rgb[1]), batch_rgb)
    assert np.shares_memory(preprocess_depth(depth, 0.001, spec, out=batch_depth[1]), batch_depth)
    np.testing.assert_array_equal(batch_rgb[1], reference_rgb(rgb, spec))
    np.testing.assert_array_equal(batch_depth[1], reference_depth(depth, 0.001, spec, "metric"))
    assert (batch_rgb[[0, 2]] == 7.0).all() and (batch_depth[[0, 2]] == 7.0).all()
    r, d = preprocess(rgb, depth, 0.001, spec)
    assert r.shape == (1, 3, 192, 192) and d.shape == (1, 1, 192, 192)
    with pytest.raises(ValueError, match="out must be"):
        preprocess_rgb(rgb, spec, out=np.empty((3, 192, 191), np.float32))
    with pytest.raises(ValueError, match="positive depth_scale"):
        preprocess_depth(depth, None, spec)
    with pytest.raises(ValueError, match="encoding"):
        preprocess_depth(depth, 0.001, spec, "bogus")  # type: ignore[arg-type]
