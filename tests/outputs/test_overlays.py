"""Overlay pictures: the viewer's panel (boxes, distances, labels), never over a picture already in the folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

from mutualsense.outputs.overlays import PANEL_WIDTH, OverlayWriter
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
                    model_saliency=mask.astype(np.float32) / 255.0,
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


def _write(writer: OverlayWriter, results: list[SaliencyResult], cameras: int = 1) -> None:
    stream = SimpleNamespace(cameras=[None] * cameras)  # what the sink reads of the stream
    writer.on_start(stream)  # type: ignore[arg-type]
    for r in results:
        writer.on_result(r, stream)  # type: ignore[arg-type]
    writer.on_stop()


def test_each_picture_is_the_viewers_panel_of_its_result(tmp_path: Path) -> None:
    results = _results(6)
    writer = OverlayWriter(tmp_path / "pics", max_pending=16)
    _write(writer, results)
    names = sorted(p.name for p in (tmp_path / "pics").iterdir())
    assert names == [f"result_{i + 1:06d}_frame_{r.color_frame_number:06d}.jpg" for i, r in enumerate(results)]
    panels = [compose_panel(r, PANEL_WIDTH).astype(int) for r in results]
    for i, name in enumerate(names):  # the JPEG of that very result's panel
        picture = cv2.imread(str(tmp_path / "pics" / name))[..., ::-1].astype(int)
        errors = [float(np.abs(picture - p).mean()) for p in panels]
        # JPEG of noisy little images: a few levels off; another scene's panel is far off
        assert errors[i] < 10 and errors[i] <= min(errors) + 1.0 and max(errors) > 5 * errors[i], errors
    bare = compose_panel(dataclasses.replace(results[0], objects=()), PANEL_WIDTH)
    assert np.abs(bare.astype(int) - panels[0]).max() > 100  # the boxes and distances are drawn


def test_a_second_run_never_overwrites_the_first_nor_the_users_files(tmp_path: Path) -> None:
    mine = tmp_path / "result_000002_frame_000000.jpg"
    mine.write_bytes(b"the user's own file, by chance of such a name")
    for _ in range(2):
        _write(OverlayWriter(tmp_path, max_pending=16), _results(3))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 7 and mine.read_bytes().startswith(b"the user's own file")
    assert [n.split("_")[1] for n in names] == [f"{i:06d}" for i in range(2, 9)]  # numbering goes on after it


def test_several_cameras_are_named_apart(tmp_path: Path) -> None:
    _write(OverlayWriter(tmp_path, max_pending=16), _results(2, "camera:123") + _results(2, "run.db3"), cameras=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "camera_123_result_000001_frame_000000.jpg",
        "camera_123_result_000002_frame_000001.jpg",
        "run.db3_result_000001_frame_000000.jpg",
        "run.db3_result_000002_frame_000001.jpg",
    ]
