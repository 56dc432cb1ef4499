"""The 3D tracker: optimal assignment (checked against scipy), stable ids, velocity, gating, resets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from mutualsense.results import SalientObject
from mutualsense.spatial.tracking import Tracker3D, assign


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 7), st.integers(0, 7), st.integers(0, 2**32 - 1))
def test_assign_matches_scipy(n, m, seed):
    cost = np.random.default_rng(seed).random((n, m)) * 10
    ours = assign(cost)
    rows, cols = linear_sum_assignment(cost)
    assert len(ours) == len(rows) == min(n, m)
    assert sum(cost[r, c] for r, c in ours) == pytest.approx(cost[rows, cols].sum(), abs=1e-9)
    assert len({r for r, _ in ours}) == len({c for _, c in ours}) == len(ours)


def obj(position):
    return SalientObject((0, 0, 1, 1), 0.9, 0.1, None if position is None else position[2], 1.0, position_m=position)


def test_constant_velocity_keeps_its_id_and_velocity():
    tracker = Tracker3D()
    v = np.array([0.3, -0.1, 0.5])  # m/s
    ids, vel = set(), None
    for i in range(60):
        t = i * 1000 / 30
        p = np.array([0.0, 0.0, 1.0]) + v * t / 1000
        (o,) = tracker.update([obj(tuple(p))], t)
        ids.add(o.track_id)
        vel = o.velocity_mps
        if i == 0:
            assert vel is None
    assert ids == {1}
    assert np.allclose(vel, v, atol=1e-6)


def test_two_objects_keep_ids_whatever_their_order_and_one_may_vanish():
    tracker = Tracker3D()
    a, b = np.array([0.2, 0, 1.0]), np.array([-0.2, 0, 1.1])
    first = tracker.update([obj(tuple(a)), obj(tuple(b))], 0)
    id_a, id_b = first[0].track_id, first[1].track_id
    assert id_a != id_b
    out = tracker.update([obj(tuple(b + 0.01)), obj(tuple(a - 0.01))], 33)
    assert (out[0].track_id, out[1].track_id) == (id_b, id_a)
    # b vanishes for three framesets and comes back: same id; a never left
    for k in range(3):
        (o,) = tracker.update([obj(tuple(a))], 66 + 33 * k)
        assert o.track_id == id_a
    out = tracker.update([obj(tuple(b)), obj(tuple(a))], 200)
    assert (out[0].track_id, out[1].track_id) == (id_b, id_a)


def test_gate_and_expiry_and_objects_without_depth():
    tracker = Tracker3D(gate_m=0.1, max_speed_mps=1.0, max_missed=2)
    (o,) = tracker.update([obj((0.0, 0.0, 1.0))], 0)
    # 1 m away 33 ms later: beyond the gate (0.1 + 1.0 * 0.033 m): a new object
    (far,) = tracker.update([obj((1.0, 0.0, 1.0))], 33)
    assert far.track_id != o.track_id
    (none,) = tracker.update([obj(None)], 66)
    assert none.track_id is None and none.velocity_mps is None
    for k in range(3):
        tracker.update([], 99 + 33 * k)
    assert tracker.active == 0  # both tracks missed more than twice
    (back,) = tracker.update([obj((0.0, 0.0, 1.0))], 300)
    assert back.track_id not in (o.track_id, far.track_id)  # ids are never reused


def test_time_going_backwards_starts_afresh():
    tracker = Tracker3D()
    (a,) = tracker.update([obj((0.0, 0.0, 1.0))], 1000)
    (b,) = tracker.update([obj((0.0, 0.0, 1.0))], 0)  # a recording looped
    assert b.track_id != a.track_id and b.velocity_mps is None


def test_saliency_smoother_is_an_exponential_average_in_time():
    from mutualsense.spatial.smoothing import SaliencySmoother

    zero, one = np.zeros((4, 4), np.float32), np.ones((4, 4), np.float32)
    slow = SaliencySmoother(time_constant_s=0.1)
    assert slow(zero, 0.0) is zero  # the first map passes through
    a = 1 - np.exp(-0.05 / 0.1)
    assert np.allclose(slow(one, 50.0), a)
    assert np.allclose(slow(one, 100.0), 1 - (1 - a) ** 2)
    # twice the frame rate over the same time: the same result, 1 - exp(-t / tau)
    fast = SaliencySmoother(time_constant_s=0.1)
    fast(zero, 0.0)
    for t in (25.0, 50.0, 75.0, 100.0):
        out = fast(one, t)
    assert np.allclose(out, 1 - np.exp(-1.0), atol=1e-6)
    # a gap longer than max_gap_s restarts the average; time constant 0 is off
    assert slow(zero, 5000.0) is zero
    off = SaliencySmoother(time_constant_s=0.0)
    off(zero, 0.0)
    assert off(one, 33.0) is one
