"""The ONNX Runtime backend: the backend protocol, misuse reported as BackendStateError, open_backend()."""

from __future__ import annotations

import numpy as np
import pytest

from mutualsense.backends import Backend, OnnxRuntimeBackend, open_backend
from mutualsense.backends.batching import pad_batch
from mutualsense.errors import BackendStateError, MutualSenseError


def _feed(bundle) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    tensors = bundle.manifest["input"]["tensors"]
    return {name: rng.standard_normal(t["shape"]).astype(np.float32) for name, t in tensors.items()}


def test_infer_outside_the_with_block_is_a_backend_state_error(tiny_bundle) -> None:
    backend = OnnxRuntimeBackend(tiny_bundle)
    with pytest.raises(BackendStateError, match="outside its `with` block") as before:
        backend.infer(_feed(tiny_bundle))
    assert isinstance(before.value, MutualSenseError) and "with OnnxRuntimeBackend(" in (before.value.remedy or "")
    with backend:
        out = backend.infer(_feed(tiny_bundle))["saliency"]
        assert out.shape == tuple(tiny_bundle.manifest["output"]["tensors"]["saliency"]["shape"])
    with pytest.raises(BackendStateError):
        backend.infer(_feed(tiny_bundle))


def test_open_backend_by_name(tiny_bundle) -> None:
    backend = open_backend("ort", tiny_bundle, threads=1)
    assert isinstance(backend, OnnxRuntimeBackend) and isinstance(backend, Backend) and backend.name
    with pytest.raises(MutualSenseError, match="unknown backend 'onnx'") as info:
        open_backend("onnx", tiny_bundle)
    assert "--backend ort" in (info.value.remedy or "")


def test_pad_batch_repeats_the_last_item() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    padded = pad_batch(x, 4)
    assert padded.shape == (4, 3) and (padded[2] == x[1]).all() and (padded[3] == x[1]).all()
    assert pad_batch(x, 2) is x
    with pytest.raises(ValueError, match="does not fit"):
        pad_batch(x, 1)
