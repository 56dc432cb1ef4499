"""Calibration sets: paired RGB-D model inputs, preprocessed by the runtime's own code path, in one ``.npz``.

A set is built from generated scenes (``"synthetic"``), an RGB-D SOD dataset folder, or RealSense
recordings (``.db3``/``.bag``, or a folder of them): the data spec of
:func:`~mutualsense.evaluation.data.parse_data_spec`. Recording framesets are aligned and preprocessed
by the stream's own :class:`~mutualsense.pipeline.prepare.FramePreparer`; datasets and generated scenes
go through :func:`~mutualsense.preprocess.preprocess` as evaluation does.

The file holds ``rgb`` [N,3,H,W] and ``depth`` [N,1,H,W] float32 plus ``manifest`` (JSON text): the
count, the seed, every source with its SHA-256, the input spec and a hash of the arrays, so
:func:`verify_calibration_set` can rebuild the set from its manifest and prove it identical.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mutualsense import __version__
from mutualsense.bundle import sha256_file
from mutualsense.errors import DataError
from mutualsense.evaluation.data import labelled_frames, parse_data_spec, recording_framesets
from mutualsense.preprocess import InputSpec, preprocess

__all__ = [
    "FORMAT",
    "CalibrationSet",
    "build_calibration_set",
    "iter_recording_inputs",
    "load_calibration_set",
    "rebuild_calibration_set",
    "verify_calibration_set",
]

FORMAT = "mutualsense.calibration"
VERSION = 1


@dataclass
class CalibrationSet:
    """Model inputs for INT8 calibration and the manifest that says how they were made."""

    rgb: np.ndarray
    depth: np.ndarray
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.rgb)

    @property
    def spec(self) -> InputSpec:
        return InputSpec.from_dict(self.manifest["input_spec"])

    def save(self, out: str | os.PathLike[str]) -> Path:
        """Write the compressed ``.npz`` atomically (temporary name, then rename); returns the path."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, rgb=self.rgb, depth=self.depth, manifest=np.asarray(json.dumps(self.manifest)))
        tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
        try:
            tmp.write_bytes(buf.getvalue())
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return out


def arrays_sha256(rgb: np.ndarray, depth: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in (rgb, depth):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a, np.float32).tobytes())
    return h.hexdigest()


