"""Checks of command-line values that typer cannot express, run before any long work starts.

Each check names the option as the user typed it (``--out``, ``--bundle``) and raises an
:class:`~mutualsense.errors.OptionError` (one paragraph, exit 2) saying what is wrong and how to fix it.
Paths are probed the way the command will use them: an input is opened and read, an output folder
gets a temporary file written and removed, so read-only folders and unreadable files are caught
whatever the process's privileges.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mutualsense.errors import OptionError

__all__ = [
    "bundle_folder",
    "bundle_output",
    "check_input_size",
    "check_resolution",
    "data_folder",
    "existing_folder",
    "greater_than",
    "json_file",
    "output_file",
    "output_folder",
    "readable_file",
    "recording_path",
]


def _where(path: Path) -> str:
    return "" if path.is_absolute() else f" (relative paths start in {Path.cwd()})"


def readable_file(path: Path, option: str, what: str = "file") -> Path:
    """An input file that exists, is not a folder, and can be read."""
    if not path.exists():
        raise OptionError(f"{option} {path} does not exist (a {what} is expected).", f"check the path{_where(path)}.")
    if path.is_dir():
        raise OptionError(f"{option} {path} is a folder; a {what} is expected here.", f"pass the {what} itself.")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise OptionError(
            f"cannot read {option} {path} ({exc.strerror}).",
            "check its permissions (`ls -l`), or copy it somewhere readable.",
        ) from exc
    return path


def existing_folder(path: Path, option: str, what: str = "folder") -> Path:
    """An input folder that exists and can be listed."""
    if not path.exists():
        raise OptionError(f"{option} {path} does not exist (a {what} is expected).", f"check the path{_where(path)}.")
    if not path.is_dir():
        raise OptionError(f"{option} {path} is a file; a {what} is expected here.", f"pass the {what}.")
    try:
        next(iter(path.iterdir()), None)
    except OSError as exc:
        raise OptionError(
            f"cannot read {option} {path} ({exc.strerror}).", "check the folder's permissions (`ls -ld`)."
        ) from exc
    return path


def bundle_folder(path: Path, option: str = "--bundle") -> Path:
    """An existing bundle folder (its manifest and files are verified when it is loaded)."""
    if not path.exists():
        raise OptionError(
            f"{option} {path} does not exist (a bundle folder is expected).",
            f"check the path{_where(path)}, or create one with `mutualsense export CHECKPOINT --out BUNDLE`.",
        )
    return existing_folder(path, option, "bundle folder")


def json_file(path: Path, option: str, what: str = "JSON file", remedy: str | None = None) -> Any:
    """Read and parse a JSON input; a file that is not JSON is refused with the line where parsing stopped."""
    readable_file(path, option, what)
    fix = remedy or f"pass a {what}."
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise OptionError(f"{option} {path} is not a {what}: it is binary, not text.", fix) from exc
    except json.JSONDecodeError as exc:
        raise OptionError(
            f"{option} {path} is not a {what}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}).", fix
        ) from exc


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_writable(folder: Path, option: str, target: Path) -> None:
    """Write and remove a temporary file in ``folder`` (what the command will do), or say why it cannot."""
    if not folder.is_dir():
        raise OptionError(
            f"cannot write {option} {target}: {folder} is a file, not a folder.", f"choose another {option}."
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".mutualsense-probe-", dir=folder)
    except OSError as exc:
        raise OptionError(
            f"cannot write {option} {target}: {folder} is not writable ({exc.strerror}).",
            f"choose a writable place for {option}, or fix the folder's permissions.",
        ) from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _same_path(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return a.samefile(b)
    return a.absolute() == b.absolute()


def _refuse_inputs(path: Path, option: str, inputs: Iterable[tuple[str, Path | None]], inside: bool) -> None:
    for name, given in inputs:
        if given is None:
            continue
        src = Path(given)
        out_abs, src_abs = path.absolute(), src.absolute()
        holds = inside and out_abs in src_abs.parents  # the output folder holds the input
        within = inside and src.is_dir() and src_abs in out_abs.parents  # the output goes inside an input folder
        if _same_path(path, src) or holds or within:
            held = "is" if _same_path(path, src) else "holds" if holds else "is inside"
            raise OptionError(
                f"{option} {path} {held} the input {name} {src}; a command never writes over its own input.",
                f"choose another {option}.",
            )


def output_file(
    path: Path,
    option: str,
    *,
    overwrite: bool | None = False,
    inputs: Iterable[tuple[str, Path | None]] = (),
    suffix: str | None = None,
    example: str = "output",
) -> Path:
    """A file the command will write: not a folder, not an input, in a writable folder, new unless ``overwrite``.

    Args:
        overwrite: whether an existing file may be replaced; None when the command has no --overwrite.
        inputs: (option, path) of the command's inputs, which are never written over.
        suffix: the extension the file must have (e.g. ``.db3``).
        example: a file name to suggest when ``path`` is a folder.
    """
    if path.is_dir():
        raise OptionError(
            f"{option} {path} is a folder; a file is written here.",
            f"give a file name, e.g. {option} {path / example}.",
        )
    if suffix is not None and path.suffix.lower() != suffix:
        raise OptionError(f"{option} {path} must end in {suffix}.", f"use {path.with_suffix(suffix)}.")
    _refuse_inputs(path, option, inputs, inside=False)
    if path.exists() and not overwrite:
        how = "pass --overwrite to replace it" if overwrite is not None else "remove it first"
        raise OptionError(f"{option} {path} already exists.", f"choose another {option}, or {how}.")
    _probe_writable(_nearest_existing(path.parent), option, path)
    return path


def bundle_output(
    path: Path, option: str, *, overwrite: bool, inputs: Iterable[tuple[str, Path | None]] = ()
) -> Path:
    """A bundle folder to create: new, or (with --overwrite) an empty folder or one of our bundles; never an input."""
    from mutualsense.bundle import refuse_replacing

    if path.exists():
        if not overwrite:
            raise OptionError(
                f"{option} {path} already exists.",
                f"choose another {option}, or pass --overwrite to replace it (only a bundle or an empty folder is).",
            )
        refuse_replacing(path, option)
    _refuse_inputs(path, option, inputs, inside=True)
    _probe_writable(_nearest_existing(path.parent), option, path)
    return path


def output_folder(path: Path, option: str, inputs: Iterable[tuple[str, Path | None]] = ()) -> Path:
    """A folder the command will write files into (created if missing): not a file, writable."""
    if path.exists() and not path.is_dir():
        raise OptionError(f"{option} {path} is a file; a folder is written here.", f"choose a folder for {option}.")
    _refuse_inputs(path, option, inputs, inside=True)
    _probe_writable(_nearest_existing(path), option, path)
    return path


def greater_than(value: float | None, bound: float, option: str, example: str) -> None:
    """Refuse a number that is not finite or not above ``bound`` (typer's ``min=`` is inclusive)."""
    if value is not None and not (math.isfinite(value) and value > bound):
        raise OptionError(f"{option} must be a number > {bound:g}, got {value:g}.", f"e.g. {option} {example}.")


def check_input_size(size: tuple[int, int] | None, option: str = "--input-size") -> None:
    """Height and width that the model accepts: multiples of 32, at least 64."""
    if size is not None and (size[0] % 32 or size[1] % 32 or min(size) < 64):
        raise OptionError(
            f"{option} {size[0]} {size[1]}: height and width must be multiples of 32, at least 64.",
            f"e.g. {option} 192 192.",
        )


def check_resolution(text: str, option: str) -> None:
    """``WIDTHxHEIGHT`` with positive numbers, or ``full``."""
    if text.strip().lower() == "full":
        return
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        w = h = 0
    if w < 1 or h < 1:
        raise OptionError(f"{option} {text!r} is not a size.", f"give WIDTHxHEIGHT, e.g. {option} 160x120, or full.")


def data_folder(data: str, option: str = "--data") -> None:
    """``synthetic`` or an existing, readable dataset folder (recordings are checked where they are opened)."""
    from mutualsense.sources import RECORDING_SUFFIXES

    if data == "synthetic" or data.split("?", 1)[0].lower().endswith(RECORDING_SUFFIXES):
        return
    path = Path(data)
    if not path.is_dir():
        raise OptionError(
            f"{option} {data} is neither 'synthetic' nor a folder{'' if path.exists() else ' (it does not exist)'}.",
            f"pass {option} synthetic or a dataset folder (with RGB/, depth/, GT/){_where(path)}.",
        )
    existing_folder(path, option, "dataset folder")


def recording_path(spec: str) -> Path | None:
    """The recording file a source spec names, or None for cameras and synthetic sources."""
    from mutualsense.sources import RECORDING_SUFFIXES

    base = spec.split("?", 1)[0]
    return Path(base) if base.lower().endswith(RECORDING_SUFFIXES) else None
