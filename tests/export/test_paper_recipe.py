"""``--recipe paper`` from an ImageNet backbone file: the ResNet-50 config trains a few steps on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install mutualsense[export])")

from mutualsense.export.model import load_checkpoint  # noqa: E402
from mutualsense.export.model.resnet import ResNet  # noqa: E402
from mutualsense.export.training.logs import log_paths  # noqa: E402


def _imagenet_file(path: Path) -> dict[str, torch.Tensor]:
    """A ResNet-50 checkpoint in torchvision's key layout (conv1, bn1, layer1..4, fc), random weights."""
    torch.manual_seed(11)
    net = ResNet(3, (64, 128, 256, 512), (3, 4, 6, 3), True, "imagenet", 64)
    state = {}
    for key, value in net.state_dict().items():
        key = key.replace("stem.0.0.", "conv1.").replace("stem.0.1.", "bn1.")
        if key.startswith("stages."):
            _, i, rest = key.split(".", 2)
            key = f"layer{int(i) + 1}.{rest}"
        state[key] = value
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    torch.save(state, path)
    return state


def _folder(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("RGB", "depth", "GT"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        mask = np.zeros((72, 96), np.uint8)
        mask[20:50, 30:70] = 255
        cv2.imwrite(str(root / "RGB" / f"{i}.jpg"), rng.integers(0, 255, (72, 96, 3), dtype=np.uint8))
        cv2.imwrite(str(root / "depth" / f"{i}.png"), np.where(mask > 0, 230, 40).astype(np.uint8))
        cv2.imwrite(str(root / "GT" / f"{i}.png"), mask)
    return root


@pytest.mark.slow
def test_paper_recipe_trains_a_few_steps_from_a_backbone_file(tmp_path: Path) -> None:
    weights = tmp_path / "resnet50.pth"
    imagenet = _imagenet_file(weights)
    data = _folder(tmp_path / "NJU2K_train", 4)
    out = tmp_path / "paper.pt"
    cmd = [sys.executable, "-m", "mutualsense", "train", "--recipe", "paper", "--backbone-weights", str(weights)]
    cmd += ["--data", str(data), "--out", str(out), "--epochs", "1", "--steps-per-epoch", "2", "--batch", "2"]
    cmd += ["--input-size", "64", "64", "--scales", "64", "--amp", "off", "--threads", "1", "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]

    loaded = load_checkpoint(out)
    assert loaded.config.name == "paper"
    facts = json.loads(log_paths(out)[0].read_text())
    assert facts["recipe"] == "paper" and facts["optimizer"] == "sgd" and facts["schedule"] == "triangle"
    assert "1 adapted" in facts["backbone"] and "0 missing" in facts["backbone"]
    state = loaded.model.state_dict()
    assert all(torch.isfinite(v).all() for v in state.values())

    # the streams start from the file: two SGD steps later they still point the file's way
    def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))

    rgb = state["rgb_backbone.stages.2.0.conv2.weight"]
    assert cosine(rgb, imagenet["layer3.0.conv2.weight"]) > 0.95
    assert cosine(state["depth_backbone.stages.2.0.conv2.weight"], imagenet["layer3.0.conv2.weight"]) > 0.95
    depth = state["depth_backbone.stem.0.0.weight"]
    assert depth.shape == (64, 1, 7, 7)
    assert cosine(depth, imagenet["conv1.weight"].sum(1, keepdim=True)) > 0.8
