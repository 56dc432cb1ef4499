"""One row of ``mutualsense doctor``: what was found, and the exact fix when it is wrong."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

__all__ = ["Check", "dist_version"]


@dataclass(frozen=True)
class Check:
    """The outcome of one probe: ``hint`` is the command or step that fixes what ``detail`` says is wrong."""

    name: str
    ok: bool
    detail: str
    hint: str = ""
    required: bool = False


def dist_version(dist: str) -> str | None:
    """The installed version of a distribution (from its metadata, without importing it), else None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
