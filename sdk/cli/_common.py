"""Helpers shared by the subcommands."""

from __future__ import annotations

import importlib
from types import ModuleType

from mutualsense.errors import MissingDependencyError

TOOLCHAIN_PACKAGES = ("torch", "onnx", "onnxsim", "onnxconverter_common")

DATA_HELP = "'synthetic' (generated RGB-D scenes) or an RGB-D SOD dataset folder with RGB/, depth/, GT/."


def require_export(module: str) -> ModuleType:
    """Import a toolchain module, or say plainly that the export extra (torch, onnx) is missing."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing in TOOLCHAIN_PACKAGES:
            raise MissingDependencyError(missing, "export", "for training, checkpoints and export") from exc
        raise
