"""3D objects and tracks on generated recordings whose true geometry is known (the synthetic source's truth).

The saliency map is the scene's true mask on the model grid (a model's mistakes are not what is
tested here), in one test grown by two grid pixels so that its rim sees the background; depth takes
the real path: the source's stereo-like depth image (noise, holes, shadows) in the depth camera's
grid, aligned into the model grid.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mutualsense.align import DepthAligner
from mutualsense.evaluation.synthetic import SceneGenerator
from mutualsense.results import find_objects
from mutualsense.sources import SyntheticSource
from mutualsense.sources.base import SourceEnded
from mutualsense.spatial.objects3d import ObjectLocator
from mutualsense.spatial.tracking import Tracker3D

GRID = (192, 192)


def run(source: SyntheticSource, grow_px: int = 0):
    """Per frameset: (salient object as reported, its truth) through alignment, locator and tracker."""
    tracker, out = Tracker3D(), []
    aligner = locator = None
    with source:
        while True:
            try:
                fs = source.read(1000)
            except SourceEnded:
                break
            if aligner is None:
                aligner = DepthAligner(fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color, GRID)
                locator = ObjectLocator(fs.color_intrinsics, GRID)
            depth_m = aligner(fs.depth, fs.depth_scale).astype(np.float32) * np.float32(fs.depth_scale)
            mask = cv2.resize(source.ground_truth(fs), GRID[::-1], interpolation=cv2.INTER_AREA)
            if grow_px:
                mask = cv2.dilate(mask, np.ones((2 * grow_px + 1,) * 2, np.uint8))
            objects = find_objects(mask.astype(np.float32) / 255.0, depth_m, (640, 480), locate=locator)
            objects = tracker.update(objects, fs.color_timestamp_ms)
            out.append((objects[0], source.object_truth(fs)))
    return out


def distance_errors(pairs) -> np.ndarray:
    return np.array(
        [(np.linalg.norm(o.position_m) - np.linalg.norm(t.position_m)) / np.linalg.norm(t.position_m) for o, t in pairs]
    )


@pytest.mark.parametrize("grow_px", [0, 2])
def test_centroid_within_2_percent_of_the_true_distance(grow_px):
    # 6 scenes, panning; camouflaged ones included (depth is what locates them)
    pairs = run(SyntheticSource(seed=5, frames=36, scene_seconds=0.2, camouflage_ratio=0.5), grow_px)
    errors = distance_errors(pairs)
    assert np.all(np.abs(errors) < 0.02), errors
    assert np.abs(errors).mean() < 0.01
    for obj, truth in pairs:
        assert np.linalg.norm(np.subtract(obj.position_m, truth.position_m)) < 0.03
        # the trimmed extent is a little smaller than the visible surface's full extent, never larger
        assert all(0.6 * t < e <= t + 0.01 for e, t in zip(obj.extent_m[:2], truth.extent_m[:2], strict=True))
        assert obj.valid_depth_share > 0.5


def test_a_smoothly_moving_object_keeps_one_track_id_and_its_velocity_is_right():
    pairs = run(SyntheticSource(seed=1, frames=75, motion="object", scene_seconds=100.0))
    assert {o.track_id for o, _ in pairs} == {1}  # one id for the whole recording, no switch
    errors = distance_errors(pairs)
    assert np.all(np.abs(errors) < 0.02)
    truth = np.array([t.position_m for _, t in pairs])
    assert np.ptp(truth, axis=0).max() > 0.05  # it really moved
    # velocity against the truth's central difference over ±5 frames (1/3 s at 30 fps)
    true_v = (truth[10:] - truth[:-10]) * 30.0 / 10.0
    est_v = np.array([o.velocity_mps for o, _ in pairs[5:-5]])
    assert np.abs(est_v - true_v).mean() < 0.02  # m/s
    assert np.abs(est_v - true_v).max() < 0.08


def test_truth_agrees_with_the_depth_the_camera_reports():
    src = SyntheticSource(seed=2, frames=4, motion="object", scene_seconds=100.0)
    with src:
        fs = src.read(1000)
        truth = src.object_truth(fs)
    mask = src.ground_truth(fs) > 0
    assert truth.pixels == int(mask.sum())
    # the depth frame aligned at full colour resolution, inside the (eroded) mask: the truth's mean depth
    aligned = DepthAligner(fs.depth_intrinsics, fs.color_intrinsics, fs.depth_to_color, (480, 640))(fs.depth, 1.0)
    core = cv2.erode(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    z = aligned[core & (aligned > 0)].astype(np.float64) * fs.depth_scale
    assert z.size > 0.5 * core.sum()
    assert np.mean(z) == pytest.approx(truth.position_m[2], rel=0.01)
    # and the truth's x, y are the deprojected mask centre at that depth
    v, u = np.nonzero(mask)
    ci = fs.color_intrinsics
    assert truth.position_m[0] == pytest.approx((u.mean() - ci.ppx) / ci.fx * truth.position_m[2], rel=0.05, abs=0.005)


def test_posed_render_moves_only_the_salient_object():
    base = SceneGenerator(240, 320, seed=7, camouflage_ratio=0.0).sample()
    same = SceneGenerator(240, 320, seed=7, camouflage_ratio=0.0).sample(salient_pose=(0.0, 0.0, 0.0))
    assert np.array_equal(base.rgb, same.rgb) and np.array_equal(base.depth, same.depth)
    moved = SceneGenerator(240, 320, seed=7, camouflage_ratio=0.0).sample(salient_pose=(20.0, -5.0, 0.2))
    ys, xs = np.nonzero(base.mask)
    ym, xm = np.nonzero(moved.mask)
    assert xm.mean() - xs.mean() == pytest.approx(20.0, abs=1.5) and ym.mean() - ys.mean() == pytest.approx(-5, abs=1.5)
    z_base, z_moved = base.true_depth[base.mask > 0].mean(), moved.true_depth[moved.mask > 0].mean()
    assert z_moved - z_base == pytest.approx(0.2, abs=0.01)
    assert moved.mask.sum() < base.mask.sum() * (z_base / z_moved) ** 2 * 1.05  # farther: smaller
    # away from both positions the scene did not change
    far = cv2.dilate(((base.mask > 0) | (moved.mask > 0)).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    assert np.array_equal(base.true_depth[far], moved.true_depth[far])
