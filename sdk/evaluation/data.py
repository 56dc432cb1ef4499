"""The data argument (``--data``, ``--eval-data``): one parser and one reader for every command that takes one.

A data spec is one of:

* ``synthetic`` or ``synthetic?count=N&seed=S``: generated RGB-D scenes with exact masks;
* an RGB-D SOD dataset folder (``RGB/``, ``depth/``, ``GT/``);
* a RealSense recording (``.db3``/``.bag``) or a folder of them: real framesets, aligned and
  preprocessed by the runtime's :class:`~mutualsense.pipeline.prepare.FramePreparer`. Recordings carry
  no ground truth: where scores are needed, a reference model's binarised output stands in for it.

``evaluate``, ``calibrate``, the INT8 gate and ``train`` read their data through this module.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl

import numpy as np

from mutualsense.errors import DataError
from mutualsense.preprocess import DepthEncoding, InputSpec

if TYPE_CHECKING:
    from mutualsense.pipeline.prepare import Prepared
    from mutualsense.sources.frameset import FrameSet

__all__ = [
    "DATA_SPEC_HELP",
    "EVAL_SEED",
    "RECORDING_SUFFIXES",
    "DataSpec",
    "LabelledFrame",
    "iter_frames",
    "labelled_frames",
    "parse_data_spec",
    "recording_framesets",
]

# Held-out generated scenes use this seed (training uses small seeds), so the sets never overlap.
EVAL_SEED = 1_000_003

RECORDING_SUFFIXES = (".db3", ".bag")

#: The one usage text for data specs.
DATA_SPEC_HELP = (
    "synthetic[?count=N&seed=S] (generated scenes), an RGB-D SOD dataset folder (RGB/, depth/, GT/), "
    "or a .db3/.bag recording (or a folder of them)"
)

_SYNTHETIC_KEYS = ("count", "seed")

Kind = Literal["synthetic", "dataset", "recordings"]
ReferencePredictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LabelledFrame:
    """One raw frame with its ground truth, before preprocessing."""

    rgb: np.ndarray
    depth: np.ndarray
    depth_scale: float | None
    encoding: DepthEncoding
    mask: np.ndarray
    camouflaged: bool = False


@dataclass(frozen=True)
class DataSpec:
    """A parsed data spec.

    Attributes:
        kind: ``synthetic``, ``dataset`` or ``recordings``.
        text: the spec as given.
        count / seed: from ``synthetic?count=..&seed=..`` (None where not given).
        path: the dataset folder, recording or folder of recordings.
        recordings: the recording files, in name order (``recordings`` only).
    """

    kind: Kind
    text: str
    count: int | None = None
    seed: int | None = None
    path: Path | None = None
    recordings: tuple[Path, ...] = ()

    def resolve(self, count: int | None, seed: int) -> tuple[int | None, int]:
        """(count, seed) with the spec's own values taking precedence over the caller's defaults."""
        return (self.count if self.count is not None else count), (self.seed if self.seed is not None else seed)


def _bad(text: str, reason: str, remedy: str | None = None) -> DataError:
    return DataError(f"bad data {text!r}: {reason}.", remedy or f"pass {DATA_SPEC_HELP}.")


def _synthetic(text: str, query: str) -> DataSpec:
    values: dict[str, int] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _SYNTHETIC_KEYS:
            close = difflib.get_close_matches(key, _SYNTHETIC_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise _bad(text, f"unknown key {key!r}", f"{hint}synthetic takes {' and '.join(_SYNTHETIC_KEYS)}.")
        try:
            number = int(value)
        except ValueError:
            raise _bad(text, f"{key} must be an integer, got {value!r}", f"e.g. synthetic?{key}=100.") from None
        if number < (1 if key == "count" else 0):
            raise _bad(text, f"{key} must be at least {1 if key == 'count' else 0}, got {number}", None)
        values[key] = number
    return DataSpec("synthetic", text, values.get("count"), values.get("seed"))


def parse_data_spec(data: str | os.PathLike[str] | DataSpec) -> DataSpec:
    """Parse a data spec (see the module doc); a :class:`DataSpec` is returned as it is.

    Raises:
        DataError: a bad ``synthetic?...`` query, or a path that is neither a dataset folder nor a recording.
    """
    if isinstance(data, DataSpec):
        return data
    text = os.fspath(data)
    base, _, query = text.partition("?")
    if base == "synthetic" and not Path(text).exists():
        return _synthetic(text, query)
    path = Path(text).expanduser()
    if path.is_file() and path.suffix.lower() in RECORDING_SUFFIXES:
        return DataSpec("recordings", text, path=path, recordings=(path,))
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in RECORDING_SUFFIXES and p.is_file())
        if found:
            return DataSpec("recordings", text, path=path, recordings=tuple(found))
        return DataSpec("dataset", text, path=path)
    why = "" if path.exists() else " (no such file or folder)"
    raise DataError(
        f"data {text!r} is not 'synthetic', a dataset folder or a .db3/.bag recording{why}.", f"pass {DATA_SPEC_HELP}."
    )


def recording_framesets(paths: tuple[Path, ...], spec: InputSpec) -> Iterator[tuple[FrameSet, Prepared]]:
    """Every frameset of the recordings, in order, with its :class:`Prepared` inputs: aligned and
    preprocessed by :class:`~mutualsense.pipeline.prepare.FramePreparer`, exactly as a stream does."""
    from mutualsense.pipeline.prepare import FramePreparer
    from mutualsense.sources.base import SourceEnded
    from mutualsense.sources.recording import Recording

    preparer = FramePreparer(spec)
    for path in paths:
        with Recording(path) as rec:
            while True:
                try:
                    fs = rec.read(5000)
                except SourceEnded:
                    break
                if fs is None:
                    break
                yield fs, preparer.prepare(fs)


def _synthetic_frames(count: int | None, seed: int, spec: InputSpec) -> Iterator[LabelledFrame]:
    from mutualsense.evaluation.synthetic import SceneGenerator

    if count is None or count < 1:
        raise DataError(f"generated scenes need a positive count (got {count}).", "pass --count N.")
    gen = SceneGenerator(height=spec.height, width=spec.width, seed=seed)
    for _ in range(count):
        s = gen.sample()
        yield LabelledFrame(s.rgb, s.depth, s.depth_scale, "metric", s.mask, s.camouflaged)


def _dataset_frames(path: Path, count: int | None) -> Iterator[LabelledFrame]:
    from mutualsense.evaluation.datasets import RgbdSodDataset

    dataset = RgbdSodDataset(path)
    n = len(dataset) if count is None else min(count, len(dataset))
    for i in range(n):
        sample = dataset[i]
        yield LabelledFrame(sample.rgb, sample.depth, None, "normalized", sample.mask)


def _recording_frames(
    data: DataSpec, count: int | None, spec: InputSpec, reference: ReferencePredictor | None
) -> Iterator[LabelledFrame]:
    if reference is None:
        raise DataError(
            f"{data.text} holds recordings, which carry no ground truth to score against.",
            "pass --data synthetic or an RGB-D SOD dataset folder (RGB/, depth/, GT/).",
        )
    from mutualsense.results import sigmoid

    for n, (fs, prepared) in enumerate(recording_framesets(data.recordings, spec)):
        if count is not None and n >= count:
            return
        mask = sigmoid(reference(prepared.rgb, prepared.depth)[0, 0]) > 0.5
        yield LabelledFrame(fs.color, prepared.aligned_depth, fs.depth_scale, "metric", mask.astype(np.uint8) * 255)


def labelled_frames(
    data: str | os.PathLike[str] | DataSpec,
    spec: InputSpec,
    count: int | None = None,
    seed: int = EVAL_SEED,
    reference: ReferencePredictor | None = None,
) -> Iterator[LabelledFrame]:
    """Raw frames with their masks, from any data spec.

    Args:
        data: the data spec (see the module doc).
        spec: the model's input spec (generated scenes are made at its size; recordings are aligned to it).
        count: generated scenes to make (required for ``synthetic`` unless the spec says ``count=``), or at
            most this many dataset images / recording framesets (None: all).
        seed: the generator's seed (``synthetic``; the spec's ``seed=`` wins).
        reference: for recordings, the predictor whose output (sigmoid > 0.5) is the reference mask;
            without it a recording is refused (it has no ground truth).

    Raises:
        DataError: a bad spec, an unreadable dataset, or a recording without ``reference``.
    """
    parsed = parse_data_spec(data)
    count, seed = parsed.resolve(count, seed)
    if parsed.kind == "synthetic":
        return _synthetic_frames(count, seed, spec)
    if parsed.kind == "dataset":
        assert parsed.path is not None
        return _dataset_frames(parsed.path, count)
    return _recording_frames(parsed, count, spec, reference)


def iter_frames(data: str, count: int | None, seed: int, spec: InputSpec) -> Iterator[LabelledFrame]:
    """Frames from generated scenes or a dataset folder: :func:`labelled_frames` without a reference model."""
    return labelled_frames(data, spec, count, seed)
