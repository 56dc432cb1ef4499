"""The data spec (--data, --eval-data): one parser and one reader for evaluate, calibrate, the gate and train."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mutualsense.errors import DataError
from mutualsense.evaluation.data import EVAL_SEED, DataSpec, iter_frames, labelled_frames, parse_data_spec
from mutualsense.evaluation.synthetic import SceneGenerator
from mutualsense.preprocess import InputSpec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SPEC = InputSpec(height=64, width=64)


def test_synthetic_with_and_without_query() -> None:
    assert parse_data_spec("synthetic") == DataSpec("synthetic", "synthetic")
    parsed = parse_data_spec("synthetic?count=7&seed=3")
    assert (parsed.kind, parsed.count, parsed.seed) == ("synthetic", 7, 3)
    assert parsed.resolve(100, EVAL_SEED) == (7, 3) and parse_data_spec("synthetic").resolve(100, 1) == (100, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("synthetic?cuont=3", "unknown key 'cuont'"),
        ("synthetic?count=x", "count must be an integer"),
        ("synthetic?count=0", "count must be at least 1"),
        ("synthetic?seed=-1", "seed must be at least 0"),
        ("no/such/folder", "is not 'synthetic', a dataset folder or a .db3/.bag recording (no such file"),
    ],
)
def test_bad_specs_say_what_and_how(text: str, message: str) -> None:
    with pytest.raises(DataError) as info:
        parse_data_spec(text)
    assert message in info.value.what and info.value.remedy
    if "cuont" in text:
        assert "did you mean 'count'" in (info.value.remedy or "")


def test_generated_scenes_follow_the_spec_seed() -> None:
    frames = list(labelled_frames("synthetic?count=2&seed=9", SPEC))
    scene = SceneGenerator(64, 64, seed=9).sample()
    assert len(frames) == 2 and np.array_equal(frames[0].rgb, scene.rgb) and np.array_equal(frames[0].mask, scene.mask)
    assert [f.rgb.tobytes() for f in iter_frames("synthetic", 2, 9, SPEC)] == [f.rgb.tobytes() for f in frames]


def test_recordings_and_folders_of_them(tmp_path: Path) -> None:
    bag = FIXTURES / "tiny.bag"
    assert parse_data_spec(bag).recordings == (bag,)
    folder = tmp_path / "runs"
    folder.mkdir()
    for name in ("b.bag", "a.bag"):
        shutil.copy(bag, folder / name)
    parsed = parse_data_spec(str(folder))
    assert parsed.kind == "recordings" and [p.name for p in parsed.recordings] == ["a.bag", "b.bag"]
    (tmp_path / "dataset").mkdir()
    assert parse_data_spec(tmp_path / "dataset").kind == "dataset"


def test_a_recording_needs_a_reference_model_for_masks() -> None:
    with pytest.raises(DataError, match="carry no ground truth"):
        list(labelled_frames(FIXTURES / "tiny.bag", SPEC, 2))
    calls = []

    def reference(rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        calls.append((rgb.shape, depth.shape))
        return np.where(np.arange(64)[None, None, None, :] < 32, 5.0, -5.0) * np.ones((1, 1, 64, 64))

    frames = list(labelled_frames(FIXTURES / "tiny.bag", SPEC, 2, reference=reference))
    assert len(frames) == 2 and calls == [((1, 3, 64, 64), (1, 1, 64, 64))] * 2
    f = frames[0]
    assert f.encoding == "metric" and f.depth.shape == (64, 64) and f.depth_scale
    assert (f.mask[:, :32] == 255).all() and (f.mask[:, 32:] == 0).all()
