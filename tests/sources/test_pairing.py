"""NearestPairer: each colour frame once, with the nearest depth frame, decided as early as possible."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutualsense.sources import NearestPairer


def drain(p: NearestPairer) -> list[tuple[object, object]]:
    out = []
    while (pair := p.pop()) is not None:
        out.append((pair.color, pair.depth))
    return out


def test_equal_rates_pair_one_to_one_and_decide_when_the_partner_arrives() -> None:
    p: NearestPairer[str, str] = NearestPairer()
    p.push_color(0.0, "c0")
    assert p.pop() is None and p.pending == 1  # a nearer depth frame may still come
    p.push_depth(7.0, "d0")
    assert drain(p) == [("c0", "d0")]
    p.push_color(33.3, "c1")
    p.push_depth(40.3, "d1")
    pair = p.pop()
    assert pair is not None and (pair.color, pair.depth) == ("c1", "d1")
    assert pair.skew_ms == pytest.approx(-7.0)


def test_colour_15_depth_30_uses_each_colour_frame_once_with_its_nearest_depth() -> None:
    # The pipeline's syncer would emit each colour frame twice here (docs/design.md §5).
    p: NearestPairer[int, int] = NearestPairer()
    for j in range(12):
        p.push_depth(j * 1000 / 30, j)
        if j % 2 == 0:
            p.push_color(j * 1000 / 30 + 7.0, j // 2)
    p.finish()
    pairs = drain(p)
    assert [c for c, _ in pairs] == list(range(6))
    assert [d for _, d in pairs] == [0, 2, 4, 6, 8, 10]  # 7 ms after depth j beats 26 ms before j+1


def test_colour_faster_than_depth_reuses_depth_frames() -> None:
    p: NearestPairer[int, int] = NearestPairer()
    for i in range(6):
        if i % 2 == 0:
            p.push_depth(i * 1000 / 30, i // 2)
        p.push_color(i * 1000 / 30, i)
    p.finish()
    pairs = drain(p)
    assert [c for c, _ in pairs] == list(range(6))
    # colour 1 at 33.3 ms sits between depth 0 (0 ms) and depth 1 (66.7 ms): a tie goes to the older one.
    assert [d for _, d in pairs] == [0, 0, 1, 1, 2, 2]


def test_known_depth_period_decides_without_waiting_for_the_next_depth_frame() -> None:
    p: NearestPairer[str, str] = NearestPairer(depth_period_ms=33.3)
    p.push_depth(0.0, "d0")
    p.push_color(10.0, "c0")  # the next depth frame comes at >= 33.3 ms: farther than 10 ms
    assert drain(p) == [("c0", "d0")]
    p.push_color(20.0, "c1")  # 20 ms after d0, but d1 could be 13.3 ms away: wait
    assert p.pop() is None
    p.push_depth(33.3, "d1")
    assert drain(p) == [("c1", "d1")]


def test_colour_without_any_depth_is_dropped_and_counted() -> None:
    p: NearestPairer[str, str] = NearestPairer(max_pending=2)
    for i in range(4):
        p.push_color(float(i), f"c{i}")
    assert p.dropped == 2 and p.pending == 2  # a stalled depth stream does not hold colour forever
    p.finish()
    assert p.dropped == 4 and p.pop() is None


def test_finish_pairs_the_last_colour_frame_with_an_older_depth_frame() -> None:
    p: NearestPairer[str, str] = NearestPairer()
    p.push_depth(0.0, "d0")
    p.push_color(30.0, "c0")
    assert p.pop() is None
    p.finish()
    assert drain(p) == [("c0", "d0")]


def test_restart_keeps_decided_pairs_and_accepts_earlier_timestamps() -> None:
    p: NearestPairer[str, str] = NearestPairer()
    p.push_depth(100.0, "d-old")
    p.push_color(101.0, "c-old")
    p.restart()
    p.push_depth(0.0, "d-new")
    p.push_color(0.0, "c-new")
    assert drain(p) == [("c-old", "d-old"), ("c-new", "d-new")]
    with pytest.raises(ValueError, match="backwards"):
        p.push_color(-5.0, "c-back")


def test_out_of_order_depth_frames_are_sorted() -> None:
    p: NearestPairer[str, str] = NearestPairer()
    p.push_depth(40.0, "d1")
    p.push_depth(5.0, "d0")  # another thread delivered it late
    p.push_color(6.0, "c0")
    assert drain(p) == [("c0", "d0")]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        NearestPairer(depth_period_ms=0.0)
    with pytest.raises(ValueError):
        NearestPairer(max_pending=0)


@settings(max_examples=60, deadline=None)
@given(
    color=st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=20),
    depth=st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=30),
    period=st.sampled_from([None, 1.0]),
)
def test_matches_brute_force_nearest_neighbour(color: list[float], depth: list[float], period: float | None) -> None:
    """Whatever the interleaving, each colour frame gets the nearest depth frame (ties: older)."""
    color, depth = sorted(color), sorted(depth)
    if period is not None:  # frames at least a period apart, as a real stream
        depth = [d + k * 1.0 for k, d in enumerate(sorted(set(depth)))]
    p: NearestPairer[float, float] = NearestPairer(depth_period_ms=period, max_pending=100, max_depth=100)
    events = sorted([(t, 0, t) for t in depth] + [(t, 1, t) for t in color])
    for t, kind, _ in events:
        (p.push_depth if kind == 0 else p.push_color)(t, t)
    p.finish()
    pairs = drain(p)
    assert [c for c, _ in pairs] == color
    for c, d in pairs:
        best = min(depth, key=lambda x: (abs(x - c), x))
        assert abs(d - c) == abs(best - c)
