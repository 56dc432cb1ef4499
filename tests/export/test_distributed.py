"""Several processes through torchrun (gloo on the CPU) train the weights one process trains.

Both runs use the same seed and global batch (4 = 2 processes × 2). BatchNorm runs in eval mode
(``--freeze-bn``): gloo has no synchronised BatchNorm, and per-process batch statistics would differ
from the whole batch's (on CUDA the trainer uses SyncBatchNorm instead). Everything else is the real
thing: DistributedDataParallel averaging gradients, the DistributedSampler shares of the sample
stream, and rank 0 alone writing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install mutualsense[export])")

from mutualsense.export.model import MutualSenseNet, load_checkpoint  # noqa: E402
from mutualsense.export.train import TrainOptions, train  # noqa: E402
from mutualsense.export.training.logs import log_paths  # noqa: E402

ARGS = {"epochs": 1, "steps_per_epoch": 3, "batch_size": 4, "input_size": (64, 64), "lr": 3e-3, "seed": 5}


@pytest.mark.slow
def test_two_gloo_processes_train_the_weights_of_one_process(tmp_path: Path) -> None:
    single = tmp_path / "single.pt"
    train(TrainOptions(config="tiny", freeze_bn=True, threads=1, **ARGS), single)

    double = tmp_path / "double.pt"
    cli = Path(sys.executable).with_name("mutualsense")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(cli), "train"]
    cmd += ["--out", str(double), "--config", "tiny", "--freeze-bn", "--threads", "1", "--device", "cpu"]
    cmd += ["--epochs", "1", "--steps-per-epoch", "3", "--batch", "4", "--input-size", "64", "64"]
    cmd += ["--lr", "3e-3", "--seed", "5"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "global batch 4 = 2 process(es) × 2 samples per step" in run.stdout
    assert run.stdout.count("wrote") == 1  # rank 0 alone reports and writes

    facts = json.loads(log_paths(double)[0].read_text())
    assert facts["processes"] == 2 and facts["batch_per_process"] == 2 and facts["global_batch"] == 4
    a, b = load_checkpoint(single).model.state_dict(), load_checkpoint(double).model.state_dict()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-5, msg=key)
    torch.manual_seed(5)
    init = MutualSenseNet(load_checkpoint(single).config).state_dict()
    assert max(float((a[k] - init[k]).abs().max()) for k in a) > 1e-3  # training moved the weights
