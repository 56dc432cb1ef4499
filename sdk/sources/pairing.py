"""Pairing colour and depth frames by timestamp: each colour frame once, with its nearest depth frame.

librealsense's syncer emits a frameset whenever either stream delivers a frame, so with colour at
15 fps and depth at 30 fps every colour frame comes out twice, once with each of two depth frames
(docs/design.md §5). :class:`NearestPairer` replaces that policy with a simple one: every colour frame is
used exactly once, with the depth frame whose timestamp is nearest to it (a tie goes to the older
depth frame). A depth frame may serve several colour frames when colour runs faster than depth.

Pure Python, no numpy: the items are opaque.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["NearestPairer", "Pair"]

C = TypeVar("C")
D = TypeVar("D")


@dataclass(frozen=True, eq=False)
class Pair(Generic[C, D]):
    """One decided pairing."""

    color: C
    depth: D
    color_timestamp_ms: float
    depth_timestamp_ms: float

    @property
    def skew_ms(self) -> float:
        """Colour timestamp minus depth timestamp."""
        return self.color_timestamp_ms - self.depth_timestamp_ms


class NearestPairer(Generic[C, D]):
    """Pairs each colour frame once with the depth frame nearest in time.

    Push frames of both streams in arrival order (each stream's timestamps non-decreasing), then
    :meth:`pop` decided pairs in colour order. A colour frame is decided as soon as no later depth
    frame can be nearer to it:

    * a depth frame at or after its timestamp has arrived, or
    * ``depth_period_ms`` is given and the latest depth frame is at most half a period older
      (the next depth frame comes at least a period after the latest one), or
    * the stream ended (:meth:`finish`), or more than ``max_pending`` colour frames wait (a stalled
      depth stream must not hold colour frames forever).

    A colour frame for which no depth frame exists at decision time is dropped and counted in
    :attr:`dropped`.

    Args:
        depth_period_ms: the depth stream's nominal frame period, if known; lets colour frames be
            decided without waiting for the next depth frame (lower latency on live cameras).
        max_pending: colour frames allowed to wait for a decision.
        max_depth: depth frames kept at most (oldest forgotten first).
    """

    def __init__(self, depth_period_ms: float | None = None, max_pending: int = 4, max_depth: int = 64) -> None:
        if depth_period_ms is not None and not (math.isfinite(depth_period_ms) and depth_period_ms > 0):
            raise ValueError(f"depth_period_ms must be a positive number or None, got {depth_period_ms!r}")
        if max_pending < 1 or max_depth < 2:
            raise ValueError(f"need max_pending >= 1 and max_depth >= 2, got {max_pending}, {max_depth}")
        self.depth_period_ms = depth_period_ms
        self.max_pending = int(max_pending)
        self.max_depth = int(max_depth)
        self.dropped = 0
        self._colors: deque[tuple[float, C]] = deque()
        self._depth_ts: list[float] = []
        self._depths: list[D] = []
        self._ready: deque[Pair[C, D]] = deque()
        self._last_color_ts = -math.inf
        self._ended = False

    # ----------------------------------------------------------------------------- input
    def push_color(self, timestamp_ms: float, item: C) -> None:
        """Add a colour frame (timestamps must not decrease; call :meth:`restart` on a new stream)."""
        ts = float(timestamp_ms)
        if ts < self._last_color_ts:
            raise ValueError(
                f"colour timestamp went backwards ({ts} < {self._last_color_ts}): call restart() for a new stream"
            )
        self._last_color_ts = ts
        self._colors.append((ts, item))
        self._decide()

    def push_depth(self, timestamp_ms: float, item: D) -> None:
        """Add a depth frame (kept in timestamp order)."""
        ts = float(timestamp_ms)
        i = bisect.bisect_right(self._depth_ts, ts)
        self._depth_ts.insert(i, ts)
        self._depths.insert(i, item)
        if len(self._depths) > self.max_depth:
            del self._depth_ts[0], self._depths[0]
        self._decide()
        self._prune_older_than(self._last_color_ts)

    def finish(self) -> None:
        """End of both streams: decide every waiting colour frame with the depth frames known."""
        self._ended = True
        self._decide()

    def restart(self) -> None:
        """The streams start over (a looping recording): finish the old ones, keep their pairs."""
        self.finish()
        self._depth_ts.clear()
        self._depths.clear()
        self._last_color_ts = -math.inf
        self._ended = False

    # ----------------------------------------------------------------------------- output
    def pop(self) -> Pair[C, D] | None:
        """The oldest decided pair, or None when none is decided yet."""
        return self._ready.popleft() if self._ready else None

    @property
    def pending(self) -> int:
        """Colour frames waiting for a decision."""
        return len(self._colors)

    @property
    def ready(self) -> int:
        """Decided pairs not popped yet."""
        return len(self._ready)

    # ----------------------------------------------------------------------------- internals
    def _decide(self) -> None:
        while self._colors:
            tc, color = self._colors[0]
            i = bisect.bisect_left(self._depth_ts, tc)  # first depth frame at or after tc
            has_after = i < len(self._depth_ts)
            has_before = i > 0
            decided = (
                has_after
                or (
                    has_before
                    and self.depth_period_ms is not None
                    and tc - self._depth_ts[i - 1] <= 0.5 * self.depth_period_ms
                )
                or self._ended
                or len(self._colors) > self.max_pending
            )
            if not decided:
                return
            self._colors.popleft()
            if not (has_before or has_after):
                self.dropped += 1
                continue
            # The nearer neighbour; a tie goes to the older depth frame.
            older_wins = has_before and (not has_after or tc - self._depth_ts[i - 1] <= self._depth_ts[i] - tc)
            j = i - 1 if older_wins else i
            self._ready.append(Pair(color, self._depths[j], tc, self._depth_ts[j]))
            # Nearest neighbours of later (not earlier) colour frames are at index j or later.
            del self._depth_ts[:j], self._depths[:j]

    def _prune_older_than(self, ts: float) -> None:
        """Forget depth frames before the newest one at or before ``ts`` (colour never goes back)."""
        if self._colors:
            return
        k = bisect.bisect_right(self._depth_ts, ts) - 1
        if k > 0:
            del self._depth_ts[:k], self._depths[:k]
