"""The status of a running stream: a live line on a terminal, plain lines in logs, a summary at the end.

On a terminal the status line is redrawn in place; off one (a log file, systemd's journal, a pipe)
a plain line is printed every few seconds instead, so a long run shows progress. The final summary
is printed on lines of its own either way, and ``--json`` gives it to machines as one JSON object.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape

__all__ = ["StatusDisplay", "print_json", "summary_dict", "summary_lines"]


class StatusDisplay:
    """Shows the latest status text: redrawn in place on a terminal, else printed every ``every_s`` seconds.

    Args:
        console: where to show it; its ``is_terminal`` decides between the two behaviours.
        every_s: the interval of the plain lines printed off a terminal.
    """

    def __init__(self, console: Console, every_s: float = 5.0) -> None:
        self.console = console
        self.every_s = every_s
        self.interactive = console.is_terminal
        self._live: Live | None = None
        self._last = 0.0

    def __enter__(self) -> StatusDisplay:
        self._last = time.monotonic()
        if self.interactive:
            # transient: the summary replaces the live line rather than following a stale copy of it
            self._live = Live(console=self.console, refresh_per_second=4, transient=True)
            self._live.start()
        return self

    def update(self, text: str) -> None:
        """Show ``text`` (plain text, no markup) as the current status."""
        if self._live is not None:
            self._live.update(escape(text))
            return
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def summary_dict(
    stats: Mapping[str, Any], cameras: Mapping[str, Mapping[str, int]], advice: Iterable[str]
) -> dict[str, Any]:
    """The end-of-stream summary for ``--json``: rates and latencies, the exact counters, per camera, advice."""
    counters = {k: v for k, v in stats.items() if isinstance(v, int) and not isinstance(v, bool)}
    rates = {k: v for k, v in stats.items() if k not in counters}
    return {**rates, "counters": counters, "cameras": {k: dict(v) for k, v in cameras.items()}, "advice": list(advice)}


def _counters_line(c: Mapping[str, Any]) -> str:
    return (
        f"framesets: produced {c.get('produced', 0)} = processed {c.get('processed', 0)} + dropped for skew "
        f"{c.get('dropped_by_skew', 0)} + dropped by back-pressure {c.get('dropped_by_backpressure', 0)}; "
        f"skew-flagged {c.get('skew_flagged', 0)}, read timeouts {c.get('read_timeouts', 0)}, "
        f"source frame gaps {c.get('source_frame_gaps', 0)}, reconnects {c.get('reconnects', 0)}"
    )


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The summary as plain lines, one fact per line (no markup)."""
    s = summary
    lines = [
        f"results: {s['counters'].get('processed', 0)} in {s['elapsed_s']:.1f} s ({s['fps']:.1f} per second); "
        f"latency p50 {s['latency_p50_ms']:.1f} ms, p95 {s['latency_p95_ms']:.1f} ms; "
        f"|RGB-depth skew| median {s['skew_median_abs_ms']:.1f} ms",
        _counters_line(s["counters"]),
    ]
    if len(s["cameras"]) > 1:
        lines += [f"  {name}: {_counters_line(c)}" for name, c in s["cameras"].items()]
    if "overlay_pictures" in s:
        pictures = s["overlay_pictures"]
        skipped = f", {pictures['skipped']} skipped (the writer could not keep up)" if pictures.get("skipped") else ""
        lines.append(f"overlay pictures: {pictures['written']} written to {pictures['folder']}{skipped}")
    lines += [f"advice: {tip}" for tip in s["advice"]]
    return lines


def print_json(summary: Mapping[str, Any]) -> None:
    """Write the summary to stdout as one JSON object."""
    print(json.dumps(summary, indent=2))
