"""The compiled kernels still work where numba finds no writable cache folder (read-only install and home)."""

from __future__ import annotations

import importlib
import logging

import numpy as np
from numba.core import caching

import mutualsense.cpu_kernels


def test_without_a_writable_cache_folder_the_kernels_compile_uncached(monkeypatch, caplog) -> None:
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in numba 0.6x
    monkeypatch.setattr(impl, "_locator_classes", [])  # no folder to cache into: numba refuses cache=True
    with caplog.at_level(logging.WARNING, logger="mutualsense.cpu_kernels"):
        kernels = importlib.reload(mutualsense.cpu_kernels)
    try:
        assert "NUMBA_CACHE_DIR" in caplog.text and "no locator available" in caplog.text
        assert caplog.text.count("NUMBA_CACHE_DIR") == 1, "one warning, not one per kernel"
        rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
        table = np.tile(np.arange(256, dtype=np.float32), (3, 1)) * 2
        out = np.empty((3, 2, 3), np.float32)
        kernels.normalise_rgb(rgb, table, out)
        np.testing.assert_array_equal(out, 2 * rgb.transpose(2, 0, 1).astype(np.float32))
    finally:
        monkeypatch.undo()
        importlib.reload(mutualsense.cpu_kernels)


def test_with_a_cache_folder_nothing_is_said(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="mutualsense.cpu_kernels"):
        importlib.reload(mutualsense.cpu_kernels)
    assert "NUMBA_CACHE_DIR" not in caplog.text
