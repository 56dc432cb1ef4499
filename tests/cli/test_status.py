"""The stream's status off a terminal, its summary, --json, and a stream that can never produce a result."""

from __future__ import annotations

import io
import json
import time

import pytest
from conftest import cli_in_process
from rich.console import Console

from mutualsense.cli.status import StatusDisplay, summary_dict, summary_lines
from mutualsense.errors import MutualSenseError
from mutualsense.pipeline import Stream
from mutualsense.pipeline.stats import PipelineStats


def test_off_a_terminal_a_plain_line_every_few_seconds() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with StatusDisplay(console, every_s=0.2) as status:
        assert not status.interactive
        for i in range(12):
            status.update(f"status {i}")
            time.sleep(0.05)
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) <= 4, lines  # about every 0.2 s over 0.6 s, never every update
    assert all(line.startswith("status ") for line in lines)


def test_summary_has_one_rate_and_the_counters_as_a_sentence() -> None:
    stats = PipelineStats(produced=10, processed=7, dropped_by_skew=1, dropped_by_backpressure=2)
    rates = {"fps": 7.0, "elapsed_s": 1.0, "latency_p50_ms": 20.0, "latency_p95_ms": 30.0, "skew_median_abs_ms": 0.5}
    summary = summary_dict({**rates, **stats.as_dict()}, {"a": stats.as_dict()}, ["raise --max-skew-ms"])
    lines = summary_lines(summary)
    assert lines[0].startswith("results: 7 in 1.0 s (7.0 per second)") and sum("per second" in x for x in lines) == 1
    assert "produced 10 = processed 7 + dropped for skew 1 + dropped by back-pressure 2" in lines[1]
    assert lines[-1] == "advice: raise --max-skew-ms" and "{" not in "".join(lines)
    assert json.loads(json.dumps(summary))["counters"]["processed"] == 7


def test_json_summary_is_the_only_thing_on_stdout(tiny_bundle, capsys) -> None:
    code, out, err = cli_in_process(
        "stream", "--bundle", str(tiny_bundle.path), "--source", "synthetic?real_time=0&frames=6",
        "--max-frames", "3", "--json", capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["counters"]["processed"] == 3 and summary["fps"] > 0 and "synthetic" in summary["cameras"]


@pytest.mark.parametrize("source", ["synthetic?offset_ms=40&frames=12&real_time=0", "synthetic?offset_ms=40&fps=30"])
def test_a_stream_whose_every_frameset_is_dropped_says_why(tiny_bundle, source: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(MutualSenseError, match="can never produce a result") as info:  # noqa: SIM117
        with Stream(tiny_bundle, source, max_skew_ms=1.0, stall_timeout_s=1.0) as stream:
            for _ in stream:
                pytest.fail("no frameset is within 1 ms")
    assert time.monotonic() - t0 < 20
    assert "--max-skew-ms" in (info.value.remedy or "") and "--skew-policy flag" in (info.value.remedy or "")
