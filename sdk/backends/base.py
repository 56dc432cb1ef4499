"""The backend protocol shared by ONNX Runtime and TensorRT."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Backend", "SupportsInfer"]


@runtime_checkable
class Backend(Protocol):
    """Runs a bundle's model: ``with backend as b: out = b.infer({"rgb": x, "depth": d})``."""

    name: str

    def __enter__(self) -> Backend: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch; ``feed`` maps input names to float32 arrays of the bundle's input shapes."""
        ...


class SupportsInfer(Protocol):
    """Anything with the backend's ``infer`` (an entered backend, a test double, an export-time session)."""

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...
