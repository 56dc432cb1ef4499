"""Several cameras through one backend: tagging, per-camera counters, batching across cameras."""

from __future__ import annotations

from pathlib import Path

import pytest

import mutualsense
from mutualsense.bundle import Bundle
from mutualsense.sources import SyntheticSource, record


def synthetic(seed: int, frames: int = 12, **kw) -> SyntheticSource:
    return SyntheticSource(frames=frames, seed=seed, color=(160, 120), depth=(160, 120), name=f"cam{seed}", **kw)


def exact(stats) -> bool:
    return stats.produced == stats.processed + stats.dropped_by_skew + stats.dropped_by_backpressure


@pytest.fixture(scope="module")
def batch2_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    torch = pytest.importorskip("torch", reason="making a bundle needs the export extra (torch)")
    from mutualsense.export.bundle_export import export_bundle
    from mutualsense.export.model import CONFIGS, MutualSenseNet, save_checkpoint

    root = tmp_path_factory.mktemp("batch2")
    torch.manual_seed(0)
    ckpt = save_checkpoint(root / "m.pt", MutualSenseNet(CONFIGS["tiny"]))
    return export_bundle(ckpt, root / "b2", precision="fp32", input_size=(96, 96), batch=2, eval_count=0)


@pytest.mark.parametrize("n", [2, 3])
def test_cameras_share_one_backend_with_exact_counters_per_camera(tiny_bundle, n: int) -> None:
    sources = [synthetic(seed) for seed in range(1, n + 1)]
    with mutualsense.open(tiny_bundle, sources=sources) as stream:
        results = list(stream)
    per_camera = stream.camera_stats
    assert sorted(per_camera) == [f"cam{i}" for i in range(1, n + 1)]
    for name, stats in per_camera.items():
        assert stats.produced == 12 and exact(stats), (name, stats)
        mine = [r for r in results if r.source == name]
        assert len(mine) == stats.processed == 12  # replayed on demand: nothing dropped
        numbers = [r.color_frame_number for r in mine]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert stream.stats.produced == 12 * n and exact(stream.stats)


def test_a_batched_bundle_infers_framesets_of_different_cameras_together(batch2_bundle) -> None:
    sources = [synthetic(1, 10), synthetic(2, 10)]
    calls: list[int] = []
    with mutualsense.open(batch2_bundle, sources=sources) as stream:
        infer = stream.backend.infer

        def spy(feed):  # the real backend, counted
            calls.append(feed["rgb"].shape[0])
            return infer(feed)

        stream.backend.infer = spy  # type: ignore[method-assign]
        results = list(stream)
    assert len(results) == 20 and set(calls) == {2}
    assert len(calls) < len(results)  # at least some framesets of the two cameras shared a batch


def test_two_inference_workers_on_a_batched_bundle_keep_each_camera_exact_and_in_order(batch2_bundle) -> None:
    sources = [synthetic(1, 15, real_time=False), synthetic(2, 15, real_time=False), synthetic(3, 15, real_time=False)]
    with mutualsense.open(batch2_bundle, sources=sources, threads=1, inference_workers=2) as stream:
        results = list(stream)
    assert len(results) == 45
    for name, stats in stream.camera_stats.items():
        assert stats.produced == stats.processed == 15 and exact(stats)
        numbers = [r.color_frame_number for r in results if r.source == name]
        assert numbers == sorted(numbers) and len(set(numbers)) == 15


def test_two_recordings_at_once(tiny_bundle, tmp_path: Path) -> None:
    paths = []
    for seed in (4, 5):
        p = tmp_path / f"rec{seed}.db3"
        record(synthetic(seed, 8), p, frames=8)
        paths.append(str(p))
    with mutualsense.open(tiny_bundle, sources=paths) as stream:
        results = list(stream)
    assert {r.source for r in results} == {"rec4.db3", "rec5.db3"}
    assert all(s.processed == 8 and exact(s) for s in stream.camera_stats.values())


def test_the_same_source_twice_gets_distinct_names(tiny_bundle) -> None:
    with mutualsense.open(
        tiny_bundle, sources=["synthetic?frames=3&real_time=0", "synthetic?frames=3&real_time=0"]
    ) as st:
        results = list(st)
    assert sorted(st.camera_stats) == ["synthetic#0", "synthetic#1"] and len(results) == 6


def test_usb_advice_names_the_camera_that_lost_frames(tiny_bundle) -> None:
    cam = synthetic(1, 3)
    with mutualsense.open(tiny_bundle, sources=[cam, synthetic(2, 3)]) as stream:
        list(stream)
        cam.counters.frame_gaps = 5  # as a camera on a saturated USB bus reports
    tips = stream.advice()
    assert len(tips) == 1 and "cam1 lost 5 frames" in tips[0] and "USB" in tips[0]


def test_stream_command_takes_several_sources(tiny_bundle) -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "mutualsense", "stream", "--bundle", str(tiny_bundle.path)]
    for seed in (1, 2):
        cmd += ["--source", f"synthetic?frames=6&real_time=0&seed={seed}&color=160x120&depth=160x120"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "synthetic#0: framesets: produced 6 = processed 6" in r.stdout and "synthetic#1: framesets" in r.stdout
