"""Reading RGB-D SOD dataset folders (RGB/, depth/, GT/ matched by file stem)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mutualsense.errors import DataError
from mutualsense.evaluation.datasets import RgbdSodDataset, Sample

H, W = 24, 32


def _colour(seed: int) -> np.ndarray:
    """An RGB image whose channels differ, so a BGR/RGB mix-up shows."""
    rng = np.random.default_rng(seed)
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0] = 200  # red
    rgb[..., 1] = rng.integers(0, 100, (H, W))
    rgb[..., 2] = 30  # blue
    return rgb


def _depth(seed: int, dtype: type = np.uint8) -> np.ndarray:
    hi = 65535 if dtype == np.uint16 else 255
    return np.random.default_rng(seed).integers(0, hi, (H, W), endpoint=True).astype(dtype)


def _gt() -> np.ndarray:
    gt = np.zeros((H, W), np.uint8)
    gt[:, 8:16] = 127  # just below the threshold: background
    gt[:, 16:24] = 128  # at the threshold: object
    gt[:, 24:] = 250
    return gt


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def make_dataset(
    root: Path,
    names: list[str],
    folders: tuple[str, str, str] = ("RGB", "depth", "GT"),
    exts: tuple[str, str, str] = (".png", ".png", ".png"),
    depth_dtype: type = np.uint8,
) -> Path:
    for i, name in enumerate(names):
        _write(root / folders[0] / f"{name}{exts[0]}", cv2.cvtColor(_colour(i), cv2.COLOR_RGB2BGR))
        _write(root / folders[1] / f"{name}{exts[1]}", _depth(i, depth_dtype))
        _write(root / folders[2] / f"{name}{exts[2]}", _gt())
    return root


# ---------------------------------------------------------------------------------- reading
def test_reads_matched_samples_in_natural_order(tmp_path: Path) -> None:
    ds = RgbdSodDataset(make_dataset(tmp_path, ["10", "2", "1", "img_3"]))
    assert len(ds) == 4
    assert ds.names == ["1", "2", "10", "img_3"]
    sample = ds[1]
    assert isinstance(sample, Sample) and sample.name == "2"
    # "2" was written as the second file, i.e. with seed 1.
    np.testing.assert_array_equal(sample.rgb, _colour(1))
    np.testing.assert_array_equal(sample.depth, _depth(1))
    assert sample.rgb.dtype == np.uint8 and sample.rgb.shape == (H, W, 3)
    assert sample.depth.dtype == np.uint8 and sample.depth.shape == (H, W)


def test_colour_is_returned_in_rgb_order(tmp_path: Path) -> None:
    sample = RgbdSodDataset(make_dataset(tmp_path, ["a"]))[0]
    assert (sample.rgb[..., 0] == 200).all() and (sample.rgb[..., 2] == 30).all()


def test_ground_truth_is_binarised_at_128(tmp_path: Path) -> None:
    mask = RgbdSodDataset(make_dataset(tmp_path, ["a"]))[0].mask
    assert mask.dtype == np.uint8 and mask.shape == (H, W)
    assert (mask[:, :16] == 0).all()
    assert (mask[:, 16:] == 255).all()


def test_sixteen_bit_depth_is_kept(tmp_path: Path) -> None:
    ds = RgbdSodDataset(make_dataset(tmp_path, ["a", "b"], depth_dtype=np.uint16))
    depth = ds[1].depth
    assert depth.dtype == np.uint16
    np.testing.assert_array_equal(depth, _depth(1, np.uint16))
    assert depth.max() > 255


def test_folder_names_are_case_insensitive_and_extensions_vary(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, ["x", "y"], folders=("rgb", "Depth", "gt"), exts=(".jpg", ".bmp", ".bmp"))
    ds = RgbdSodDataset(root)
    assert ds.names == ["x", "y"]
    sample = ds[0]
    means = sample.rgb.reshape(-1, 3).mean(axis=0)  # JPEG is lossy: compare channel means
    assert abs(means[0] - 200) < 10 and abs(means[2] - 30) < 10
    np.testing.assert_array_equal(sample.depth, _depth(0))
    assert (sample.mask[:, 16:] == 255).all() and (sample.mask[:, :16] == 0).all()


def test_stray_files_are_ignored(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, ["a"])
    (root / "RGB" / "Thumbs.db").write_bytes(b"junk")
    (root / "GT" / ".DS_Store").write_bytes(b"junk")
    (root / "depth" / "notes.txt").write_text("hello")
    (root / "extra").mkdir()
    assert RgbdSodDataset(root).names == ["a"]


def test_depth_and_gt_are_resized_to_the_colour_size(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, ["a"])
    small_depth = np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 300
    _write(root / "depth" / "a.png", small_depth)
    _write(root / "GT" / "a.png", cv2.resize(_gt(), (16, 12), interpolation=cv2.INTER_NEAREST))
    sample = RgbdSodDataset(root)[0]
    assert sample.depth.shape == (H, W) and sample.depth.dtype == np.uint16
    assert set(np.unique(sample.depth)) <= set(np.unique(small_depth))  # nearest: no new values
    assert sample.mask.shape == (H, W)
    assert set(np.unique(sample.mask)) == {0, 255}


def test_indexing_negative_slice_and_out_of_range(tmp_path: Path) -> None:
    ds = RgbdSodDataset(make_dataset(tmp_path, ["a", "b", "c"]))
    assert ds[-1].name == "c"
    assert ds[np.int64(1)].name == "b"
    assert [s.name for s in ds[::2]] == ["a", "c"]
    assert [s.name for s in ds] == ["a", "b", "c"]
    with pytest.raises(IndexError):
        ds[3]


# ---------------------------------------------------------------------------------- errors
def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as info:
        RgbdSodDataset(tmp_path / "nowhere")
    assert "nowhere" in str(info.value) and info.value.remedy


def test_root_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(DataError, match="is not a folder"):
        RgbdSodDataset(path)


def test_missing_subfolder_names_the_expected_folders(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, ["a"])
    for path in (root / "GT").iterdir():
        path.unlink()
    (root / "GT").rmdir()
    with pytest.raises(DataError) as info:
        RgbdSodDataset(root)
    message = str(info.value)
    assert "no GT/ folder" in message
    assert "RGB/, depth/ and GT/" in message
    assert "found: RGB/, depth/" in message


def test_empty_subfolder(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, ["a"])
    for path in (root / "depth").iterdir():
        path.unlink()
    with pytest.raises(DataError, match="holds no images") as info:
        RgbdSodDataset(root)
    assert "depth" in info.value.what


def test_mismatched_stems_are_listed_per_folder(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, ["a", "b"])
    for i in range(13):
        _write(root / "RGB" / f"extra{i}.png", _colour(i))
    _write(root / "GT" / "lonely.png", _gt())
    with pytest.raises(DataError) as info:
        RgbdSodDataset(root)
    what = info.value.what
    assert "RGB/ has 13 without a match: extra0.png, extra1.png" in what
    assert "extra9.png (and 3 more)" in what and "extra10.png" not in what
    assert "GT/ has 1 without a match: lonely.png" in what
    assert "depth/" not in what
    assert "same name" in info.value.remedy


def test_duplicate_stems_in_one_folder(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, ["a"])
    _write(root / "RGB" / "a.jpg", _colour(0))
    with pytest.raises(DataError, match="two files with the stem 'a'"):
        RgbdSodDataset(root)


def test_corrupt_file_is_named_when_read(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, ["a", "b"])
    (root / "depth" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    ds = RgbdSodDataset(root)  # scanning does not decode
    assert ds[0].name == "a"
    with pytest.raises(DataError, match="cannot decode") as info:
        ds[1]
    assert str(root / "depth" / "b.png") in info.value.what


def test_empty_file_is_a_data_error(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, ["a"])
    (root / "GT" / "a.png").write_bytes(b"")
    with pytest.raises(DataError, match="a.png"):
        RgbdSodDataset(root)[0]


def test_file_removed_after_scanning(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, ["a"])
    ds = RgbdSodDataset(root)
    (root / "RGB" / "a.png").unlink()
    with pytest.raises(DataError, match="cannot read"):
        ds[0]
