"""3D placement of objects: analytic planes on the model grid, holes, edge pixels, transforms, points."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from mutualsense.results import find_objects
from mutualsense.sources.frameset import Intrinsics
from mutualsense.spatial.objects3d import ObjectLocator, TransformError, grid_rays, load_transform, validate_transform

COLOR = Intrinsics(640, 480, 615.0, 615.0, 319.5, 239.5)
GRID = (192, 192)


def patch_scene(centre=(0.1, -0.05), half=(0.1, 0.08), z=1.0, z_bg=3.0):
    """A fronto-parallel rectangle at depth z in front of a wall at z_bg, on the grid: (inside, depth_m)."""
    rx, ry = grid_rays(COLOR, GRID)
    x, y = rx[None, :] * z, ry[:, None] * z
    inside = (np.abs(x - centre[0]) < half[0]) & (np.abs(y - centre[1]) < half[1])
    depth = np.where(inside, np.float32(z), np.float32(z_bg)).astype(np.float32)
    return inside, depth


def test_grid_rays_match_the_aligner_convention():
    # The grid's pixel centres, mapped back to colour pixels and deprojected, reproject exactly.
    rx, ry = grid_rays(COLOR, GRID)
    col, row = 57, 140
    u = (col + 0.5) * COLOR.width / GRID[1] - 0.5
    v = (row + 0.5) * COLOR.height / GRID[0] - 0.5
    assert COLOR.fx * rx[col] + COLOR.ppx == pytest.approx(u, abs=1e-4)
    assert COLOR.fy * ry[row] + COLOR.ppy == pytest.approx(v, abs=1e-4)
    # The image centre's ray is the optical axis.
    assert rx[GRID[1] // 2 - 1] < 0 < rx[GRID[1] // 2]


def test_plane_patch_with_holes_and_a_mask_too_large():
    inside, depth = patch_scene()
    rng = np.random.default_rng(0)
    holes = rng.random(depth.shape) < 0.3
    depth[holes] = 0.0
    # The mask overshoots by two grid pixels all round: its rim sees the wall at 3 m.
    mask = cv2.dilate(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32)
    locator = ObjectLocator(COLOR, GRID)
    (obj,) = find_objects(mask, depth, (640, 480), 0.5, locate=locator)
    x, y, z = obj.position_m
    assert z == pytest.approx(1.0, abs=1e-6)  # the wall's pixels were all cut off
    assert x == pytest.approx(0.1, abs=0.006) and y == pytest.approx(-0.05, abs=0.006)  # one grid pixel ≈ 5 mm
    ex, ey, ez = obj.extent_m
    assert 0.17 < ex <= 0.2 and 0.13 < ey <= 0.16 and ez == pytest.approx(0.0, abs=1e-6)
    assert obj.valid_depth_share == pytest.approx(0.7, abs=0.05)
    assert obj.points_m is None  # nobody asked
    # the 2D fields are untouched by the locator
    (plain,) = find_objects(mask, depth, (640, 480), 0.5)
    assert plain.box == obj.box and plain.position_m is None


def test_noisy_tilted_surface_mean_matches_the_true_centroid():
    # A plane tilted about the vertical axis (z grows with x), depth noise of 1 cm, 1 % flying pixels.
    rx, ry = grid_rays(COLOR, GRID)
    z0, slope = 1.2, 0.3  # z = z0 + slope * x  →  z = z0 / (1 - slope * rx)
    z = np.broadcast_to(z0 / (1 - slope * rx[None, :]), GRID).astype(np.float32)
    x, y = rx[None, :] * z, ry[:, None] * z
    inside = (np.abs(x - 0.05) < 0.12) & (np.abs(y) < 0.1)
    true = np.array([x[inside].mean(), y[inside].mean(), z[inside].mean()])
    rng = np.random.default_rng(1)
    noisy = (z + rng.normal(0, 0.01, z.shape)).astype(np.float32)
    flying = rng.random(z.shape) < 0.01
    noisy[flying] = rng.uniform(0.3, 5.0, int(flying.sum()))
    locator = ObjectLocator(COLOR, GRID)
    (obj,) = find_objects(inside.astype(np.float32), noisy, (640, 480), 0.5, locate=locator)
    dist_err = abs(np.linalg.norm(obj.position_m) - np.linalg.norm(true)) / np.linalg.norm(true)
    assert dist_err < 0.005
    assert np.allclose(obj.position_m, true, atol=0.01)


def test_robot_frame_is_the_transformed_camera_frame():
    inside, depth = patch_scene()
    # camera optical frame → a robot base frame (x forward, y left, z up), camera 0.5 m up, 0.1 m forward
    t = np.array([[0, 0, 1, 0.1], [-1, 0, 0, 0.0], [0, -1, 0, 0.5], [0, 0, 0, 1]], np.float64)
    locator = ObjectLocator(COLOR, GRID, camera_to_robot=t, max_points=500)
    (obj,) = find_objects(inside.astype(np.float32), depth, (640, 480), 0.5, locate=locator)
    expected = t[:3, :3] @ np.array(obj.position_m) + t[:3, 3]
    assert np.allclose(obj.position_robot_m, expected, atol=1e-5)
    assert obj.position_robot_m[0] == pytest.approx(1.1, abs=1e-5)  # 1 m in front of the camera
    # the patch is wide along the camera's x = the robot's -y, tall along camera y = robot -z
    assert obj.extent_robot_m == pytest.approx((obj.extent_m[2], obj.extent_m[0], obj.extent_m[1]), abs=1e-5)
    pts = obj.points_m
    assert pts.dtype == np.float32 and pts.shape[1] == 3 and 250 <= len(pts) <= 500
    assert np.all(np.abs(pts[:, 2] - 1.0) < 1e-6) and np.all(np.abs(pts[:, 0] - 0.1) < 0.1)


def test_too_little_depth_gives_no_position_but_a_share():
    inside, depth = patch_scene()
    depth[inside] = 0.0
    depth[np.nonzero(inside)[0][:3], np.nonzero(inside)[1][:3]] = 1.0
    (obj,) = find_objects(inside.astype(np.float32), depth, (640, 480), 0.5, locate=ObjectLocator(COLOR, GRID))
    assert obj.position_m is None and obj.extent_m is None
    assert 0.0 <= obj.valid_depth_share < 0.01


@pytest.mark.parametrize(
    ("matrix", "needle"),
    [
        ([[1, 0, 0], [0, 1, 0], [0, 0, 1]], "must be 4x4"),
        (np.diag([2.0, 1, 1, 1]), "not a rotation"),
        (np.diag([-1.0, 1, 1, 1]), "not a rotation"),
        ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], "last row"),
        ([[1, 0, 0, math.nan], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "non-finite"),
        ("eye", "not a matrix"),
    ],
)
def test_bad_transforms_are_refused(matrix, needle):
    with pytest.raises(TransformError, match=needle) as info:
        validate_transform(matrix)
    assert info.value.remedy


def test_load_transform_json_forms(tmp_path):
    m = np.eye(4)
    m[:3, 3] = (0.1, 0.2, 0.3)
    (tmp_path / "a.json").write_text(json.dumps(m.tolist()))
    (tmp_path / "b.json").write_text(json.dumps({"matrix": m.tolist()}))
    assert np.array_equal(load_transform(tmp_path / "a.json"), m)
    assert np.array_equal(load_transform(tmp_path / "b.json"), m)
    with pytest.raises(TransformError, match="cannot read"):
        load_transform(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TransformError):
        load_transform(tmp_path / "bad.json")


def test_load_transform_yaml(tmp_path):
    pytest.importorskip("yaml", reason="PyYAML is optional; JSON transforms need nothing")
    rows = ["[1, 0, 0, 0.5]", "[0, 1, 0, 0]", "[0, 0, 1, 0]", "[0, 0, 0, 1]"]
    (tmp_path / "t.yaml").write_text("matrix:\n" + "".join(f"  - {r}\n" for r in rows))
    assert load_transform(tmp_path / "t.yaml")[0, 3] == 0.5
