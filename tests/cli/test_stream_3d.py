"""`mutualsense stream` with the 3D options: --robot-transform, --points, --smooth-ms, --no-objects-3d."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import cli_in_process


def test_stream_with_robot_transform_and_points(tiny_bundle, tmp_path, capsys):
    t = np.eye(4)
    t[:3, 3] = (0.1, 0.0, 0.5)
    (tmp_path / "cam2base.json").write_text(json.dumps({"matrix": t.tolist()}))
    out = tmp_path / "overlays"
    code, text, err = cli_in_process(
        "stream",
        "--bundle",
        str(tiny_bundle.path),
        "--source",
        "synthetic?motion=object&scene_s=100&real_time=0&frames=4&color=320x240",
        "--robot-transform",
        str(tmp_path / "cam2base.json"),
        "--points",
        "64",
        "--smooth-ms",
        "50",
        "--save-overlay",
        str(out),
        "--max-frames",
        "3",
        capsys=capsys,
    )
    assert code == 0, err
    assert len(list(out.glob("*.jpg"))) == 3


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--points", "-1"], "--points takes a whole number ≥ 0"),
        (["--smooth-ms", "-5"], "--smooth-ms takes a number ≥ 0"),
        (["--no-objects-3d", "--points", "10"], "--no-objects-3d"),
    ],
)
def test_bad_3d_options_exit_2(tiny_bundle, tmp_path, capsys, args, needle):
    out = tmp_path / "overlays"
    code, _, err = cli_in_process(
        "stream",
        "--bundle",
        str(tiny_bundle.path),
        "--source",
        "synthetic",
        *args,
        "--save-overlay",
        str(out),
        capsys=capsys,
    )
    assert code == 2 and needle in " ".join(err.split()) and "Fix:" in err
    assert not out.exists()  # nothing written
