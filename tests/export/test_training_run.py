"""Training runs: resume equals an uninterrupted run, bf16 autocast on the CPU, the logs, several folders, --init."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install mutualsense[export])")

from mutualsense.export.data import TrainingData  # noqa: E402
from mutualsense.export.model import load_checkpoint  # noqa: E402
from mutualsense.export.train import TrainOptions, lr_at, train  # noqa: E402
from mutualsense.export.training.logs import log_paths  # noqa: E402

TINY = {"config": "tiny", "input_size": (64, 64), "batch_size": 4, "steps_per_epoch": 2, "lr": 3e-3, "threads": 1}


def _weights(path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).model.state_dict()


def test_resuming_gives_the_weights_of_an_uninterrupted_run(tmp_path) -> None:
    straight = tmp_path / "straight.pt"
    train(TrainOptions(**TINY, epochs=2), straight)
    half = tmp_path / "half.pt"
    train(TrainOptions(**TINY, epochs=1), half)
    after_one = _weights(half)
    facts = train(TrainOptions(**{**TINY, "config": None}, epochs=2, resume=half), half)
    assert [h["epoch"] for h in facts["history"]] == [1, 2]
    a, b = _weights(straight), _weights(half)
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=0, msg=key)
    # not a vacuous comparison: the second epoch changed the weights
    assert any(not torch.equal(after_one[k], a[k]) for k in a)


def test_bf16_autocast_trains_on_the_cpu_and_runs_the_convolutions_in_bf16(tmp_path) -> None:
    from mutualsense.export.model import MutualSenseNet, get_config
    from mutualsense.export.training.device import resolve_precision

    precision = resolve_precision("bf16", torch.device("cpu"))
    model = MutualSenseNet(get_config("tiny"))
    seen = []
    model.rgb_backbone.stem[0][0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with precision.autocast():
        model(torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64))
    assert seen == [torch.bfloat16]

    out = tmp_path / "bf16.pt"
    facts = train(TrainOptions(**{**TINY, "steps_per_epoch": 4}, epochs=1, amp="bf16"), out)
    assert facts["amp"] == "bf16" and facts["device"] == "cpu" and facts["channels_last"] is False
    fp32 = tmp_path / "fp32.pt"
    train(TrainOptions(**{**TINY, "steps_per_epoch": 4}, epochs=1), fp32)
    torch.manual_seed(0)
    init = MutualSenseNet(get_config("tiny")).state_dict()
    a, b = _weights(fp32), _weights(out)
    params = [k for k, _ in model.named_parameters()]
    assert all(torch.isfinite(b[k]).all() for k in params)
    # bf16 moves the weights the way fp32 does (closer to fp32's result than to the start), but not
    # bit-identically: autocast was on
    gap = sum(float((a[k] - b[k]).norm()) for k in params)
    moved = sum(float((a[k] - init[k]).norm()) for k in params)
    assert 0 < gap < 0.5 * moved


def test_metrics_are_logged_as_json_csv_and_a_curve_picture(tmp_path) -> None:
    out = tmp_path / "m.pt"
    train(TrainOptions(**TINY, epochs=2, val="synthetic", val_count=8), out)
    json_path, csv_path, png = log_paths(out)
    facts = json.loads(json_path.read_text())
    assert [h["epoch"] for h in facts["history"]] == [1, 2]
    assert facts["global_batch"] == 4 and facts["processes"] == 1
    rows = list(csv.DictReader(csv_path.open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row, h in zip(rows, facts["history"], strict=True):
        assert float(row["loss"]) == pytest.approx(h["loss"], rel=1e-5)
        assert 0 <= float(row["val_s_measure"]) <= 1 and 0 <= float(row["val_mae"]) <= 1
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 200 and image.std() > 5


def _dataset(root, n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    for sub in ("RGB", "depth", "GT"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        mask = np.zeros((48, 64), np.uint8)
        y, x = rng.integers(4, 20), rng.integers(4, 30)
        mask[y : y + 20, x : x + 24] = 255
        cv2.imwrite(str(root / "RGB" / f"{i}.jpg"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        cv2.imwrite(str(root / "depth" / f"{i}.png"), np.where(mask > 0, 220, 60).astype(np.uint8))
        cv2.imwrite(str(root / "GT" / f"{i}.png"), mask)
    return str(root)


def test_several_folders_are_pooled_and_init_fine_tunes_a_checkpoint(tmp_path) -> None:
    a, b = _dataset(tmp_path / "A", 3, 1), _dataset(tmp_path / "B", 5, 2)
    data = TrainingData([a, b], seed=0, augment=False)
    assert len(data) == 8

    # each pass over the pool visits every sample of both folders exactly once, in a new order
    def passes(k: int) -> list[bytes]:
        return [data.frame(i, (48, 64)).rgb.tobytes() for i in range(8 * k, 8 * k + 8)]

    everything = sorted(s.rgb.tobytes() for d in data.datasets for s in d)
    assert sorted(passes(0)) == everything == sorted(passes(1))
    assert passes(0) != passes(1)

    first = tmp_path / "first.pt"
    facts = train(TrainOptions(**{**TINY, "steps_per_epoch": None}, data=(a, b), epochs=1), first)
    assert facts["steps_per_epoch"] == 2 and facts["data"] == [a, b]
    tuned = tmp_path / "tuned.pt"
    opts = TrainOptions(**{**TINY, "config": None, "steps_per_epoch": 1}, data=(b,), epochs=1, init=first)
    facts = train(opts, tuned)
    assert facts["init"] == str(first) and facts["epoch"] == 1
    before, after = _weights(first), _weights(tuned)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_the_triangle_schedule_peaks_at_half_the_run() -> None:
    lrs = [lr_at(s, 99, 0.05, "triangle") for s in range(99)]
    assert max(lrs) == pytest.approx(0.05, rel=0.02) and int(np.argmax(lrs)) in (48, 49)
    assert lrs[0] < 0.002 and lrs[-1] < 0.002


def test_loader_workers_and_process_shares_read_the_one_sample_stream() -> None:
    from mutualsense.export.training.distributed import Ranks
    from mutualsense.export.training.loader import epoch_loader
    from mutualsense.preprocess import InputSpec

    data, spec = TrainingData(["synthetic"], seed=3), InputSpec(height=32, width=32)
    whole = [b[0] for b in epoch_loader(data, 1, 2, 4, Ranks(), spec)]
    threaded = [b[0] for b in epoch_loader(data, 1, 2, 4, Ranks(), spec, workers=1)]
    shares = [[b[0] for b in epoch_loader(data, 1, 2, 4, Ranks(r, 2, r, 2), spec)] for r in (0, 1)]
    assert len(whole) == 2 and whole[0].shape == (4, 3, 32, 32)
    for step in range(2):
        assert torch.equal(threaded[step], whole[step])
        together = torch.cat([shares[0][step], shares[1][step]])
        # each step of the two processes holds exactly the samples of the one-process step
        assert sorted(x.sum().item() for x in together) == sorted(x.sum().item() for x in whole[step])
    assert not torch.equal(whole[0], whole[1])
