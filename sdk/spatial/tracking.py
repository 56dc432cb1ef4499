"""Stable identities for salient objects across frames, gated in 3D, with velocity in m/s.

Why our own: the well-kept trackers (norfair, ByteTrack/BoxMOT, motpy) track 2D boxes and need scipy,
filterpy or torch at run time, and the assignment solvers (scipy's ``linear_sum_assignment``, lap,
lapx) would be a new runtime dependency for a problem of a few objects per frame. So this is a small,
documented tracker:

* Each track holds a position and a velocity (camera frame, metres and m/s) updated by an alpha-beta
  filter (a steady-state constant-velocity Kalman filter): predict ``p + v dt``, then correct by the
  residual ``r``: ``p += alpha r``, ``v += beta r / dt``.
* Detections are matched to tracks by the optimal assignment (Hungarian algorithm, :func:`assign`,
  O(n³) on a handful of objects) of the Euclidean distances between predicted and measured 3D
  positions; a pair farther apart than the *gate* ``gate_m + max_speed_mps × dt`` is never matched.
* An unmatched detection opens a new track (ids count up from 1 and are never reused); a track
  unmatched for more than ``max_missed`` framesets is closed. Objects without a 3D position get no id.
* Time comes from the colour sensor's timestamps; time going backwards (a recording looping) or a gap
  longer than ``max_gap_s`` starts afresh (all tracks closed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from mutualsense.errors import MutualSenseError
from mutualsense.results import SalientObject

__all__ = ["Tracker3D", "assign"]


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost assignment of rows to columns (Hungarian algorithm, shortest augmenting paths).

    Args:
        cost: (n, m) finite costs.

    Returns:
        ``min(n, m)`` (row, column) pairs, sorted by row, with the smallest total cost (same result as
        ``scipy.optimize.linear_sum_assignment`` up to ties).
    """
    c = np.asarray(cost, dtype=np.float64)
    transposed = c.shape[0] > c.shape[1]
    if transposed:
        c = c.T
    n, m = c.shape
    if n == 0:
        return []
    if n == 1:  # the common case: one object
        return [(0, int(np.argmin(c[0])))] if not transposed else [(int(np.argmin(c[0])), 0)]
    # Potentials u (rows) and v (columns); way[j] = previous column on the augmenting path to j.
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    match = np.zeros(m + 1, dtype=np.int64)  # match[j] = row (1-based) assigned to column j, 0 = free
    way = np.zeros(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        match[0], j0 = i, 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while match[j0] != 0:
            used[j0] = True
            i0 = match[j0]
            free = ~used[1:]
            reduced = c[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < minv[1:])
            minv[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[match[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
        while j0:
            j1 = int(way[j0])
            match[j0] = match[j1]
            j0 = j1
    pairs = [(int(match[j]) - 1, j - 1) for j in range(1, m + 1) if match[j]]
    if transposed:
        pairs = [(col, row) for row, col in pairs]
    return sorted(pairs)


@dataclass(eq=False)
class _Track:
    track_id: int
    position: np.ndarray  # (3,) float64, metres
    velocity: np.ndarray  # (3,) float64, m/s
    seen_ms: float  # when last matched
    hits: int = 1
    missed: int = 0


class Tracker3D:
    """Gives each located object a stable ``track_id`` and a ``velocity_mps`` (see the module docstring).

    Args:
        gate_m: largest distance between a track's predicted and a detection's measured position at dt = 0.
        max_speed_mps: the gate widens by this times the time since the last frameset.
        max_missed: framesets a track survives without a match.
        alpha, beta: the filter's position and velocity gains (0 < alpha ≤ 1, 0 ≤ beta ≤ 2).
        max_gap_s: a longer pause between framesets starts afresh.
    """

    def __init__(
        self,
        gate_m: float = 0.15,
        max_speed_mps: float = 3.0,
        max_missed: int = 5,
        alpha: float = 0.7,
        beta: float = 0.3,
        max_gap_s: float = 2.0,
    ) -> None:
        if not (0.0 < alpha <= 1.0 and 0.0 <= beta <= 2.0 and gate_m > 0 and max_speed_mps >= 0 and max_missed >= 0):
            raise MutualSenseError(
                f"invalid tracker settings: gate_m={gate_m}, max_speed_mps={max_speed_mps}, max_missed={max_missed}, "
                f"alpha={alpha}, beta={beta}.",
                "use gate_m > 0, max_speed_mps >= 0, max_missed >= 0, 0 < alpha <= 1 and 0 <= beta <= 2.",
            )
        self.gate_m, self.max_speed_mps, self.max_missed = gate_m, max_speed_mps, max_missed
        self.alpha, self.beta, self.max_gap_s = alpha, beta, max_gap_s
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_ms: float | None = None

    @property
    def active(self) -> int:
        """Tracks open now."""
        return len(self._tracks)

    def reset(self) -> None:
        """Close every track (ids keep counting up)."""
        self._tracks = []
        self._last_ms = None

    def update(self, objects: Sequence[SalientObject], timestamp_ms: float) -> tuple[SalientObject, ...]:
        """The objects of one frameset, with ``track_id`` and ``velocity_mps`` set where they have a position."""
        dt = 0.0 if self._last_ms is None else (timestamp_ms - self._last_ms) / 1000.0
        if self._last_ms is not None and not (0.0 < dt <= self.max_gap_s) or not math.isfinite(dt):
            self.reset()
            dt = 0.0
        self._last_ms = timestamp_ms
        located = [i for i, o in enumerate(objects) if o.position_m is not None]
        measured = np.array([objects[i].position_m for i in located], dtype=np.float64).reshape(-1, 3)
        matches = self._match(measured, dt)
        out = list(objects)
        for di, index in enumerate(located):
            found = matches.get(di)
            if found is None:
                track = _Track(self._next_id, measured[di].copy(), np.zeros(3), timestamp_ms)
                self._next_id += 1
                self._tracks.append(track)
                velocity = None
            else:
                track = found
                self._correct(track, measured[di], dt, timestamp_ms)
                velocity = (float(track.velocity[0]), float(track.velocity[1]), float(track.velocity[2]))
            out[index] = replace(objects[index], track_id=track.track_id, velocity_mps=velocity)
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        return tuple(out)

    def _match(self, measured: np.ndarray, dt: float) -> dict[int, _Track]:
        """Detection index → its track (optimal assignment inside the gate); unmatched tracks coast."""
        predicted = np.array([t.position + t.velocity * dt for t in self._tracks]).reshape(-1, 3)
        gate = self.gate_m + self.max_speed_mps * dt
        matches: dict[int, _Track] = {}
        if len(self._tracks) and len(measured):
            dist = np.linalg.norm(predicted[:, None, :] - measured[None, :, :], axis=2)
            # beyond the gate: a cost no in-gate pairing can exceed, so the assignment never trades one for it
            cost = np.where(dist <= gate, dist, gate * (len(measured) + len(self._tracks)) + 1.0)
            for ti, di in assign(cost):
                if dist[ti, di] <= gate:
                    matches[di] = self._tracks[ti]
        matched = {id(t) for t in matches.values()}
        for ti, track in enumerate(self._tracks):
            if id(track) not in matched:
                track.missed += 1
                track.position = predicted[ti]
        return matches

    def _correct(self, track: _Track, measured: np.ndarray, dt: float, timestamp_ms: float) -> None:
        """The alpha-beta filter's correction with one measurement (two-point velocity on the second sighting)."""
        if track.hits == 1 and timestamp_ms > track.seen_ms:
            # a track seen once has v = 0, so coasting left its position where it was seen
            track.velocity = (measured - track.position) / ((timestamp_ms - track.seen_ms) / 1000.0)
            track.position = measured.copy()
        else:
            prediction = track.position + track.velocity * dt
            residual = measured - prediction
            track.position = prediction + self.alpha * residual
            if dt > 0:
                track.velocity = track.velocity + (self.beta / dt) * residual
        track.hits += 1
        track.missed = 0
        track.seen_ms = timestamp_ms
