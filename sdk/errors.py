"""The error hierarchy: every expected failure says what went wrong, on which value, and how to fix it.

The CLI prints a :class:`MutualSenseError` as one red paragraph and exits with code 2; any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "BackendStateError",
    "BundleError",
    "summarize_schema_errors",
    "CheckpointError",
    "DataError",
    "EngineError",
    "MissingDependencyError",
    "MutualSenseError",
    "OptionError",
    "PluginError",
    "SourceError",
]


def summarize_schema_errors(errors: Iterable[Any]) -> str | None:
    """``"at PATH: MESSAGE (and N more problems)"`` for JSON Schema validation errors, None when there are none."""
    found = sorted(errors, key=lambda e: list(e.absolute_path))
    if not found:
        return None
    first = found[0]
    at = "/".join(str(p) for p in first.absolute_path) or "(top level)"
    more = f" (and {len(found) - 1} more problems)" if len(found) > 1 else ""
    return f"at {at}: {first.message}{more}"


class MutualSenseError(Exception):
    """Base of all expected failures.

    Args:
        what: what went wrong, naming the offending value or path.
        remedy: how to fix it (a command to run, a value to change).
    """

    def __init__(self, what: str, remedy: str | None = None) -> None:
        self.what = what
        self.remedy = remedy
        super().__init__(what if remedy is None else f"{what} Fix: {remedy}")


class MissingDependencyError(MutualSenseError):
    """An optional dependency (torch, pyrealsense2, TensorRT, ...) is not installed."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        install = f'pip install "mutualsense[{extra}]"' if extra else f"pip install {package}"
        need = f" (needed {purpose})" if purpose else ""
        super().__init__(f"{package} is not installed{need}.", f"run `{install}`.")
        self.package = package


class OptionError(MutualSenseError):
    """A command-line value cannot work: a path that is missing, unreadable or not writable, a value out of range."""


class CheckpointError(MutualSenseError):
    """A checkpoint file is missing, unreadable, or not a MutualSense checkpoint."""


class DataError(MutualSenseError):
    """A dataset folder or data argument is malformed."""


class SourceError(MutualSenseError):
    """A frame source (camera, recording, synthetic) cannot be opened or stopped delivering."""


class BundleError(MutualSenseError):
    """A deployment bundle is missing files, tampered with, or of an unknown schema."""


class EngineError(MutualSenseError):
    """A TensorRT engine cannot be built or does not match this device."""


class PluginError(MutualSenseError):
    """The CDA TensorRT plugin library is missing or cannot be loaded."""


class BackendStateError(MutualSenseError, RuntimeError):
    """A backend was used outside its ``with`` block: ``infer`` before it was entered or after it closed."""
