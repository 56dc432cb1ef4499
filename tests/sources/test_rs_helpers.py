"""Conversions between librealsense structures and ours."""

from __future__ import annotations

import numpy as np
import pytest

rs = pytest.importorskip("pyrealsense2", reason="pyrealsense2 is not installed (pip install mutualsense[realsense])")

from mutualsense.sources._rs import rs_rotation  # noqa: E402
from mutualsense.sources.frameset import Extrinsics  # noqa: E402


def test_rotation_is_converted_between_column_and_row_major() -> None:
    angle = np.deg2rad(10)
    row_major = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    ours = Extrinsics(tuple(row_major.reshape(-1)), (0.015, 0.0, 0.0))
    e = rs.extrinsics()
    e.rotation = rs_rotation(ours)
    # librealsense documents rotation as column-major: element [row 0, col 1] sits at index 3
    assert e.rotation[3] == pytest.approx(row_major[0, 1])
    from mutualsense.sources._rs import extrinsics_of

    class Profile:
        def get_extrinsics_to(self, other: object) -> object:
            return e

    back = extrinsics_of(Profile(), None)
    np.testing.assert_allclose(np.asarray(back.rotation).reshape(3, 3), row_major, atol=1e-6)
