"""Compiled CPU kernels of the host stages, with the GIL released: one pass from a raw depth frame to the
aligned depth and its model-input plane (:func:`align_depth`), one from the resized colour image to
its input planes (:func:`normalise_rgb`), and every salient object's statistics in one pass over the
component labels (:func:`object_stats`).

Written with numba (``nogil``: the capture thread aligns while the result thread and ONNX Runtime run,
without handing the interpreter lock back and forth two dozen times per frameset as a chain of numpy
calls does; see docs/design.md §9). The alignment's arithmetic is that of ``export/plugin/frame_math.h`` (the CUDA
twin): the same float32 operations in the same order, correctly rounded division, no fused
multiply-adds (numba emits none without ``fastmath``), so the grids are identical to the numpy
reference kept in the tests. The loops are written so that LLVM vectorises them: a row of the window
is projected into flat indices in one branch-free loop, then scattered. The colour resize stays
OpenCV's (its SIMD horizontal pass is twice as fast as a compiled loop of the same arithmetic).

Compiled on first use (about 4 s on 2 cores) and cached on disk next to this file, or in the user's cache
folder when the package's folder is read-only (numba's own fallback).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

__all__ = ["EMPTY", "align_depth", "normalise_rgb", "object_stats"]

log = logging.getLogger(__name__)

_uncached = False  # whether a kernel had to be compiled without a cache folder

EMPTY = 65535  # z-buffer value of an output pixel where nothing landed (as in frame_math.h)


def _jit(fn: Callable[..., Any]) -> Any:
    """numba.njit without the GIL, with numpy's IEEE division (x/0 → inf, no raise), cached on disk.

    Where no cache folder is writable (a read-only install and home, as in some robot containers),
    numba refuses ``cache=True`` when the function is defined: compile on every start instead.
    """
    global _uncached
    try:
        return numba.njit(nogil=True, cache=True, error_model="numpy")(fn)
    except RuntimeError as exc:  # "cannot cache function ...: no locator available"
        if not _uncached:  # said once, not once per kernel
            log.warning(
                "%s; the host-stage kernels will compile on every start (a few seconds): set NUMBA_CACHE_DIR to "
                "a writable folder to keep them",
                exc,
            )
        _uncached = True
        return numba.njit(nogil=True, cache=False, error_model="numpy")(fn)


@_jit
def _project_row(
    z: np.ndarray, rx: np.ndarray, ry: np.ndarray, rz: np.ndarray, params: np.ndarray, w: int, h: int, idx: np.ndarray
) -> None:
    """Flat output index of each sample (metres ``z``, rays ``rx, ry, rz``) of a row, or -1 where it does
    not land (frame_math.h ``project``); branch-free, so it vectorises."""
    t0, t1, t2, fx, fy, cx, cy = params[0], params[1], params[2], params[3], params[4], params[5], params[6]
    fw, fh = np.float32(w), np.float32(h)
    zero = np.float32(0.0)
    for c in range(z.shape[0]):
        zc = z[c]
        pz = zc * rz[c] + t2
        inv = np.float32(1.0) / pz
        x = (zc * rx[c] + t0) * inv * fx + cx
        y = (zc * ry[c] + t1) * inv * fy + cy
        ok = (zc != zero) & (pz > np.float32(1e-6)) & (x >= zero) & (x < fw) & (y >= zero) & (y < fh)
        # x, y ≥ 0 where kept: truncation is floor; the rest is converted from 0 (never NaN)
        i = np.int32(y if ok else zero) * np.int32(w) + np.int32(x if ok else zero)
        idx[c] = i if ok else np.int32(-1)


@_jit
def _scatter_min(line: np.ndarray, step_x: int, c0: int, idx: np.ndarray, flat: np.ndarray) -> None:
    """z-buffer: the nearest raw depth wins at each landed index."""
    for k in range(idx.shape[0]):
        i = idx[k]
        if i >= 0:
            d = line[(c0 + k) * step_x]
            if d < flat[i]:
                flat[i] = d


@_jit
def align_depth(
    depth: np.ndarray,
    step_y: int,
    step_x: int,
    window: np.ndarray,
    guard_raw: int,
    rays: np.ndarray,
    params: np.ndarray,
    fill: bool,
    zbuf: np.ndarray,
    out: np.ndarray,
    table: np.ndarray,
    plane: np.ndarray,
) -> None:
    """Raw depth → aligned raw depth on the output grid (``out``) and, with a non-empty ``plane``, its
    model-input plane ``plane = table[out]``.

    Args:
        depth: (H, W) uint16 raw depth frame.
        step_y, step_x: the sampling steps (the sampled pixels are ``depth[r·step_y, c·step_x]``).
        window: int64 [r0, r1, c0, c1], the sampled rows and columns that can land at depths from the
            guard outwards; outside it only depths in (0, ``guard_raw``) are projected (they may land).
        guard_raw: raw value of the guard depth (nothing outside the window at or beyond it can land).
        rays: (3, rows, cols) float32 rotated rays of the sampled pixels.
        params: float32 [t0, t1, t2, fx, fy, cx, cy, depth_scale] (frame_math.h ``AlignParams``).
        fill: whether an empty output pixel takes the nearest depth among its 3×3 neighbours.
        zbuf: (h, w) uint16 workspace.
        out: (h, w) uint16 result (0 where nothing landed).
        table: float32 input value of every raw depth (``preprocess.depth_table``), read when ``plane`` is not empty.
        plane: (h, w) float32 to receive ``table[out]``, or a (0, 0) array.
    """
    h, w = out.shape
    rows, cols = rays.shape[1], rays.shape[2]
    r0, r1, c0, c1 = max(window[0], 0), min(window[1], rows), max(window[2], 0), min(window[3], cols)
    if r1 <= r0 or c1 <= c0:
        r0 = r1 = c0 = c1 = 0
    scale = params[7]
    zbuf[:] = EMPTY
    flat = zbuf.reshape(-1)
    n = c1 - c0
    z = np.empty(max(n, 1), np.float32)
    idx = np.empty(max(n, 1), np.int32)
    for r in range(rows):
        line = depth[r * step_y]
        inside = r0 <= r < r1
        if inside:
            for k in range(n):
                z[k] = np.float32(line[(c0 + k) * step_x]) * scale
            _project_row(z[:n], rays[0, r, c0:c1], rays[1, r, c0:c1], rays[2, r, c0:c1], params, w, h, idx[:n])
            _scatter_min(line, step_x, c0, idx[:n], flat)
            # outside the window only a depth nearer than the guard can land
            _project_near(line, step_x, 0, c0, r, guard_raw, rays, params, flat, w, h)
            _project_near(line, step_x, c1, cols, r, guard_raw, rays, params, flat, w, h)
        else:
            _project_near(line, step_x, 0, cols, r, guard_raw, rays, params, flat, w, h)
    _finish(zbuf, fill, out, table, plane)


@_jit
def _project_near(
    line: np.ndarray,
    step_x: int,
    c_lo: int,
    c_hi: int,
    r: int,
    guard_raw: int,
    rays: np.ndarray,
    params: np.ndarray,
    flat: np.ndarray,
    w: int,
    h: int,
) -> None:
    """Project the samples of columns c_lo:c_hi of row ``r`` with a valid depth nearer than the guard."""
    if c_hi <= c_lo:
        return
    # a vectorised check of the row's contiguous span first (such depths are rare); the unsampled
    # pixels in it can only cost a needless look at the sampled ones
    near, limit = 0, np.uint16(min(max(guard_raw - 1, 0), EMPTY))
    for k in range(c_lo * step_x, (c_hi - 1) * step_x + 1):
        d = line[k]
        near |= (d - np.uint16(1)) < limit  # 0 < d < guard_raw, in unsigned arithmetic
    if not near:
        return
    z, i = np.empty(1, np.float32), np.empty(1, np.int32)
    for c in range(c_lo, c_hi):
        d = line[c * step_x]
        if d == 0 or d >= guard_raw:
            continue
        z[0] = np.float32(d) * params[7]
        _project_row(z, rays[0, r, c : c + 1], rays[1, r, c : c + 1], rays[2, r, c : c + 1], params, w, h, i)
        if i[0] >= 0 and d < flat[i[0]]:
            flat[i[0]] = d


@_jit
def _finish(zbuf: np.ndarray, fill: bool, out: np.ndarray, table: np.ndarray, plane: np.ndarray) -> None:
    """Empty pixels take the nearest of their 3×3 neighbours (with ``fill``) or 0; then the input plane."""
    h, w = zbuf.shape
    column_min = np.empty(w, np.uint16)  # min over the 3 rows around y, per column
    with_plane = plane.shape[0] > 0
    for y in range(h):
        a, b = max(y - 1, 0), min(y + 1, h - 1)
        for x in range(w):
            column_min[x] = min(min(zbuf[a, x], zbuf[y, x]), zbuf[b, x])
        for x in range(w):
            v = zbuf[y, x]
            if fill:
                m = min(column_min[max(x - 1, 0)], min(column_min[x], column_min[min(x + 1, w - 1)]))
                v = m if v == EMPTY else v
            out[y, x] = 0 if v == EMPTY else v
        if with_plane:
            for x in range(w):
                plane[y, x] = table[out[y, x]]


@_jit
def _select(v: np.ndarray, k: int) -> float:
    """The k-th smallest of ``v`` (no NaN), reordering ``v`` so that ``v[:k] ≤ v[k] ≤ v[k + 1:]``: Hoare's
    quickselect, linear on average (``np.partition`` does the same but takes numba 5 s to compile)."""
    lo, hi = 0, v.shape[0] - 1
    while lo < hi:
        pivot = v[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while v[i] < pivot:
                i += 1
            while v[j] > pivot:
                j -= 1
            if i <= j:
                v[i], v[j] = v[j], v[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break  # v[j + 1 : i] all equal the pivot, k among them
    return v[k]


@_jit
def object_stats(
    labels: np.ndarray,
    boxes: np.ndarray,
    ids: np.ndarray,
    prob: np.ndarray,
    depth_m: np.ndarray,
    out: np.ndarray,
) -> None:
    """Score, valid-depth share and median distance of each component in ``ids``, in one call.

    Args:
        labels: (h, w) component labels (``cv2.connectedComponentsWithStats``).
        boxes: (n, 4) x, y, width, height of each component (its stats' first four columns).
        ids: int64 labels to measure.
        prob: (h, w) float32 saliency.
        depth_m: (h, w) depth in metres (≤ 0 or NaN = invalid), or a (0, 0) array for none.
        out: (len(ids), 3) float64: mean saliency (summed in float64), share of the region's pixels with
            valid depth, median valid depth (NaN without any; numpy's ``np.median`` of the
            values to the bit: the middle value, or the float32 mean of the middle two).
    """
    with_depth = depth_m.shape[0] > 0
    values = np.empty(labels.shape[0] * labels.shape[1], depth_m.dtype)
    for k in range(ids.shape[0]):
        i = ids[k]
        x0, y0, bw, bh = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        total, area, valid = 0.0, 0, 0
        for y in range(y0, y0 + bh):
            for x in range(x0, x0 + bw):
                if labels[y, x] == i:
                    total += prob[y, x]
                    area += 1
                    if with_depth and depth_m[y, x] > 0:
                        values[valid] = depth_m[y, x]
                        valid += 1
        out[k, 0] = total / area
        out[k, 1] = valid / area
        out[k, 2] = np.nan
        if valid:
            half = valid // 2
            upper = _select(values[:valid], half)  # now values[:half] ≤ upper
            out[k, 2] = upper if valid % 2 else (values[:half].max() + upper) / np.float32(2.0)


@_jit
def normalise_rgb(rgb: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """(h, w, 3) uint8 colour on the model grid → (3, h, w) float32 planes ``out[c] = table[c][rgb[..., c]]``."""
    h, w = rgb.shape[0], rgb.shape[1]
    for c in range(3):
        levels = table[c]
        for y in range(h):
            for x in range(w):
                out[c, y, x] = levels[rgb[y, x, c]]
