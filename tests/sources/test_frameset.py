"""FrameSet, Intrinsics and Extrinsics validate what crosses module boundaries."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mutualsense.sources import Extrinsics, FrameSet, Intrinsics


def make(**over) -> FrameSet:
    kw = {
        "color": np.zeros((4, 6, 3), np.uint8),
        "depth": np.zeros((2, 3), np.uint16),
        "depth_scale": 0.001,
        "color_intrinsics": Intrinsics(6, 4, 5.0, 5.0, 2.5, 1.5),
        "depth_intrinsics": Intrinsics(3, 2, 2.5, 2.5, 1.0, 0.5),
        "depth_to_color": Extrinsics(translation=(0.015, 0, 0)),
        "color_timestamp_ms": 107.0,
        "depth_timestamp_ms": 100.0,
        "clock_domain": "global_time",
        "arrival_time": 1.0,
    }
    kw.update(over)
    return FrameSet(**kw)


def test_a_valid_frameset() -> None:
    fs = make()
    assert fs.skew_ms == 7.0
    assert not fs.color.flags.writeable and not fs.depth.flags.writeable
    shifted = dataclasses.replace(fs, depth_timestamp_ms=110.0)
    assert shifted.skew_ms == -3.0


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"color": np.zeros((4, 6, 3), np.float32)}, "uint8 RGB"),
        ({"color": np.zeros((4, 6), np.uint8)}, "uint8 RGB"),
        ({"depth": np.zeros((2, 3), np.float32)}, "uint16"),
        ({"depth": np.zeros((3, 3), np.uint16)}, "intrinsics say 3x2"),
        ({"color": np.zeros((5, 6, 3), np.uint8)}, "color is 6x5"),
        ({"depth_scale": 0.0}, "positive"),
        ({"depth_scale": float("nan")}, "finite"),
        ({"clock_domain": "wall"}, "clock_domain"),
        ({"color_timestamp_ms": float("inf")}, "finite"),
        ({"depth_to_color": (1, 0, 0)}, "Extrinsics"),
    ],
)
def test_invalid_framesets_are_refused(over: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**over)


def test_intrinsics_and_extrinsics() -> None:
    k = Intrinsics(640, 480, 615.0, 615.0, 319.5, 239.5)
    assert k.matrix[0, 2] == 319.5 and k.size == (640, 480)
    assert hash(k) == hash(Intrinsics(640, 480, 615, 615, 319.5, 239.5))
    with pytest.raises(ValueError):
        Intrinsics(0, 480, 615.0, 615.0, 0, 0)
    with pytest.raises(ValueError):
        Intrinsics(640, 480, -1.0, 615.0, 0, 0)
    e = Extrinsics(np.eye(3), (0.015, 0.0, 0.0))
    assert e.rotation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    assert e.matrix[0, 3] == 0.015 and Extrinsics.identity().matrix.tolist() == np.eye(4).tolist()
    with pytest.raises(ValueError):
        Extrinsics((1, 0, 0), (0, 0, 0))
