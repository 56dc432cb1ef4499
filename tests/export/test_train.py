"""Training: the structure loss, a few real optimizer steps, resume, and the shipped demo weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install mutualsense[export])")

from mutualsense.evaluation import EVAL_SEED, evaluate_predictor, iter_frames  # noqa: E402
from mutualsense.export import DEMO_WEIGHTS  # noqa: E402
from mutualsense.export.data import to_batch  # noqa: E402
from mutualsense.export.evaluate import checkpoint_predictor  # noqa: E402
from mutualsense.export.model import load_checkpoint  # noqa: E402
from mutualsense.export.train import TrainOptions, optimizer_path, structure_loss, train  # noqa: E402


def test_structure_loss_is_low_for_a_confident_correct_map_and_high_for_the_inverse() -> None:
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    good = structure_loss((mask * 2 - 1) * 8, mask).item()
    bad = structure_loss((1 - mask * 2) * 8, mask).item()
    assert good < 0.01 and bad > 5


def test_training_lowers_the_loss_on_held_out_scenes_and_resumes(tmp_path) -> None:
    # one thread: on a shared, busy machine two OpenMP threads spin-wait on each other (10x slower)
    torch.set_num_threads(1)
    out = tmp_path / "m.pt"
    opts = TrainOptions(
        config="tiny", epochs=1, steps_per_epoch=25, batch_size=8, lr=3e-3, input_size=(64, 64), threads=1
    )
    facts = train(opts, out)
    assert out.exists() and optimizer_path(out).exists()
    loaded = load_checkpoint(out)
    spec = loaded.config.input
    assert (spec.height, spec.width) == (64, 64)
    batch = to_batch(list(iter_frames("synthetic", 16, EVAL_SEED, spec)), spec)

    def held_out_loss(model: torch.nn.Module) -> float:
        with torch.inference_mode():
            return structure_loss(
                model(torch.from_numpy(batch.rgb), torch.from_numpy(batch.depth)), torch.from_numpy(batch.mask)
            ).item()

    from mutualsense.export.model import MutualSenseNet

    torch.manual_seed(0)
    untrained = held_out_loss(MutualSenseNet(loaded.config).eval())
    trained = held_out_loss(loaded.model)
    assert trained < 0.8 * untrained, (untrained, trained)
    assert facts["epoch"] == 1 and len(facts["history"]) == 1

    resumed = train(TrainOptions(**{**opts.__dict__, "config": None, "epochs": 2, "resume": out}), out)
    assert resumed["epoch"] == 2 and [h["epoch"] for h in resumed["history"]] == [1, 2]


@pytest.mark.skipif(not DEMO_WEIGHTS.exists(), reason="demo weights not trained yet (export/weights/tiny.pt)")
def test_shipped_demo_weights_reproduce_their_recorded_figures() -> None:
    assert DEMO_WEIGHTS.stat().st_size <= 10 * 2**20
    recorded = json.loads(DEMO_WEIGHTS.with_suffix(".json").read_text())
    small = recorded["check_set"]
    predict, spec = checkpoint_predictor(DEMO_WEIGHTS)
    scores = evaluate_predictor(predict, iter_frames("synthetic", small["count"], small["seed"], spec), spec)
    assert abs(scores.s_measure - small["s_measure"]) <= 0.01
    assert abs(scores.mae - small["mae"]) <= 0.01
    assert np.isfinite(scores.max_f) and scores.s_measure >= 0.85