def iter_recording_inputs(paths: tuple[Path, ...], spec: InputSpec) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every frameset of the recordings as model inputs ((3,h,w), (1,h,w)), prepared as a stream does."""
    for _, prepared in recording_framesets(paths, spec):
        yield prepared.rgb[0], prepared.depth[0]


def _reservoir(
    items: Iterator[tuple[np.ndarray, np.ndarray]], count: int, rng: np.random.Generator
) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """A seeded uniform sample of ``count`` items from a stream of unknown length (kept in stream order)."""
    kept: list[tuple[int, tuple[np.ndarray, np.ndarray]]] = []
    seen = 0
    for i, item in enumerate(items):
        seen += 1
        if len(kept) < count:
            kept.append((i, item))
        else:
            j = int(rng.integers(0, i + 1))
            if j < count:
                kept[j] = (i, item)
    kept.sort(key=lambda t: t[0])
    return [item for _, item in kept], seen


def _from_dataset(folder: Path, count: int, seed: int, spec: InputSpec) -> tuple[list[Any], list[dict[str, Any]]]:
    from mutualsense.evaluation.datasets import RgbdSodDataset

    dataset = RgbdSodDataset(folder)
    n = len(dataset)
    picks = sorted(np.random.default_rng(seed).choice(n, size=min(count, n), replace=False).tolist())
    inputs, h = [], hashlib.sha256()
    for i in picks:
        sample = dataset[i]
        r, d = preprocess(sample.rgb, sample.depth, None, spec, "normalized")
        inputs.append((r[0], d[0]))
        for p in dataset.paths(dataset.names[i])[:2]:  # colour and depth images (the masks are not used)
            h.update(p.name.encode())
            h.update(sha256_file(p).encode())
    source = {
        "kind": "dataset",
        "path": str(folder),
        "sha256": h.hexdigest(),
        "samples": [dataset.names[i] for i in picks],
    }
    return inputs, [source]


def build_calibration_set(data: str | os.PathLike[str], count: int, spec: InputSpec, seed: int = 0) -> CalibrationSet:
    """Build a calibration set of ``count`` preprocessed RGB-D pairs.

    Args:
        data: ``"synthetic"`` (generated scenes), an RGB-D SOD dataset folder, a ``.db3``/``.bag``
            recording, or a folder of recordings.
        count: samples to keep (fewer if the data has fewer; a seeded uniform sample if it has more).
        spec: the model's input spec (``Bundle.input_spec``).
        seed: generator seed for ``synthetic``; sampling seed otherwise. Use a seed other than
            ``EVAL_SEED`` so calibration and the held-out evaluation never share scenes.
    """
    if count < 1:
        raise DataError(f"a calibration set needs at least one sample (got {count}).", "pass --samples 64 or more.")
    parsed = parse_data_spec(data)
    wanted, seed = parsed.resolve(count, seed)
    count = count if wanted is None else wanted
    sources: list[dict[str, Any]]
    if parsed.kind == "synthetic":
        inputs = []
        for f in labelled_frames(parsed, spec, count, seed):
            r, d = preprocess(f.rgb, f.depth, f.depth_scale, spec, f.encoding)
            inputs.append((r[0], d[0]))
        sources = [{"kind": "synthetic", "seed": seed, "sha256": None, "generator": f"mutualsense {__version__}"}]
    elif parsed.kind == "recordings":
        inputs, seen = _reservoir(iter_recording_inputs(parsed.recordings, spec), count, np.random.default_rng(seed))
        sources = [{"kind": "recording", "path": str(p), "sha256": sha256_file(p)} for p in parsed.recordings]
        sources[0]["framesets_seen"] = seen
    else:
        assert parsed.path is not None
        inputs, sources = _from_dataset(parsed.path, count, seed, spec)
    if not inputs:
        raise DataError(f"calibration data {data} delivered no frames.", "check the recording or dataset folder.")
    rgb = np.stack([r for r, _ in inputs]).astype(np.float32)
    depth = np.stack([d for _, d in inputs]).astype(np.float32)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "data": str(data),
        "count": len(rgb),
        "requested": count,
        "seed": seed,
        "sources": sources,
        "input_spec": spec.to_dict(),
        "preprocess": "mutualsense.preprocess (+ DepthAligner for recordings): the runtime's code path",
        "arrays_sha256": arrays_sha256(rgb, depth),
        "mutualsense": __version__,
    }
    return CalibrationSet(rgb, depth, manifest)


def load_calibration_set(path: str | os.PathLike[str]) -> CalibrationSet:
    """Read a set written by :meth:`CalibrationSet.save`, checking its format and array hash."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"calibration set {path} does not exist.", "make one with `mutualsense calibrate`.")
    try:
        with np.load(path, allow_pickle=False) as z:
            rgb, depth, manifest = z["rgb"], z["depth"], json.loads(str(z["manifest"]))
    except (OSError, ValueError, KeyError) as exc:
        # numpy's message for pickled arrays suggests allow_pickle=True, which runs code from the file: not passed on
        why = "it holds pickled Python objects, which are never loaded" if "pickle" in str(exc) else str(exc)
        raise DataError(
            f"{path} is not a MutualSense calibration set ({why}).", "make one with `mutualsense calibrate`."
        ) from exc
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path} is not a MutualSense calibration set.", "make one with `mutualsense calibrate`.")
    if arrays_sha256(rgb, depth) != manifest["arrays_sha256"]:
        raise DataError(f"calibration set {path} is corrupted (array hash mismatch).", "rebuild it.")
    return CalibrationSet(rgb, depth, manifest)


def rebuild_calibration_set(manifest: dict[str, Any], what: str = "the calibration set") -> CalibrationSet:
    """Build a set again from its manifest alone (same sources, whose hashes must match) and check it is
    identical: what an INT8 bundle's ``calibration.json`` allows, without shipping the arrays."""
    m = manifest
    for src in m["sources"]:
        if src["kind"] == "recording" and sha256_file(src["path"]) != src["sha256"]:
            raise DataError(f"recording {src['path']} changed since {what} was built.", "rebuild it.")
    rebuilt = build_calibration_set(m["data"], m["requested"], InputSpec.from_dict(m["input_spec"]), m["seed"])
    if rebuilt.manifest != m:
        diff = sorted(k for k in m if rebuilt.manifest.get(k) != m[k])
        raise DataError(f"{what} does not reproduce from its manifest (differs in {diff}).")
    return rebuilt


def verify_calibration_set(path: str | os.PathLike[str]) -> CalibrationSet:
    """Rebuild a set from its manifest (same sources, whose hashes must match) and check it is identical."""
    stored = load_calibration_set(path)
    rebuild_calibration_set(stored.manifest, f"calibration set {path}")
    return stored
