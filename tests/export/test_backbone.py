"""``--backbone-weights``: our ResNet-50 streams compute torchvision's ResNet-50 features from its weights."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install mutualsense[export])")
if importlib.util.find_spec("torchvision") is None:
    pytest.skip("the reference ResNet-50 comes from torchvision (dev extra)", allow_module_level=True)

from mutualsense.errors import MutualSenseError  # noqa: E402
from mutualsense.export.model import MutualSenseNet, get_config  # noqa: E402
from mutualsense.export.training.backbone import load_backbone_weights  # noqa: E402


def _torchvision_resnet50() -> torch.nn.Module:
    """torchvision's own ResNet-50 (random weights, seeded).

    PyPI's torchvision wheels are CUDA builds whose compiled operators (nms, roi_align, ...) do not
    load into the CPU torch of this project, and ``import torchvision`` registers fake kernels for
    them and fails. The model code is plain Python: import ``torchvision.models.resnet`` under a
    package object that skips that registration (the library's files, unchanged).
    """
    before = set(sys.modules)
    try:
        import torchvision.models as tvm
    except (RuntimeError, OSError):
        for name in set(sys.modules) - before:
            if name.split(".")[0] == "torchvision":
                del sys.modules[name]
        spec = importlib.util.find_spec("torchvision")
        assert spec is not None and spec.submodule_search_locations is not None
        pkg = types.ModuleType("torchvision")
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__ = spec
        sys.modules["torchvision"] = pkg
        tvm = importlib.import_module("torchvision.models")
    torch.manual_seed(3)
    net = tvm.resnet50()
    for name in set(sys.modules) - before:  # leave no stub behind for other tests
        if name.split(".")[0] == "torchvision":
            del sys.modules[name]
    # Non-trivial BN statistics, so the eval-mode features depend on every loaded buffer.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    return net.eval()


def _features(net: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    feats = []
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        x = layer(x)
        feats.append(x)
    return feats


@pytest.mark.parametrize("wrap", ["torchvision", "timm-style prefixed"])
def test_both_streams_match_torchvision_resnet50_features(tmp_path, wrap: str) -> None:
    torch.set_num_threads(2)
    reference = _torchvision_resnet50()
    state = reference.state_dict()
    if wrap != "torchvision":  # a training checkpoint: {"state_dict": {"module.conv1.weight": ...}}
        state = {"state_dict": {f"module.{k}": v for k, v in state.items()}}
    path = tmp_path / "resnet50.pth"
    torch.save(state, path)

    model = MutualSenseNet(get_config("paper")).eval()
    report = load_backbone_weights(model, path)
    n = len(reference.state_dict()) - 2  # every tensor but fc.weight / fc.bias, in each stream
    assert report.loaded == 2 * n - 1
    assert report.adapted == ("depth_backbone.stem.0.0.weight",)
    assert report.missing == ()
    assert report.ignored == ("fc.bias", "fc.weight")

    g = torch.Generator().manual_seed(0)
    rgb = torch.randn(2, 3, 64, 96, generator=g)
    grey = torch.rand(2, 1, 64, 96, generator=g)
    with torch.inference_mode():
        want_rgb = _features(reference, rgb)
        want_depth = _features(reference, grey.expand(-1, 3, -1, -1))  # grey replicated to RGB
        got_rgb = model.rgb_backbone(rgb)
        got_depth = model.depth_backbone(grey)
    for want, got in zip(want_rgb + want_depth, got_rgb + got_depth, strict=True):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_backbone_weights_are_refused_for_the_tiny_config_and_for_other_networks(tmp_path) -> None:
    path = tmp_path / "not-resnet50.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3)}, path)
    with pytest.raises(MutualSenseError, match="--config tiny"):
        load_backbone_weights(MutualSenseNet(get_config("tiny")), path)
    with pytest.raises(MutualSenseError, match="ResNet-50"):
        load_backbone_weights(MutualSenseNet(get_config("paper")), path)
    with pytest.raises(MutualSenseError, match="does not exist"):
        load_backbone_weights(MutualSenseNet(get_config("paper")), tmp_path / "absent.pth")
