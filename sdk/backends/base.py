"""The backend protocol shared by ONNX Runtime and TensorRT."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, runtime_checkable

import numpy as np

from mutualsense.errors import BackendStateError

__all__ = ["Backend", "SupportsInfer", "require_active"]


@runtime_checkable
class Backend(Protocol):
    """Runs a bundle's model: ``with backend as b: out = b.infer({"rgb": x, "depth": d})``."""

    name: str

    def __enter__(self) -> Backend: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch; ``feed`` maps input names to float32 arrays of the bundle's input shapes.

        Raises:
            BackendStateError: called before the backend was entered or after it closed.
            ValueError: a missing input, or one of the wrong shape.
        """
        ...


class SupportsInfer(Protocol):
    """Anything with the backend's ``infer`` (an entered backend, a test double, an export-time session)."""

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def require_active(active: bool, backend: object) -> None:
    """Raise :class:`~mutualsense.errors.BackendStateError` unless the backend is between enter and exit:
    every backend checks this first in ``infer``, so misuse reads the same whichever backend it is."""
    if not active:
        cls = type(backend).__name__
        raise BackendStateError(
            f"{cls}.infer() was called outside its `with` block (before it was entered, or after it closed).",
            f"use the backend inside `with {cls}(...) as backend:`.",
        )
