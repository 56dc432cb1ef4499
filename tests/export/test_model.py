"""MutualSenseNet configs and checkpoints."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the model tests need torch (pip install mutualsense[export])")

from mutualsense.errors import CheckpointError  # noqa: E402
from mutualsense.export.model import CONFIGS, MutualSenseNet, load_checkpoint, save_checkpoint  # noqa: E402
from mutualsense.export.model.config import ModelConfig  # noqa: E402


def test_tiny_config_is_small_and_shapes_follow_the_contract() -> None:
    cfg = CONFIGS["tiny"]
    model = MutualSenseNet(cfg).eval()
    params = sum(p.numel() for p in model.parameters())
    assert params <= 2_500_000
    assert params * 4 < 10 * 2**20  # fp32 weights under 10 MB
    h, w = cfg.input.height, cfg.input.width
    with torch.inference_mode():
        out = model(torch.randn(2, 3, h, w), torch.randn(2, 1, h, w))
    assert out.shape == (2, 1, h, w)


@pytest.mark.slow
def test_paper_config_runs_at_352() -> None:
    cfg = CONFIGS["paper"]
    model = MutualSenseNet(cfg).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 352, 352), torch.randn(1, 1, 352, 352))
    assert out.shape == (1, 1, 352, 352)
    # two ResNet-50 trunks (23.5 M each without the classifier, 1 input channel for depth)
    assert 45e6 < sum(p.numel() for p in model.parameters()) < 60e6


def test_fast_and_literal_networks_agree() -> None:
    model = MutualSenseNet(CONFIGS["tiny"]).eval()
    x, d = torch.randn(1, 3, 192, 192), torch.randn(1, 1, 192, 192)
    with torch.inference_mode():
        fast = model(x, d)
        model.set_cda_mode("literal")
        literal = model(x, d)
    assert (fast - literal).abs().max().item() < 1e-4


def test_config_round_trips_through_plain_types() -> None:
    for cfg in CONFIGS.values():
        d = cfg.to_dict()
        assert ModelConfig.from_dict(d) == cfg
        assert all(not isinstance(v, tuple) for v in d.values())


def test_checkpoint_round_trip_rebuilds_the_same_model(tmp_path) -> None:
    model = MutualSenseNet(CONFIGS["tiny"]).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, {"epoch": 3})
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "mutualsense.checkpoint" and payload["version"] == 1
    loaded = load_checkpoint(path)
    assert loaded.training == {"epoch": 3} and loaded.config == CONFIGS["tiny"]
    x, d = torch.randn(1, 3, 192, 192), torch.randn(1, 1, 192, 192)
    with torch.inference_mode():
        assert torch.equal(model(x, d), loaded.model(x, d))
    assert len(loaded.sha256) == 64


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "empty"),
        (b"\x00garbage" * 50, "cannot be read"),
    ],
)
def test_bad_checkpoint_files_give_clear_errors(tmp_path, content, message) -> None:
    path = tmp_path / "bad.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert info.value.remedy


def test_truncated_checkpoint(tmp_path) -> None:
    path = save_checkpoint(tmp_path / "m.pt", MutualSenseNet(CONFIGS["tiny"]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path)


def test_foreign_state_dict_and_other_architecture_are_named(tmp_path) -> None:
    plain = tmp_path / "plain.pt"
    torch.save({"conv.weight": torch.zeros(3)}, plain)
    with pytest.raises(CheckpointError, match="not a MutualSense checkpoint"):
        load_checkpoint(plain)
    model = MutualSenseNet(CONFIGS["tiny"])
    path = save_checkpoint(tmp_path / "m.pt", model)
    payload = torch.load(path, weights_only=True)
    payload["config"]["dim"] = 32
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"does not match the 'tiny' architecture: .*shape of"):
        load_checkpoint(path)
