"""Our depth→colour reprojection against librealsense's own ``rs.align`` on the same recorded frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

rs = pytest.importorskip("pyrealsense2", reason="pyrealsense2 is not installed (pip install mutualsense[realsense])")

from mutualsense.align import DepthAligner  # noqa: E402
from mutualsense.sources import SyntheticSource, record  # noqa: E402
from mutualsense.sources._rs import extrinsics_of, intrinsics_of  # noqa: E402


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("align") / "align.db3"
    record(SyntheticSource(color=(320, 240), depth=(424, 240), seed=5), out, frames=6)
    return out


def rs_framesets(path: Path, n: int) -> list:
    pipe, cfg = rs.pipeline(), rs.config()
    cfg.enable_device_from_file(str(path), repeat_playback=False)
    profile = pipe.start(cfg)
    profile.get_device().as_playback().set_real_time(False)
    align = rs.align(rs.stream.color)
    out = []
    try:
        for _ in range(n):
            ok, frames = pipe.try_wait_for_frames(2000)
            if not ok:
                break
            depth, color = frames.get_depth_frame(), frames.get_color_frame()
            if not depth or not color:
                continue
            aligned = align.process(frames).get_depth_frame()
            out.append(
                (
                    np.asanyarray(depth.get_data()).copy(),
                    depth.get_units(),
                    intrinsics_of(depth.get_profile()),
                    intrinsics_of(color.get_profile()),
                    extrinsics_of(depth.get_profile(), color.get_profile()),
                    np.asanyarray(aligned.get_data()).copy(),
                )
            )
    finally:
        pipe.stop()
    return out


def test_reprojection_matches_rs_align_at_colour_resolution(recording: Path) -> None:
    sets = rs_framesets(recording, 4)
    assert sets, "no frameset came out of the recording"
    for depth, units, di, ci, extr, expected in sets:
        ours = DepthAligner(di, ci, extr, (ci.height, ci.width))(depth, units)
        both = (ours > 0) & (expected > 0)
        assert both.mean() > 0.8, f"only {both.mean():.0%} of pixels have depth in both"
        rel = np.abs(ours[both].astype(np.float64) - expected[both]) / expected[both]
        assert np.median(rel) < 0.005
        # rs.align splats each depth pixel over the colour pixels between its projected corners; we
        # map its centre. On noisy depth the two can pick a neighbouring sample: allow one pixel.
        padded = np.pad(expected.astype(np.float64), 1)
        h, w = expected.shape
        near = np.stack([padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
        best = np.min(np.abs(near - ours.astype(np.float64)), axis=0)[both] / expected[both]
        assert (best < 0.002).mean() > 0.97, f"{(best < 0.002).mean():.3f}"
        # and the coverage agrees: where librealsense finds depth, so do we
        assert (ours[expected > 0] > 0).mean() > 0.95


def test_reprojection_into_the_model_grid_matches_downsampled_rs_align(recording: Path) -> None:
    import cv2

    depth, units, di, ci, extr, expected = rs_framesets(recording, 1)[0]
    ours = DepthAligner(di, ci, extr, (96, 128))(depth, units)
    ref = cv2.resize(expected, (128, 96), interpolation=cv2.INTER_NEAREST)
    both = (ours > 0) & (ref > 0)
    rel = np.abs(ours[both].astype(np.float64) - ref[both]) / ref[both]
    assert both.mean() > 0.8 and np.median(rel) < 0.01 and (rel < 0.05).mean() > 0.9
