"""``mutualsense train`` and ``mutualsense evaluate``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from mutualsense.cli import app, params
from mutualsense.cli._common import require_export

DATA_HELP = "'synthetic' (generated RGB-D scenes) or an RGB-D SOD dataset folder with RGB/, depth/, GT/."


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint to write (rewritten after every epoch).")],
    config: Annotated[
        Literal["tiny", "paper"], typer.Option(help="Model config: tiny (CPU demo) or paper (ResNet-50).")
    ] = "tiny",
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "synthetic",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs to train.")] = 10,
    steps_per_epoch: Annotated[int, typer.Option(min=1, help="Optimizer steps per epoch.")] = 100,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per step.")] = 16,
    lr: Annotated[float, typer.Option(help="Peak learning rate, > 0 (AdamW, warm-up then cosine).")] = 2e-3,
    seed: Annotated[int, typer.Option(help="Seed for weights, data and augmentation.")] = 0,
    input_size: Annotated[
        tuple[int, int] | None, typer.Option(help="Input height and width (multiples of 32); default from config.")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for torch (default: all cores).")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue from this checkpoint (same --out is fine).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")] = False,
) -> None:
    """Train a MutualSense model on generated scenes or a dataset folder.

    Example: [bold]mutualsense train --config tiny --data synthetic --epochs 10 --out tiny.pt[/]
    """
    params.greater_than(lr, 0, "--lr", "2e-3")
    params.check_input_size(input_size)
    params.data_folder(data)
    if resume is not None:
        params.readable_file(resume, "--resume", "checkpoint")
    continuing = resume is not None and out.exists() and resume.exists() and out.samefile(resume)
    params.output_file(out, "--out", overwrite=overwrite or continuing, example="model.pt")
    mod = require_export("mutualsense.export.train")
    opts = mod.TrainOptions(
        config=config,
        data=data,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        input_size=input_size,
        threads=threads,
        resume=resume,
    )
    console = Console()
    columns = (
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  lr {task.fields[lr]:.2e}  {task.fields[rate]:.1f} samples/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("train", total=epochs * steps_per_epoch, epoch=0, loss=0.0, lr=0.0, rate=0.0)
        logged = [0]

        def on_step(p: mod.TrainProgress) -> None:  # type: ignore[name-defined]
            progress.update(
                task,
                completed=p.epoch * p.steps_total + p.step + 1,
                epoch=f"{p.epoch + 1}/{epochs}",
                loss=p.loss,
                lr=p.lr,
                rate=p.samples_per_s,
            )
            if len(p.history) > logged[0]:
                h = p.history[-1]
                logged[0] = len(p.history)
                progress.console.log(f"epoch {h['epoch']}: mean loss {h['loss']:.4f} ({h['seconds']:.0f} s)")

        facts = mod.train(opts, out, on_step)
    last = facts["history"][-1]
    console.log(f"epoch {last['epoch']}: mean loss {last['loss']:.4f} ({last['seconds']:.0f} s)")
    console.print(f"[green]wrote[/] {out} ({facts['seconds']:.0f} s of training)")


def scores_table(title: str, rows: dict[str, dict[str, float | int]]) -> Table:
    """A rich table of Scores, one row per evaluated variant."""
    table = Table(title=title)
    for col in ("", "S-measure", "max F", "max E", "MAE", "count"):
        table.add_column(col, justify="right" if col else "left")
    for name, s in rows.items():
        table.add_row(
            name, f"{s['s_measure']:.4f}", f"{s['max_f']:.4f}", f"{s['max_e']:.4f}", f"{s['mae']:.4f}", str(s["count"])
        )
    return table


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="A checkpoint (.pt) or a bundle folder (run with ONNX Runtime).")],
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "synthetic",
    count: Annotated[
        int | None, typer.Option(min=1, help="Number of samples (default: 500 generated, or the whole folder).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the generated held-out set (default: the standard one).")
    ] = None,
    subset: Annotated[
        Literal["all", "camouflaged", "normal"], typer.Option(help="Which generated scenes to score.")
    ] = "all",
    blank_depth: Annotated[bool, typer.Option(help="Feed invalid depth everywhere (the RGB-only ablation).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Score a model's saliency maps: S-measure, max F-measure, max E-measure and MAE.

    Example: [bold]mutualsense evaluate tiny.pt --data synthetic --count 500[/]
    """
    from mutualsense.evaluation import EVAL_SEED, backend_predictor, evaluate_predictor, iter_frames

    if not model.is_dir():
        params.readable_file(model, "MODEL", "checkpoint (.pt) or bundle folder")
    params.data_folder(data)
    n = count if count is not None else (500 if data == "synthetic" else None)
    with contextlib.ExitStack() as stack:
        if model.is_dir():
            from mutualsense.backends import OnnxRuntimeBackend
            from mutualsense.bundle import Bundle

            bundle = Bundle.load(model)
            backend = stack.enter_context(OnnxRuntimeBackend(bundle))
            predictor, spec = backend_predictor(backend, bundle.batch), bundle.input_spec
        else:
            predictor, spec = require_export("mutualsense.export.evaluate").checkpoint_predictor(model)
        frames = iter_frames(data, n, EVAL_SEED if seed is None else seed, spec)
        scores = evaluate_predictor(predictor, frames, spec, blank_depth=blank_depth, subset=subset)  # type: ignore[arg-type]
    result = scores.as_dict()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        Console().print(scores_table(f"{model.name} on {data} ({subset})", {"RGB" if blank_depth else "RGB-D": result}))
