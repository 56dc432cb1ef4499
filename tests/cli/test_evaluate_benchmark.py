"""``mutualsense evaluate MODEL --data A --data B --report DIR``: the benchmark table for two folders."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="checkpoints need torch (pip install mutualsense[export])")

from mutualsense.evaluation.synthetic import SceneGenerator  # noqa: E402
from mutualsense.export.model import MutualSenseNet, get_config, save_checkpoint  # noqa: E402


def _folder(root: Path, n: int, seed: int) -> Path:
    """An NJU2K-layout folder of generated scenes (depth as 8-bit nearness, like the benchmarks)."""
    gen = SceneGenerator(height=48, width=64, seed=seed)
    for sub in ("RGB", "depth", "GT"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        s = gen.sample()
        near = np.where(s.depth > 0, 255 - np.clip(s.depth / 20, 0, 255), 0).astype(np.uint8)
        cv2.imwrite(str(root / "RGB" / f"{i}.jpg"), cv2.cvtColor(s.rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "depth" / f"{i}.png"), near)
        cv2.imwrite(str(root / "GT" / f"{i}.png"), s.mask)
    return root


def _evaluate(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "mutualsense", "evaluate", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_benchmark_table_for_two_dataset_folders(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = get_config("tiny")
    model = tmp_path / "m.pt"
    save_checkpoint(model, MutualSenseNet(replace(cfg, input=replace(cfg.input, height=64, width=64))))
    nju, own = _folder(tmp_path / "NJU2K_test", 4, 1), _folder(tmp_path / "garden", 3, 2)
    report = tmp_path / "bench"

    r = _evaluate(str(model), "--data", str(nju), "--data", str(own), "--report", str(report), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    table = json.loads((report / "benchmark.json").read_text())
    rows = {row["dataset"]: row for row in table["datasets"]}
    assert list(rows) == ["NJU2K", "garden"]
    assert rows["NJU2K"]["count"] == 4 and rows["garden"]["count"] == 3
    assert rows["NJU2K"]["paper"] == {"s_measure": 0.922, "max_f": 0.923, "max_e": 0.954, "mae": 0.032}
    assert rows["garden"]["paper"] is None
    markdown = (report / "benchmark.md").read_text()
    assert "| NJU2K | 4 |" in markdown and "0.922" in markdown and "| garden | 3 |" in markdown
    assert markdown in r.stdout

    # the table holds the scores a single-dataset evaluation gives
    one = _evaluate(str(model), "--data", str(own), "--json", "--device", "cpu")
    assert one.returncode == 0, one.stderr
    single = json.loads(one.stdout)
    for key in ("s_measure", "max_f", "max_e", "mae", "count"):
        assert rows["garden"][key] == pytest.approx(single[key], abs=1e-9), key
