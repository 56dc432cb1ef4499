"""``mutualsense train`` / ``evaluate`` usage mistakes: exit 2, one paragraph naming the option typed, nothing written.

All cases run in one fresh interpreter (the console script's ``main`` per case, stderr captured),
so the suite pays for one torch import, not one per case.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="training needs torch (pip install mutualsense[export])")

RUNNER = """
import contextlib, io, json, sys
from mutualsense.cli import main
results = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(args)
        except SystemExit as exc:
            code = int(exc.code or 0)
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""


def _run_all(argv: list[list[str]]) -> list[tuple[int, str]]:
    run = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(argv)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return [(code, err) for code, err in json.loads(run.stdout)]


def test_train_usage_mistakes_exit_2_in_the_options_typed(tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    not_a_checkpoint = tmp_path / "x.pth"
    not_a_checkpoint.write_bytes(b"x")
    recording = tmp_path / "run.db3"
    recording.write_bytes(b"x")
    cases = [
        (["--amp", "fp16"], "--amp fp16"),
        (["--amp", "fp8"], "--amp"),
        (["--device", "cuda"], "--device cuda"),
        (["--device", "gpu:0"], "--device"),
        (["--batch", "0"], "--batch"),
        (["--epochs", "0"], "--epochs"),
        (["--recipe", "paper"], "--backbone-weights"),
        (["--recipe", "paper", "--backbone-weights", str(not_a_checkpoint)], "--data"),
        (["--recipe", "quick"], "--recipe"),
        (["--backbone-weights", str(not_a_checkpoint)], "--config"),
        (["--config", "paper", "--backbone-weights", str(tmp_path / "absent.pth")], "--backbone-weights"),
        (["--init", str(not_a_checkpoint), "--resume", str(not_a_checkpoint)], "--resume and --init"),
        (["--init", str(not_a_checkpoint), "--config", "tiny"], "--config"),
        (["--init", str(tmp_path / "absent.pt")], "--init"),
        (["--scales", "224,250"], "--scales"),
        (["--scales", "a,b"], "--scales"),
        (["--input-size", "100", "96"], "--input-size"),
        (["--optimizer", "adam"], "--optimizer"),
        (["--schedule", "step"], "--schedule"),
        (["--data", str(tmp_path / "missing")], "--data"),
        (["--data", "synthetic", "--data", str(tmp_path)], "--data synthetic"),
        (["--val", str(tmp_path / "missing")], "--val"),
        (["--val", str(recording)], "--val"),
        (["--data", str(recording)], "--data"),
        (["--data", "synthetic?count=5"], "--data"),
        (["--data", "synthetic?colour=1"], "--data"),
    ]
    argv = [["train", "--out", str(out), *extra] for extra, _ in cases]
    run = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(argv)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for (extra, flag), (code, err) in zip(cases, json.loads(run.stdout), strict=True):
        assert code == 2, (extra, err)
        assert flag in err and "Fix:" in err, (extra, err)
        assert "Traceback" not in err, (extra, err)
    assert sorted(tmp_path.iterdir()) == sorted([not_a_checkpoint, recording])


def test_evaluate_usage_mistakes_exit_2_before_loading_anything(tmp_path: Path) -> None:
    model = tmp_path / "m.pt"
    model.write_bytes(b"not read")
    recording = tmp_path / "run.db3"
    recording.write_bytes(b"x")
    cases = [
        (["--data", str(recording)], "--data"),
        (["--data", "synthetic?count=0"], "--data"),
        (["--data", str(tmp_path / "missing")], "--data"),
        (["--data", "synthetic", "--data", str(tmp_path / "missing")], "--data"),
        (["--subset", "odd"], "--subset"),
        (["--device", "tpu"], "--device"),
        (["--report", str(model)], "--report"),
    ]
    results = _run_all([["evaluate", str(model), *extra] for extra, _ in cases] + [["evaluate", "absent.pt"]])
    for (extra, flag), (code, err) in zip(cases, results[:-1], strict=True):
        assert code == 2, (extra, err)
        assert flag in err and "Fix:" in err and "Traceback" not in err, (extra, err)
    code, err = results[-1]
    assert code == 2 and "does not exist" in err
    assert sorted(tmp_path.iterdir()) == sorted([model, recording])
