"""Checkpoints (design.md §8): a plain dict that ``torch.load(weights_only=True)`` reads.

``{"format": "mutualsense.checkpoint", "version": 1, "config": {...}, "state_dict": ..., "training": {...}}``
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mutualsense.bundle import sha256_file
from mutualsense.errors import CheckpointError
from mutualsense.export.model.config import ModelConfig
from mutualsense.export.model.net import MutualSenseNet

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "LoadedCheckpoint",
    "load_checkpoint",
    "load_weights_only",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "mutualsense.checkpoint"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A model rebuilt from a checkpoint, in eval mode, with what was recorded beside it."""

    model: MutualSenseNet
    config: ModelConfig
    training: dict[str, Any]
    path: Path
    sha256: str


def save_checkpoint(
    path: str | os.PathLike[str],
    model: MutualSenseNet,
    training: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` atomically (temporary file, then rename) and return the path."""
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "training": training or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_weights_only(path: Path, what: str = "checkpoint") -> Any:
    """``torch.load(weights_only=True)``: tensors and plain data only, never arbitrary pickled objects.

    Every failure is a :class:`CheckpointError`. torch's own message for a file holding other objects
    suggests loading it with ``weights_only=False``, which runs whatever code the file carries: that
    advice is never passed on.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" not in str(exc):  # no Python object named: corrupt or another format (torch's text not passed on)
            raise CheckpointError(
                f"{what} {path} cannot be read (it is not a pickle of tensors and plain data).",
                "it is truncated, corrupt or not a torch file; re-download or re-train it.",
            ) from exc
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        held = f" (such as {found.group(1)})" if found else ""
        raise CheckpointError(
            f"{what} {path} holds Python objects other than tensors and plain data{held}; mutualsense does not "
            "load those, because loading them can run code hidden in the file.",
            "use a checkpoint written by `mutualsense train`, or save the weights as a plain state dict with "
            "`mutualsense.export.model.save_checkpoint`.",
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{what} {path} cannot be read ({first}).",
            "it is truncated, corrupt or not a torch file; re-download or re-train it.",
        ) from exc


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {path} does not exist.", "check the path, or train one with `mutualsense train`."
        )
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder, not a file.", "pass the .pt file inside it.")
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"checkpoint {path} is empty (0 bytes).", "the file was not written completely; re-create it."
        )
    payload = load_weights_only(path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format", "no 'format' key") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not a MutualSense checkpoint (format: {found}).",
            "use a checkpoint written by `mutualsense train`, or wrap your state dict with "
            "`mutualsense.export.model.save_checkpoint`.",
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has version {payload.get('version')!r}; "
            f"this mutualsense reads version {CHECKPOINT_VERSION}.",
            "upgrade mutualsense (`pip install -U mutualsense`).",
        )
    return payload


def load_checkpoint(path: str | os.PathLike[str]) -> LoadedCheckpoint:
    """Rebuild the model a checkpoint describes; every failure is a :class:`CheckpointError`."""
    path = Path(path)
    payload = _read(path)
    config = ModelConfig.from_dict(payload.get("config") or {})
    model = MutualSenseNet(config)
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} has no state_dict.", "re-create it with `mutualsense train`.")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}")
        if wrong:
            k = wrong[0]
            parts.append(f"shape of {k}: {tuple(state[k].shape)} vs {tuple(expected[k].shape)}")
        raise CheckpointError(
            f"checkpoint {path} does not match the {config.name!r} architecture: {'; '.join(parts)}.",
            "the weights come from another architecture or config; use the checkpoint that belongs to them.",
        )
    model.load_state_dict(state, strict=True)
    model.eval()
    return LoadedCheckpoint(model, config, dict(payload.get("training") or {}), path, sha256_file(path))
