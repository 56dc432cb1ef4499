"""Latency profiling: stage sums, percentiles, clocks, drops, skew, JSON round trip, plots, diff and the CLI."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_in_process

import mutualsense
from mutualsense.errors import MissingDependencyError, MutualSenseError
from mutualsense.profiling import (
    CLOCK_DELIVERY,
    CLOCK_NONE,
    CLOCK_SENSOR,
    PROFILE_VERSION,
    ProfileReport,
    Stats,
    diff_reports,
    profile_backend,
    profile_pipeline,
)
from mutualsense.sources.base import Source
from mutualsense.sources.frameset import FrameSet
from mutualsense.sources.synthetic import SyntheticSource

SMALL = {"color": (160, 120), "depth": (160, 120)}


@pytest.fixture(scope="module")
def report(tiny_bundle) -> ProfileReport:
    """One pipeline profile on a synthetic source, shared by the tests that only read it."""
    return profile_pipeline(tiny_bundle, SyntheticSource(frames=40, seed=2, **SMALL), frames=30, warmup=5, threads=1)


@pytest.fixture(scope="module")
def backend_report(tiny_bundle) -> ProfileReport:
    return profile_backend(tiny_bundle, iterations=30, warmup=3, threads=1)


def test_stage_times_sum_to_the_total_and_the_queue_is_its_own_stage(report: ProfileReport) -> None:
    assert report.mode == "pipeline" and report.frames == 30
    assert report.stages[:4] == ("wait", "align", "preprocess", "queue")
    assert {"inference", "postprocess"} <= set(report.stages)
    summed = np.sum([report.samples.stages_ms[s] for s in report.stages], axis=0)
    total = np.asarray(report.samples.total_ms)
    assert np.all(np.abs(summed - total) <= 0.05 * total)
    assert report.stage_sum_error() < 0.05
    assert all(min(report.samples.stages_ms[s]) >= 0 for s in report.stages)


def test_onnxruntime_copies_are_absent_not_zero(report: ProfileReport, backend_report: ProfileReport) -> None:
    for r in (report, backend_report):
        assert {"host_to_device", "device_to_host"} <= set(r.absent_stages)
        assert "host_to_device" not in r.samples.stages_ms
        assert r.stage_stats("host_to_device") is None
        assert "inside session.run" in r.absent_stages["host_to_device"]


def test_percentiles_match_numpy_on_the_raw_samples(report: ProfileReport) -> None:
    series = {s: report.samples.stages_ms[s] for s in report.stages} | {"total": report.samples.total_ms}
    for name, values in series.items():
        st = report.total if name == "total" else report.stage_stats(name)
        assert st is not None and st.count == len(values)
        expected = np.percentile(values, [50, 90, 95, 99])
        assert [st.p50, st.p90, st.p95, st.p99] == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert st.mean == pytest.approx(np.mean(values)) and st.std == pytest.approx(np.std(values))
        assert (st.min, st.max) == (min(values), max(values))
    s = Stats.of(np.arange(101.0))
    assert s is not None and (s.p50, s.p90, s.p95, s.p99, s.max) == (50.0, 90.0, 95.0, 99.0, 100.0)
    assert Stats.of([]) is None


def test_recording_and_synthetic_report_delivery_to_result(report: ProfileReport) -> None:
    assert report.latency_clock == CLOCK_DELIVERY
    assert "delivery" in report.latency_clock_note and "synthetic" in report.latency_clock_note
    assert report.samples.end_to_end_ms == pytest.approx(report.samples.total_ms, abs=1e-6)
    assert report.sensor_to_delivery is None


def test_throughput_interval_jitter_and_counters(report: ProfileReport) -> None:
    t = np.asarray(report.samples.result_time_s)
    assert np.all(np.diff(t) > 0) and t[0] > 0  # measured from the last warm-up result
    assert report.duration_s == pytest.approx(t[-1])
    assert report.throughput_fps == pytest.approx(30 / t[-1])
    assert report.interval is not None and report.interval.count == 30
    assert report.interval.mean == pytest.approx(1000 * t[-1] / 30)
    assert report.jitter_ms == pytest.approx(np.std(np.diff(t, prepend=0.0) * 1000))
    c = report.counters
    assert c["produced"] == c["processed"] + c["dropped_by_skew"] + c["dropped_by_backpressure"]
    assert c["processed"] >= 35  # warm-up + measured
    assert report.versions["mutualsense"] == mutualsense.__version__
    assert len(report.bundle["sha256"]) == 64 and "ExecutionProvider" in report.provider


def test_report_round_trips_through_json(report: ProfileReport, tmp_path: Path) -> None:
    again = ProfileReport.from_json(report.to_json())
    assert again == report
    assert again.summary() == report.summary()
    path = report.save(tmp_path / "sub" / "profile.json")
    assert ProfileReport.load(path) == report
    data = json.loads(path.read_text())
    assert data["format"] == "mutualsense.profile" and data["version"] == PROFILE_VERSION
    assert data["summary"]["stages_ms"]["inference"]["p95"] == report.stage_stats("inference").p95
    assert len(data["samples"]["stages_ms"]["wait"]) == 30
    with pytest.raises(MutualSenseError, match="not a MutualSense profile"):
        ProfileReport.from_dict({"format": "something else"})
    with pytest.raises(MutualSenseError, match="reads up to"):
        ProfileReport.from_dict({**data, "version": PROFILE_VERSION + 1})
    with pytest.raises(MutualSenseError, match="damaged"):
        ProfileReport.from_dict({k: v for k, v in data.items() if k != "samples"})


def test_skew_recovered_from_a_recording_with_a_known_offset(tiny_bundle, tmp_path: Path) -> None:
    pytest.importorskip("pyrealsense2")
    from mutualsense.sources import record

    path = tmp_path / "x.db3"
    record(SyntheticSource(depth_offset_ms=7.0, frames=20, seed=4, **SMALL), path, frames=20)
    r = profile_pipeline(tiny_bundle, str(path), frames=100, warmup=2, threads=1)
    assert r.latency_clock == CLOCK_DELIVERY and r.source["clock_domains"] == ["recording"]
    assert "recording has no live sensor clock" in r.latency_clock_note
    assert r.frames >= 15 and any("source ended" in n for n in r.notes)
    assert r.skew is not None
    assert r.skew.p50 == pytest.approx(-7.0, abs=0.01)
    assert r.skew.min == pytest.approx(-7.0, abs=0.01) and r.skew.max == pytest.approx(-7.0, abs=0.01)


class GlobalTimeSource(Source):
    """Synthetic framesets stamped like a live camera in global time, 20 ms before their delivery."""

    real_time = False

    def __init__(self, frames: int, age_ms: float = 20.0) -> None:
        super().__init__("global-time")
        self.inner, self.age_ms = SyntheticSource(frames=frames, **SMALL), age_ms

    def _start(self) -> None:
        self.inner.start()

    def _stop(self) -> None:
        self.inner.stop()

    def _read(self, timeout_ms: int) -> FrameSet | None:
        fs = self.inner.read(timeout_ms)
        if fs is None:
            return None
        now_ms = time.time() * 1000.0
        return replace(
            fs,
            clock_domain="global_time",
            color_timestamp_ms=now_ms - self.age_ms,
            depth_timestamp_ms=now_ms - self.age_ms - 1.5,
            arrival_time=time.monotonic(),
        )


def test_live_global_time_reports_sensor_to_result(tiny_bundle) -> None:
    r = profile_pipeline(tiny_bundle, GlobalTimeSource(frames=20), frames=12, warmup=2, threads=1)
    assert r.latency_clock == CLOCK_SENSOR and "sensor" in r.latency_clock_note
    assert r.sensor_to_delivery is not None
    assert r.sensor_to_delivery.p50 == pytest.approx(20.0, abs=3.0)
    e2e, total = np.asarray(r.samples.end_to_end_ms), np.asarray(r.samples.total_ms)
    assert np.all(e2e > total)
    assert r.skew is not None and r.skew.p50 == pytest.approx(1.5, abs=1e-6)


def test_drops_are_placed_on_the_timeline_by_cause(tiny_bundle) -> None:
    source = SyntheticSource(fps=120, real_time=True, frames=60, **SMALL)

    def slow_consumer(done: int, total: int) -> None:
        time.sleep(0.03)

    r = profile_pipeline(tiny_bundle, source, frames=12, warmup=1, threads=1, progress=slow_consumer)
    measured = sum(r.samples.dropped_by_backpressure)
    assert measured > 0
    assert measured <= r.counters["dropped_by_backpressure"]
    assert r.drops == {"skew": 0, "backpressure": measured}
    assert len(r.samples.dropped_by_backpressure) == r.frames


def test_backend_only_times_bare_inference(backend_report: ProfileReport) -> None:
    r = backend_report
    assert r.mode == "backend" and r.latency_clock == CLOCK_NONE and r.frames == 30
    assert r.stages == ("inference",)
    assert r.samples.end_to_end_ms == () and r.skew is None and r.counters == {}
    assert r.samples.stages_ms["inference"] == r.samples.total_ms
    assert ProfileReport.from_json(r.to_json()) == r


def test_backend_copies_are_absent_with_the_reason_not_zero(backend_report: ProfileReport) -> None:
    # ONNX Runtime copies inside session.run: the copies are part of "inference", and the report says so
    assert set(backend_report.absent_stages) == {"host_to_device", "device_to_host"}
    assert all("inside session.run" in why for why in backend_report.absent_stages.values())
    assert backend_report.stage_sum_error() == 0.0


def test_diff_reports_deltas_ratios_and_warnings(report: ProfileReport, backend_report: ProfileReport) -> None:
    same = diff_reports(report, report)
    assert same.warnings == ()
    inf = next(r for r in same.rows if r.name == "inference")
    assert inf.delta("p50") == 0.0 and inf.ratio("p95") == 1.0
    d = diff_reports(backend_report, report)
    rows = {r.name: r for r in d.rows}
    a, b = backend_report.stage_stats("inference"), report.stage_stats("inference")
    assert rows["inference"].delta("p50") == pytest.approx(b.p50 - a.p50)
    assert rows["inference"].ratio("p95") == pytest.approx(b.p95 / a.p95)
    assert rows["queue"].a is None and rows["queue"].delta() is None
    assert any("backend" in w and "pipeline" in w for w in d.warnings)
    assert d.throughput_ratio == pytest.approx(report.throughput_fps / backend_report.throughput_fps)


def test_plots_are_written_and_not_empty(report: ProfileReport, backend_report: ProfileReport, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots need the profile extra (pip install mutualsense[profile])")
    import cv2

    from mutualsense.profiling.plots import PLOTS, write_plots

    for name, r in (("pipeline", report), ("backend", backend_report)):
        paths = write_plots(r, tmp_path / name)
        assert [p.name for p in paths] == list(PLOTS)
        for p in paths:
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
            image = cv2.imread(str(p))
            assert image is not None and image.shape[0] > 300 and image.std() > 10  # drawn, not blank


def test_missing_matplotlib_is_one_clear_error(report: ProfileReport, monkeypatch, tmp_path: Path) -> None:
    from mutualsense.profiling.plots import write_plots

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match="matplotlib is not installed") as err:
        write_plots(report, tmp_path)
    assert "mutualsense[profile]" in str(err.value)


def test_bad_arguments_say_what_to_do(tiny_bundle) -> None:
    with pytest.raises(MutualSenseError, match="at least 1"):
        profile_pipeline(tiny_bundle, "synthetic", frames=0)
    with pytest.raises(MutualSenseError, match="before the warm-up"):
        profile_pipeline(tiny_bundle, SyntheticSource(frames=3, **SMALL), frames=5, warmup=5)


def test_public_api_is_lazy_and_torch_free() -> None:
    assert mutualsense.profile_pipeline is profile_pipeline
    assert mutualsense.ProfileReport is ProfileReport


# ------------------------------------------------------------------------------------ CLI


def test_cli_profile_backend_only_then_diff(tiny_bundle, tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "prof"
    code, text, err = cli_in_process(
        "profile", "--bundle", str(tiny_bundle.path), "--backend-only", "--frames", "15", "--warmup", "2",
        "--threads", "1", "--out", str(out), capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "inference" in text and "absent" in text and "p99" in text
    assert sorted(p.name for p in out.iterdir()) == ["latency_cdf.png", "profile.json", "stages.png", "timeline.png"]
    code, text, err = cli_in_process(
        "profile-diff", str(out / "profile.json"), str(out / "profile.json"), capsys=capsys
    )
    assert code == 0, err
    assert "1.00×" in text and "B − A" in text


def test_cli_profile_with_two_inference_workers(tiny_bundle, capsys) -> None:
    code, text, err = cli_in_process(
        "profile", "--bundle", str(tiny_bundle.path), "--source", "synthetic?frames=40&real_time=0", "--frames", "20",
        "--warmup", "2", "--threads", "1", "--inference-workers", "2", capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "inference" in text and "postprocess" in text and "p95" in text


def test_cli_errors_are_one_paragraph(tiny_bundle, tmp_path: Path, capsys, monkeypatch) -> None:
    code, _, err = cli_in_process("profile-diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"), capsys=capsys)
    assert code == 2 and "a.json does not exist" in err and "Traceback" not in err
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "prof"
    code, _, err = cli_in_process(
        "profile", "--bundle", str(tiny_bundle.path), "--source", "synthetic", "--out", str(out), capsys=capsys
    )
    assert code == 2 and "mutualsense[profile]" in err
    assert not (out / "profile.json").exists()  # refused before profiling
