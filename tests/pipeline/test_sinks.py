"""Sinks: the stream runs them (start, every result, stop), the overlay writer works off the stream's path,
the status line and its statistics."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import pytest

import mutualsense
from mutualsense.errors import MutualSenseError
from mutualsense.outputs.overlays import OverlayWriter
from mutualsense.pipeline import PipelineStats, Sink, StatusLine, Stream, format_status, run_stream, stream_stats
from mutualsense.sources.synthetic import SyntheticSource

SMALL = {"color": (160, 120), "depth": (160, 120)}


class Recorder:
    """A sink that records what the stream handed it."""

    def __init__(self, events: list[str] | None = None, fail_start: bool = False) -> None:
        self.events = events if events is not None else []
        self.fail_start = fail_start
        self.results: list[int] = []
        self.statuses: list[dict] = []

    def on_start(self, stream: Stream) -> None:
        self.events.append(f"start {id(self)}")
        if self.fail_start:
            raise MutualSenseError("this sink cannot start.")

    def on_result(self, result, stream: Stream) -> None:
        self.results.append(result.color_frame_number)
        self.statuses.append(stream.status())

    def on_stop(self) -> None:
        self.events.append(f"stop {id(self)}")


def test_the_stream_runs_its_sinks_in_order_on_every_result(tiny_bundle) -> None:
    events: list[str] = []
    a, b = Recorder(events), Recorder(events)
    assert isinstance(a, Sink)
    with mutualsense.open(tiny_bundle, source=SyntheticSource(frames=5, **SMALL), sinks=[a]) as stream:
        stream.add_sink(b)  # added while open: started at once
        results = [r.color_frame_number for r in stream]
    assert a.results == results and len(results) == stream.stats.processed
    assert b.results == results[-len(b.results) :]
    assert events == [f"start {id(a)}", f"start {id(b)}", f"stop {id(b)}", f"stop {id(a)}"]
    last = a.statuses[-1]
    assert last["processed"] == len(results) and last["latency_p50_ms"] > 0


def test_a_sink_that_cannot_start_stops_the_stream_before_its_source_starts(tiny_bundle) -> None:
    events: list[str] = []
    ok, bad = Recorder(events), Recorder(events, fail_start=True)
    source = SyntheticSource(frames=5, **SMALL)
    with pytest.raises(MutualSenseError, match="cannot start"), Stream(tiny_bundle, source, sinks=[ok, bad]):
        pass
    assert events == [f"start {id(ok)}", f"start {id(bad)}", f"stop {id(ok)}"]
    assert not source.started


def test_not_a_sink_is_refused(tiny_bundle) -> None:
    with pytest.raises(MutualSenseError, match="not a sink"):
        Stream(tiny_bundle, SyntheticSource(frames=1, **SMALL)).add_sink(object())  # type: ignore[arg-type]


def test_run_stream_summarises_and_sources_keep_their_names(tiny_bundle) -> None:
    a, b = SyntheticSource(frames=3, seed=1, **SMALL), SyntheticSource(frames=3, seed=2, **SMALL)
    rec = Recorder()
    summary = run_stream(tiny_bundle, [a, b], [rec])
    assert sorted(summary.camera_stats) == ["synthetic#0", "synthetic#1"]
    assert summary.stats.processed == len(rec.results) == 6
    assert a.name == b.name == "synthetic"  # the caller's objects are not renamed
    assert summary.status["processed"] == 6 and summary.advice == []


def test_overlays_are_named_by_result_sequence_so_repeated_frame_numbers_never_overwrite(tiny_bundle, tmp_path) -> None:
    # two passes over the same scripted scenes: the frame numbers repeat, the pictures must not be overwritten
    writer = OverlayWriter(tmp_path / "overlays")
    for _ in range(2):
        with Stream(tiny_bundle, SyntheticSource(frames=4, seed=5, **SMALL), sinks=[writer]) as stream:
            stream.run()
    # the sequence continues across the two runs of one writer, so nothing is overwritten
    files = sorted(p.name for p in (tmp_path / "overlays").iterdir())
    assert [f.split("_frame_")[0] for f in files] == [f"result_{i:06d}" for i in range(1, 9)]
    assert [f.split("_frame_")[1] for f in files[:4]] == [f.split("_frame_")[1] for f in files[4:]]  # repeated
    assert writer.written == 8 and writer.dropped == 0
    panel = cv2.imread(str(tmp_path / "overlays" / files[0]))
    assert panel.shape[0] == 120 and panel.shape[1] > 3 * 160  # colour | depth | saliency


def test_overlay_writer_drops_and_counts_what_it_cannot_keep_up_with(tiny_bundle, tmp_path, monkeypatch) -> None:
    gate = threading.Event()
    real_write = OverlayWriter._write

    def slow_write(result, path: Path) -> None:
        gate.wait(10)
        real_write(result, path)

    monkeypatch.setattr(OverlayWriter, "_write", staticmethod(slow_write))
    writer = OverlayWriter(tmp_path, max_pending=2)
    with Stream(tiny_bundle, SyntheticSource(frames=10, **SMALL), sinks=[writer]) as stream:
        t0 = time.monotonic()
        n = sum(1 for _ in stream)  # the stream never waits for the blocked writer
        assert time.monotonic() - t0 < 9
        gate.set()
    assert n == 10 and writer.written + writer.dropped == 10 and writer.dropped >= 7
    assert len(list(tmp_path.glob("*.jpg"))) == writer.written


def test_overlay_writer_reports_a_failed_write_when_the_stream_closes(tiny_bundle, tmp_path, monkeypatch) -> None:
    writer = OverlayWriter(tmp_path)
    monkeypatch.setattr(cv2, "imencode", lambda *a, **k: (False, None))
    stream = Stream(tiny_bundle, SyntheticSource(frames=2, **SMALL), sinks=[writer])
    with pytest.raises(MutualSenseError, match="could not write the overlay pictures"), stream:
        stream.run()


def test_overlay_folder_that_cannot_be_made_is_a_user_error(tiny_bundle, tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    writer = OverlayWriter(tmp_path / "file" / "sub")  # nothing is made before the stream starts
    stream = Stream(tiny_bundle, SyntheticSource(frames=2, **SMALL), sinks=[writer])
    with pytest.raises(MutualSenseError, match="cannot create"), stream:
        stream.run()


def test_status_line_sink_writes_the_formatted_status(tiny_bundle) -> None:
    lines: list[str] = []
    with Stream(tiny_bundle, SyntheticSource(frames=3, **SMALL), sinks=[StatusLine(lines.append, 0.0)]) as s:
        s.run()
    after_fps = format_status(s.status()).split(" | ", 1)[1]  # the rate changes with the time since
    assert len(lines) == 3 and lines[-1].endswith(after_fps)
    assert "produced 3 processed 3" in lines[-1]


def test_stream_stats_feed_the_status_line() -> None:
    stats = stream_stats(PipelineStats(produced=10, processed=8, dropped_by_skew=2), [10, 20, 30], [-1.0, 3.0], 0.0)
    assert stats["latency_p50_ms"] == 20.0 and stats["skew_median_abs_ms"] == 2.0 and stats["processed"] == 8
    json.dumps(stats)  # what the viewer serves
    line = format_status(stats)
    assert "p50   20.0 ms" in line and "produced 10 processed 8" in line and "skew 2 back-pressure 0" in line
    assert stream_stats(PipelineStats(), [], [], time.monotonic())["latency_p95_ms"] == 0.0
