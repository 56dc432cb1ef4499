"""Writing bundles: the umask is honoured, and --overwrite replaces only a bundle or an empty folder."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import manifest_body

from mutualsense.bundle import MANIFEST, finalize_manifest, is_bundle_folder, refuse_replacing, write_bundle
from mutualsense.errors import BundleError


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize(
    ("mask", "folder", "file"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600), (0o002, 0o775, 0o664)]
)
def test_bundles_honour_the_umask(tmp_path: Path, fake_bundle, umask, mask: int, folder: int, file: int) -> None:
    os.umask(mask)
    bundle = fake_bundle(tmp_path / "b")
    assert stat.S_IMODE(bundle.path.stat().st_mode) == folder
    for name in (MANIFEST, "model.onnx"):
        assert stat.S_IMODE((bundle.path / name).stat().st_mode) == file, name


def test_overwrite_replaces_a_bundle_or_an_empty_folder_only(tmp_path: Path, fake_bundle, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    old = fake_bundle(tmp_path / "old")
    assert is_bundle_folder(old.path)
    refuse_replacing(old.path)  # one of ours: fine
    (tmp_path / "empty").mkdir()
    refuse_replacing(tmp_path / "empty")
    refuse_replacing(tmp_path / "new")  # nothing there yet
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(b"jpeg")
    with pytest.raises(BundleError, match=r"not a mutualsense bundle \(it holds cat.jpg\)"):
        refuse_replacing(photos)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BundleError, match="is a file"):
        refuse_replacing(tmp_path / "notes.txt")
    with pytest.raises(BundleError, match="current folder"):
        refuse_replacing(Path("."))
    with pytest.raises(BundleError, match="current folder"):
        refuse_replacing(tmp_path.parent)
    # the API refuses too: write_bundle(overwrite=True) never empties a folder that is not a bundle
    with pytest.raises(BundleError, match="not a mutualsense bundle"), write_bundle(photos, overwrite=True):
        pytest.fail("refused before the body runs")
    assert sorted(p.name for p in photos.iterdir()) == ["cat.jpg"] and (photos / "cat.jpg").read_bytes() == b"jpeg"
    assert not list(tmp_path.glob(".photos.*"))  # no temporary folder left beside it
    with write_bundle(old.path, overwrite=True) as tmp:  # a bundle is replaced
        (tmp / "model.onnx").write_bytes(b"new")
        (tmp / "model.trt.onnx").write_bytes(b"new")
        finalize_manifest(tmp, manifest_body(), {"model.onnx": "onnx", "model.trt.onnx": "trt_onnx"})
    assert (old.path / "model.onnx").read_bytes() == b"new"
