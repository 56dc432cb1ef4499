"""Overlay pictures: the viewer's panel, one file per result, never over an existing picture."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from mutualsense.errors import MutualSenseError
from mutualsense.outputs.overlays import PANEL_WIDTH, OverlayWriter, overlay_name
from mutualsense.outputs.visualize import compose_panel
from mutualsense.results import SaliencyResult, SalientObject
from mutualsense.sources.synthetic import SyntheticSource


def _results(n: int, source: str = "synthetic") -> list[SaliencyResult]:
    """Results whose saliency is the scene's ground truth, with a box and a distance on each object."""
    src = SyntheticSource(seed=4, color=(160, 120), depth=(106, 60), scene_seconds=0.1)
    out = []
    with src:
        for _ in range(n):
            fs = dataclasses.replace(src.read(), source=source)
            mask = src.ground_truth(fs)
            assert mask is not None
            ys, xs = np.nonzero(mask)
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            out.append(
                SaliencyResult(
                    saliency=mask.astype(np.float32) / 255.0,
                    objects=(SalientObject(box, 0.9, 0.1, 0.8, 1.0),),
                    threshold=0.5,
                    color_frame_number=fs.color_frame_number % 3,  # restarts, as a looping recording's does
                    depth_frame_number=fs.depth_frame_number,
                    color_timestamp_ms=fs.color_timestamp_ms,
                    depth_timestamp_ms=fs.depth_timestamp_ms,
                    clock_domain=fs.clock_domain,
                    skew_ms=0.0,
                    skew_flagged=False,
                    arrival_time=0.0,
                    result_time=0.0,
                    latency_ms={"total": 1.0},
                    source=source,
                    frameset=fs,
                )
            )
    return out


def test_one_picture_per_result_even_when_frame_numbers_restart(tmp_path: Path) -> None:
    results = _results(7)
    with OverlayWriter(tmp_path / "pics") as writer:
        for r in results:
            writer.submit(r)
    names = sorted(p.name for p in (tmp_path / "pics").iterdir())
    assert names == [overlay_name(i + 1, r.color_frame_number) for i, r in enumerate(results)]
    assert writer.written == 7
    panels = [compose_panel(r, PANEL_WIDTH).astype(int) for r in results]
    for i, name in enumerate(names):  # the JPEG of the viewer's panel of that very result
        picture = cv2.imread(str(tmp_path / "pics" / name))[..., ::-1].astype(int)
        errors = [float(np.abs(picture - p).mean()) for p in panels]
        # JPEG of noisy little images: a few levels off; another scene's panel is far off
        assert errors[i] < 10 and errors[i] <= min(errors) + 1.0 and max(errors) > 5 * errors[i], errors
    # the boxes and distances are drawn: the panel differs from one without objects
    bare = compose_panel(dataclasses.replace(results[0], objects=()), PANEL_WIDTH)
    assert np.abs(bare.astype(int) - panels[0]).max() > 100


def test_a_second_run_never_overwrites_the_first(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    mine = folder / overlay_name(2, 0)
    mine.write_bytes(b"the user's own file, by chance of the same name")
    results = _results(3)
    for _ in range(2):
        with OverlayWriter(folder) as writer:
            for r in results:
                writer.submit(r)
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 7  # the user's file + 3 + 3
    assert mine.read_bytes().startswith(b"the user's own file")
    assert [n.split("_")[1] for n in names] == [f"{i:06d}" for i in range(2, 9)]  # numbering goes on after it


def test_several_cameras_are_named_apart(tmp_path: Path) -> None:
    with OverlayWriter(tmp_path, per_camera_names=True) as writer:
        for r in _results(2, "camera:123") + _results(2, "run.db3"):
            writer.submit(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "camera-123_result_000001_frame_000000.jpg",
        "camera-123_result_000002_frame_000001.jpg",
        "run.db3_result_000001_frame_000000.jpg",
        "run.db3_result_000002_frame_000001.jpg",
    ]


def test_a_folder_that_cannot_be_written_is_an_error_not_silence(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    results = _results(3)
    with (
        pytest.raises(MutualSenseError, match="cannot write overlay pictures") as info,
        OverlayWriter(tmp_path / "afile" / "pics") as writer,
    ):
        for r in results:
            writer.submit(r)
    assert "--save-overlay" in info.value.what
