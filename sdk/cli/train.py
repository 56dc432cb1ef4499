"""``mutualsense train``: train a model on generated scenes or a dataset folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from mutualsense.cli import app, params
from mutualsense.cli._common import DATA_HELP, require_export


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
