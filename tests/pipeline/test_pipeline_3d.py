"""The stream's 3D step end to end: the demo model on a generated recording with a moving object."""

from __future__ import annotations

import numpy as np
import pytest

import mutualsense
from mutualsense.sources import SyntheticSource
from mutualsense.spatial.objects3d import TransformError


@pytest.fixture(scope="module")
def demo_bundle(tiny_bundle):
    from mutualsense.export import DEMO_WEIGHTS

    if not DEMO_WEIGHTS.exists():
        pytest.skip("needs the shipped demo weights (an untrained model finds no objects to locate)")
    return tiny_bundle


def test_demo_model_locates_and_tracks_a_moving_object(demo_bundle):
    source = SyntheticSource(seed=1, frames=45, motion="object", scene_seconds=100.0, camouflage_ratio=0.0)
    t = np.array([[0, 0, 1, 0.1], [-1, 0, 0, 0.0], [0, -1, 0, 0.5], [0, 0, 0, 1]], np.float64)
    errors, ids = [], []
    with mutualsense.open(demo_bundle, source=source, points=256, camera_to_robot=t) as stream:
        for r in stream:
            truth = source.object_truth(r.frameset)
            located = [o for o in r.objects if o.position_m is not None]
            assert located and truth is not None
            o = min(located, key=lambda o: np.linalg.norm(np.subtract(o.position_m, truth.position_m)))
            errors.append(abs(np.linalg.norm(o.position_m) / np.linalg.norm(truth.position_m) - 1))
            ids.append(o.track_id)
            assert np.allclose(o.position_robot_m, t[:3, :3] @ o.position_m + t[:3, 3], atol=1e-4)
            assert o.points_m is not None and 0 < len(o.points_m) <= 256 and o.points_m.dtype == np.float32
            assert r.camera_to_robot is not None
    assert len(ids) == 45 and set(ids) == {ids[0]}  # one identity for the whole recording
    assert max(errors) < 0.02


def test_3d_off_and_no_points_by_default(demo_bundle):
    source = SyntheticSource(seed=1, frames=3)
    with mutualsense.open(demo_bundle, source=source, objects_3d=False) as stream:
        for r in stream:
            assert all(o.position_m is None and o.track_id is None for o in r.objects)
    with mutualsense.open(demo_bundle, source=SyntheticSource(seed=1, frames=3)) as stream:
        results = list(stream)
    assert any(o.position_m is not None for r in results for o in r.objects)
    assert all(o.points_m is None and o.position_robot_m is None for r in results for o in r.objects)


def test_bad_transform_is_refused_before_anything_runs(demo_bundle):
    with pytest.raises(TransformError, match="4x4"):
        mutualsense.open(demo_bundle, source="synthetic", camera_to_robot=np.eye(3))


def test_a_recorded_moving_object_keeps_one_id_through_pyrealsense2(demo_bundle, tmp_path):
    pytest.importorskip("pyrealsense2", reason="recordings need pyrealsense2")
    from mutualsense.sources import open_source, record

    spec = "synthetic?motion=object&scene_s=100&real_time=0&color=320x240&depth=320x240&seed=1"
    record(open_source(spec), tmp_path / "moving.db3", frames=20)
    ids = []
    with mutualsense.open(demo_bundle, source=str(tmp_path / "moving.db3")) as stream:
        for r in stream:
            located = [o for o in r.objects if o.position_m is not None]
            assert located
            ids.append(max(located, key=lambda o: o.area_fraction).track_id)
    assert len(ids) == 20 and set(ids) == {ids[0]}
