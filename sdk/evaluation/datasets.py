"""Reader for the standard RGB-D salient-object-detection dataset layout.

NJU2K, NLPR, DUT-RGBD, SIP, STERE and LFSD are distributed as one folder per dataset with three
subfolders whose files match by stem::

    NJU2K/
        RGB/    0001.jpg ...    colour images (.jpg, .png or .bmp)
        depth/  0001.png ...    8- or 16-bit depth images, near = bright (.png, .bmp or .jpg)
        GT/     0001.png ...    ground-truth masks (.png, .bmp or .jpg)

Folder names are matched case-insensitively. Depth is returned as stored: these datasets hold
normalised nearness, not millimetres. numpy + OpenCV only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import cv2
import numpy as np

from mutualsense.errors import DataError

__all__ = ["RgbdSodDataset", "Sample"]

_RGB_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
_DEPTH_EXTS = (".png", ".bmp", ".jpg", ".jpeg")
_GT_EXTS = (".png", ".bmp", ".jpg", ".jpeg")
_FOLDERS = (("RGB", _RGB_EXTS), ("depth", _DEPTH_EXTS), ("GT", _GT_EXTS))
_LIST_LIMIT = 10
_LAYOUT = "<root>/RGB/*.jpg, <root>/depth/*.png and <root>/GT/*.png with matching file names"


@dataclass(frozen=True, eq=False)
class Sample:
    """One dataset item.

    Attributes:
        name: the shared file stem.
        rgb: (H, W, 3) uint8, RGB order.
        depth: (H, W) uint8 or uint16 as stored (normalised nearness, not millimetres), resized to
            the colour image's size if it differed.
        mask: (H, W) uint8, 255 on the salient object (GT >= 128), 0 elsewhere.
    """

    name: str
    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray


def _natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key under which "2" comes before "10"."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part)


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LIST_LIMIT])
    more = len(names) - _LIST_LIMIT
    return f"{shown} (and {more} more)" if more > 0 else shown


def _find_folder(root: Path, wanted: str, subdirs: dict[str, list[Path]]) -> Path:
    matches = subdirs.get(wanted.lower(), [])
    if len(matches) > 1:
        raise DataError(
            f"dataset {root} has several folders named {wanted!r} (ignoring case): "
            f"{', '.join(p.name for p in matches)}.",
            f"keep one {wanted}/ folder.",
        )
    if not matches:
        present = ", ".join(sorted(p.name + "/" for paths in subdirs.values() for p in paths)) or "none"
        raise DataError(
            f"dataset {root} has no {wanted}/ folder (it needs RGB/, depth/ and GT/; found: {present}).",
            f"arrange the dataset as {_LAYOUT}; folder names may be in any case.",
        )
    return matches[0]


def _scan_folder(folder: Path, exts: tuple[str, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in folder.iterdir():
        if path.name.startswith(".") or path.suffix.lower() not in exts or not path.is_file():
            continue
        if path.stem in files:
            raise DataError(
                f"{folder} holds two files with the stem {path.stem!r}: {files[path.stem].name} and {path.name}.",
                "keep one file per sample in each folder.",
            )
        files[path.stem] = path
    if not files:
        raise DataError(
            f"{folder} holds no images (looked for {', '.join(exts)}).",
            f"put the dataset's files there, as {_LAYOUT}.",
        )
    return files


def _read(path: Path) -> np.ndarray:
    """Decode an image as stored (any depth, any channel count); DataError when it cannot."""
    try:
        data = np.fromfile(str(path), np.uint8)  # imdecode also handles non-ASCII paths on Windows
    except OSError as exc:
        raise DataError(
            f"cannot read {path}: {exc.strerror or exc}.", "check that the file exists and is readable."
        ) from exc
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise DataError(
            f"cannot decode {path} as an image (empty, truncated or not an image).",
            "re-download or re-extract the dataset, or delete this sample from all three folders.",
        )
    return image


def _to_8bit(image: np.ndarray, path: Path) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    raise DataError(f"{path} has unsupported pixel type {image.dtype}.", "convert it to an 8-bit or 16-bit image.")


def _rgb(image: np.ndarray, path: Path) -> np.ndarray:
    image = _to_8bit(image, path)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    raise DataError(f"{path} has {image.shape[2]} channels; a colour image needs 1, 3 or 4.", "re-save it as RGB.")


def _single_channel(image: np.ndarray, path: Path, what: str) -> np.ndarray:
    if image.dtype not in (np.uint8, np.uint16):
        raise DataError(
            f"{what} image {path} has unsupported pixel type {image.dtype}.",
            "convert it to an 8-bit or 16-bit image.",
        )
    if image.ndim == 3:  # grey values saved as a colour image: the channels are equal
        image = np.ascontiguousarray(image[:, :, 0])
    return image


def _mask(image: np.ndarray, path: Path) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] >= 3:
        image = cv2.cvtColor(_to_8bit(image[:, :, :3], path), cv2.COLOR_BGR2GRAY)
    image = _to_8bit(_single_channel(image, path, "ground-truth"), path)
    return np.where(image >= 128, np.uint8(255), np.uint8(0))


class RgbdSodDataset(Sequence[Sample]):
    """The samples of one RGB-D SOD dataset folder, in natural order of their names.

    Args:
        root: the folder holding ``RGB/``, ``depth/`` and ``GT/`` (any case).

    Raises:
        DataError: when the folder or a subfolder is missing or empty, or file names do not match.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise DataError(
                f"dataset folder {self.root} {what}.",
                f"pass the folder that holds RGB/, depth/ and GT/ ({_LAYOUT}).",
            )
        subdirs: dict[str, list[Path]] = {}
        for path in sorted(self.root.iterdir()):
            if path.is_dir():
                subdirs.setdefault(path.name.lower(), []).append(path)
        folders = [_find_folder(self.root, name, subdirs) for name, _ in _FOLDERS]
        listings = [_scan_folder(folder, exts) for folder, (_, exts) in zip(folders, _FOLDERS, strict=True)]

        common = set(listings[0]).intersection(*listings[1:])
        problems = []
        for folder, files in zip(folders, listings, strict=True):
            extra = sorted((files[stem].name for stem in files.keys() - common), key=_natural_key)
            if extra:
                problems.append(f"{folder.name}/ has {len(extra)} without a match: {_listing(extra)}")
        if problems:
            raise DataError(
                f"dataset {self.root}: file names do not match across folders; " + "; ".join(problems) + ".",
                "every sample needs one file in each of RGB/, depth/ and GT/ with the same name "
                "(extensions may differ); add the missing files or delete the unmatched ones.",
            )
        self.names: list[str] = sorted(common, key=_natural_key)
        self._paths = {stem: tuple(files[stem] for files in listings) for stem in self.names}

    def __len__(self) -> int:
        return len(self.names)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        """The sample at ``index`` (negative counts from the end), or a list for a slice.

        Raises:
            IndexError: when ``index`` is out of range.
            DataError: when one of the sample's files cannot be read or decoded.
        """
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        name = self.names[index]  # raises IndexError out of range, accepts numpy integers
        return self.load(name)

    def paths(self, name: str) -> tuple[Path, Path, Path]:
        """The files of the sample with the given file stem: (colour, depth, ground truth).

        Raises:
            KeyError: when no sample has that name.
        """
        rgb, depth, gt = self._paths[name]
        return rgb, depth, gt

    def load(self, name: str) -> Sample:
        """The sample with the given file stem.

        Raises:
            KeyError: when no sample has that name.
            DataError: when one of its files cannot be read or decoded.
        """
        rgb_path, depth_path, gt_path = self._paths[name]
        rgb = _rgb(_read(rgb_path), rgb_path)
        depth = _single_channel(_read(depth_path), depth_path, "depth")
        mask = _mask(_read(gt_path), gt_path)
        size = (rgb.shape[1], rgb.shape[0])
        if depth.shape[:2] != rgb.shape[:2]:
            depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
        if mask.shape[:2] != rgb.shape[:2]:
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        return Sample(name=name, rgb=rgb, depth=depth, mask=mask)

    def __repr__(self) -> str:
        return f"RgbdSodDataset({str(self.root)!r}, {len(self)} samples)"
