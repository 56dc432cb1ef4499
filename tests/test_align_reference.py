"""The depth aligner against its straightforward form (every sampled depth pixel projected, no window).

``reference_align`` is the aligner as first written: it projects every sampled pixel with the same
float32 operations. The runtime skips the pixels that cannot land in the colour view and must give
the identical image, including frames with depth so near that anything may land anywhere.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from mutualsense.align import DepthAligner
from mutualsense.pipeline import FramePreparer
from mutualsense.preprocess import InputSpec, depth_table, preprocess_depth, preprocess_rgb
from mutualsense.sources.frameset import Extrinsics, FrameSet, Intrinsics

D435_COLOR = Intrinsics(640, 480, 615.0, 615.0, 319.5, 239.5)
D435_DEPTH = Intrinsics(848, 480, 423.0, 423.0, 423.5, 239.5)
BASELINE = Extrinsics(translation=(0.015, 0.0, 0.0))


def reference_align(depth, depth_scale, di, ci, extr, out_size):  # noqa: ANN001, ANN201 - the test's own oracle
    h_out, w_out = out_size
    sx, sy = w_out / ci.width, h_out / ci.height
    density_x, density_y = di.fx / (ci.fx * sx), di.fy / (ci.fy * sy)
    step_x, step_y = max(1, int(density_x)), max(1, int(density_y))
    fill = min(density_x / step_x, density_y / step_y) < 2.0
    u, v = np.meshgrid(
        np.arange(0, di.width, step_x, dtype=np.float64), np.arange(0, di.height, step_y, dtype=np.float64)
    )
    rays = np.stack([(u - di.ppx) / di.fx, (v - di.ppy) / di.fy, np.ones_like(u)])
    rot = np.asarray(extr.rotation, dtype=np.float64).reshape(3, 3)
    rays = np.einsum("ij,jhw->ihw", rot, rays).astype(np.float32)
    t = [np.float32(c) for c in extr.translation]
    fx, fy = np.float32(ci.fx * sx), np.float32(ci.fy * sy)
    cx, cy = np.float32((ci.ppx + 0.5) * sx), np.float32((ci.ppy + 0.5) * sy)
    d = depth[::step_y, ::step_x]
    z = d.astype(np.float32) * np.float32(depth_scale)
    pz = z * rays[2] + t[2]
    keep = (d > 0) & (pz > 1e-6)
    inv = np.divide(np.float32(1.0), pz, out=np.zeros_like(pz), where=keep)
    x = np.floor((z * rays[0] + t[0]) * inv * fx + cx).astype(np.int32)
    y = np.floor((z * rays[1] + t[1]) * inv * fy + cy).astype(np.int32)
    keep &= (x >= 0) & (x < w_out) & (y >= 0) & (y < h_out)
    out = np.full((h_out, w_out), 65535, dtype=np.uint16)
    np.minimum.at(out.reshape(-1), (y * w_out + x)[keep], d[keep])
    if fill:
        nearness = 65535 - out
        grown = cv2.dilate(nearness, np.ones((3, 3), np.uint8))
        holes = (nearness == 0) & (grown > 0)
        out[holes] = 65535 - grown[holes]
    out[out == 65535] = 0
    return out


def scene_depth(shape: tuple[int, int], seed: int, near_mm: int = 400) -> np.ndarray:
    """A plausible raw depth image (mm): a slanted floor, boxes at different depths, holes."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    depth = 1500 + 2500 * (1 - yy / h) + rng.normal(0, 8, shape)
    for _ in range(6):
        x0, y0 = rng.integers(0, w - w // 5), rng.integers(0, h - h // 5)
        depth[y0 : y0 + rng.integers(h // 10, h // 4), x0 : x0 + rng.integers(w // 10, w // 4)] = rng.integers(
            near_mm, 2500
        )
    depth[rng.random(shape) < 0.05] = 0  # dropouts
    depth[:, : w // 20] = 0  # the D4xx invalid band on the left
    return np.clip(depth, 0, 65535).astype(np.uint16)


def rotation(yaw_deg: float, pitch_deg: float) -> tuple[float, ...]:
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return tuple(float(v) for v in (ry @ rx).ravel())


CASES = {
    "d435 848x480 into 192x192": (D435_DEPTH, D435_COLOR, BASELINE, (192, 192)),
    "d435 848x480 into colour resolution": (D435_DEPTH, D435_COLOR, BASELINE, (480, 640)),
    "same field of view 424x240": (
        Intrinsics(424, 240, 307.5, 307.5, 211.5, 119.5),
        D435_COLOR,
        BASELINE,
        (192, 256),
    ),
    "rotated, off-centre, translated in z": (
        D435_DEPTH,
        Intrinsics(640, 480, 600.0, 610.0, 330.0, 230.0),
        Extrinsics(rotation=rotation(4.0, -3.0), translation=(0.025, -0.004, 0.01)),
        (160, 224),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("near_mm", [400, 20])  # 20 mm: nearer than the window's guard, anything may land
def test_identical_to_projecting_every_pixel(case: str, near_mm: int) -> None:
    di, ci, extr, out_size = CASES[case]
    aligner = DepthAligner(di, ci, extr, out_size)
    for seed in range(3):
        depth = scene_depth((di.height, di.width), seed, near_mm)
        for scale in (0.001, 0.0001):
            expected = reference_align(depth, scale, di, ci, extr, out_size)
            got = aligner(depth, scale)
            assert got.dtype == np.uint16 and got.shape == out_size
            np.testing.assert_array_equal(got, expected)
            assert (expected > 0).mean() > 0.3, "the case must exercise the projection"


def test_the_window_skips_what_cannot_land_and_the_guard_catches_what_can() -> None:
    aligner = DepthAligner(D435_DEPTH, D435_COLOR, BASELINE, (192, 192))
    r0, r1, c0, c1 = aligner._window
    rows, cols = len(range(0, 480, aligner._step_y)), len(range(0, 848, aligner._step_x))
    # a 87°-wide depth view into a 69° colour view: well under two thirds of the pixels can land
    assert (r1 - r0) * (c1 - c0) < 0.66 * rows * cols
    # one near pixel in the far left column of the depth image lands in the colour view
    depth = np.zeros((480, 848), np.uint16)
    depth[240, 0] = 30  # 3 cm at 0.001 m/unit
    expected = reference_align(depth, 0.001, D435_DEPTH, D435_COLOR, BASELINE, (192, 192))
    assert expected.any(), "3 cm in front of the left edge, the baseline moves it into the colour view"
    np.testing.assert_array_equal(aligner(depth, 0.001), expected)
    # at 0.1 mm per unit the same value is 3 mm: projected too, and it lands right of the view
    assert not aligner(depth, 0.0001).any()
    assert not reference_align(depth, 0.0001, D435_DEPTH, D435_COLOR, BASELINE, (192, 192)).any()


def test_a_colour_view_beside_the_depth_view_sees_only_what_comes_near() -> None:
    """A narrow depth view turned 60° from the colour view: nothing lands from 0.1 m out (an empty
    window), but points a few cm away, moved by the baseline, do — the guard must look everywhere."""
    narrow = Intrinsics(424, 240, 1000.0, 1000.0, 211.5, 119.5)
    extr = Extrinsics(rotation=rotation(60.0, 0.0), translation=(-0.015, 0.0, 0.0))
    aligner = DepthAligner(narrow, D435_COLOR, extr, (96, 128))
    r0, r1, c0, c1 = aligner._window
    assert r1 <= r0 or c1 <= c0
    far = scene_depth((240, 424), 1, 400)
    assert not aligner(far, 0.001).any()
    near = far.copy()
    near[100:140, 180:240] = 20  # 2 cm, in the middle of the depth image
    expected = reference_align(near, 0.001, narrow, D435_COLOR, extr, (96, 128))
    assert expected.any()
    np.testing.assert_array_equal(aligner(near, 0.001), expected)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_depth_input_written_in_the_aligning_pass_is_the_preprocessed_aligned_depth(case: str) -> None:
    di, ci, extr, out_size = CASES[case]
    spec = InputSpec(height=out_size[0], width=out_size[1])
    aligner = DepthAligner(di, ci, extr, out_size)
    depth = scene_depth((di.height, di.width), 5)
    plane = np.full(out_size, np.nan, np.float32)
    aligned = aligner(depth, 0.001, table=depth_table("<u2", 0.001, spec), plane=plane)
    np.testing.assert_array_equal(aligned, reference_align(depth, 0.001, di, ci, extr, out_size))
    np.testing.assert_array_equal(plane, preprocess_depth(aligned, 0.001, spec)[0])


def test_the_frame_preparer_gives_what_the_stages_give_one_by_one() -> None:
    spec = InputSpec()
    rng = np.random.default_rng(3)
    depth = scene_depth((480, 848), 2)
    color = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    fs = FrameSet(color, depth, 0.001, D435_COLOR, D435_DEPTH, BASELINE, 0.0, 0.0, "system_time", 0.0, source="test")
    prepared = FramePreparer(spec).prepare(fs)
    aligned = reference_align(depth, 0.001, D435_DEPTH, D435_COLOR, BASELINE, (192, 192))
    np.testing.assert_array_equal(prepared.aligned_depth, aligned)
    np.testing.assert_array_equal(prepared.depth, preprocess_depth(aligned, 0.001, spec)[None])
    np.testing.assert_array_equal(prepared.rgb, preprocess_rgb(color, spec)[None])
    assert prepared.align_ms > 0 and prepared.preprocess_ms > 0


def test_what_the_aligner_cannot_take_is_refused() -> None:
    aligner = DepthAligner(D435_DEPTH, D435_COLOR, BASELINE, (192, 192))
    with pytest.raises(ValueError, match="raw uint16"):
        aligner(np.zeros((480, 848), np.float32), 0.001)
    with pytest.raises(ValueError, match="built for"):
        aligner(np.zeros((240, 424), np.uint16), 0.001)
    with pytest.raises(ValueError, match="plane must be"):
        aligner(
            np.zeros((480, 848), np.uint16),
            0.001,
            table=depth_table("<u2", 0.001, InputSpec()),
            plane=np.zeros((96, 96), np.float32),
        )
