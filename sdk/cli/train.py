"""``mutualsense train``: train a model on generated scenes or dataset folders, on CPUs or GPUs."""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from mutualsense.cli import app, params
from mutualsense.cli._common import require_export

DATA_HELP = (
    "'synthetic' (generated RGB-D scenes) or an RGB-D SOD dataset folder with RGB/, depth/, GT/; "
    "repeat --data to train on several folders together."
)


def _scales(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    from mutualsense.errors import DataError

    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise DataError(
            f"--scales {text!r} is not a comma-separated list of sizes.", "pass e.g. --scales 224,288,352."
        ) from None


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint to write (rewritten after every epoch).")],
    config: Annotated[
        Literal["tiny", "paper"] | None,
        typer.Option(help="Model config: tiny (CPU demo, the default) or paper (ResNet-50)."),
    ] = None,
    recipe: Annotated[
        str | None,
        typer.Option(help="'paper': the paper's setting (config, 352 px, schedule, augmentation, batch 32)."),
    ] = None,
    data: Annotated[list[str] | None, typer.Option(help=DATA_HELP)] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs to train (default 10).")] = None,
    steps_per_epoch: Annotated[
        int | None, typer.Option(min=1, help="Optimizer steps per epoch (default: one pass over the folders, or 100).")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch", "--batch-size", min=1, help="Global batch: split over the torchrun processes (default 16)."
        ),
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (default 2e-3).")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Weight decay (default 1e-4).")] = None,
    optimizer: Annotated[str | None, typer.Option(help="adamw (default) or sgd (Nesterov momentum 0.9).")] = None,
    schedule: Annotated[
        str | None, typer.Option(help="cosine (warm-up then cosine, default) or triangle (F3Net's).")
    ] = None,
    scales: Annotated[
        str | None, typer.Option(help="Multi-scale training sizes, e.g. 224,288,352 (one per step).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for weights, data and augmentation.")] = None,
    input_size: Annotated[
        tuple[int, int] | None, typer.Option(help="Input height and width (multiples of 32); default from config.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto (GPU if any), cpu, cuda or cuda:N.")] = "auto",
    amp: Annotated[
        str | None, typer.Option(help="Mixed precision: bf16, fp16 (CUDA, with loss scaling) or off (default).")
    ] = None,
    channels_last: Annotated[
        bool | None, typer.Option("--channels-last/--no-channels-last", help="NHWC convolutions (default: auto).")
    ] = None,
    freeze_bn: Annotated[bool, typer.Option(help="BatchNorm in eval mode (running statistics, not updated).")] = False,
    workers: Annotated[
        int | None, typer.Option(min=0, help="Data-loading worker processes per training process.")
    ] = None,
    backbone_weights: Annotated[
        Path | None,
        typer.Option(help="ImageNet ResNet-50 weights (torchvision/timm .pth) for both streams of --config paper."),
    ] = None,
    init: Annotated[Path | None, typer.Option(help="Fine-tune this checkpoint (a new run from its weights).")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue this run's checkpoint (same --out is fine).")] = None,
    val: Annotated[
        str | None, typer.Option(help="Validate after every epoch on 'synthetic' or a dataset folder.")
    ] = None,
    val_count: Annotated[
        int | None, typer.Option(min=1, help="Generated scenes for --val synthetic (default 64).")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for torch (default: all cores).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")] = False,
) -> None:
    """Train a MutualSense model on generated scenes or dataset folders, on CPUs or GPUs.

    Several GPUs: [bold]torchrun --nproc-per-node 4 $(which mutualsense) train --recipe paper ...[/]

    Example: [bold]mutualsense train --config tiny --data synthetic --epochs 10 --out tiny.pt[/]
    """
    given = dict(locals())  # the options as typed, before any helper variable exists
    params.greater_than(lr, 0, "--lr", "2e-3")
    params.check_input_size(input_size)
    for item in data or ():
        if not item.startswith("synthetic"):
            params.data_folder(item)
    for option, path in (("--resume", resume), ("--init", init), ("--backbone-weights", backbone_weights)):
        if path is not None:
            params.readable_file(path, option, "checkpoint")
    continuing = resume is not None and out.exists() and resume.exists() and out.samefile(resume)
    params.output_file(out, "--out", overwrite=overwrite or continuing, example="model.pt")
    mod = require_export("mutualsense.export.train")
    given.update(data=tuple(data) if data else None, scales=_scales(scales), freeze_bn=freeze_bn or None)
    ranks = require_export("mutualsense.export.training.distributed").read_ranks()
    options = require_export("mutualsense.export.training.options")
    opts = options.with_recipe(recipe, given)
    options.check_options(opts, ranks.world_size, ranks.local_rank)
    if not ranks.is_main:
        mod.train(opts, out, None, ranks)
        return
    _run_with_progress(mod, opts, out, ranks)


def _run_with_progress(mod: ModuleType, opts: Any, out: Path, ranks: Any) -> None:
    console = Console()
    # the trainer's own lines (device and precision, backbone tensors loaded/adapted/missing, warnings)
    handler = RichHandler(console=console, show_path=False, show_level=False)
    trainer_log = logging.getLogger("mutualsense.export")
    trainer_log.addHandler(handler)
    trainer_log.setLevel(logging.INFO)
    per = opts.batch_size // ranks.world_size
    console.print(f"global batch {opts.batch_size} = {ranks.world_size} process(es) × {per} samples per step")
    columns = (
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  lr {task.fields[lr]:.2e}  {task.fields[rate]:.1f} samples/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("train", total=None, epoch=0, loss=0.0, lr=0.0, rate=0.0)
        logged = [0]

        def on_step(p: Any) -> None:
            progress.update(
                task,
                total=opts.epochs * p.steps_total,
                completed=p.epoch * p.steps_total + p.step + 1,
                epoch=f"{p.epoch + 1}/{opts.epochs}",
                loss=p.loss,
                lr=p.lr,
                rate=p.samples_per_s,
            )
            if len(p.history) > logged[0]:
                logged[0] = len(p.history)
                progress.console.log(_epoch_line(p.history[-1]))

        try:
            facts = mod.train(opts, out, on_step, ranks)
        finally:
            trainer_log.removeHandler(handler)
    console.log(_epoch_line(facts["history"][-1]))
    console.print(
        f"[green]wrote[/] {out} and its metrics ({facts['seconds']:.0f} s of training on {facts['device']}, "
        f"amp {facts['amp']})"
    )


def _epoch_line(h: dict[str, Any]) -> str:
    line = f"epoch {h['epoch']}: mean loss {h['loss']:.4f} ({h['seconds']:.0f} s)"
    if "val_s_measure" in h:
        line += f", validation S {h['val_s_measure']:.4f}, MAE {h['val_mae']:.4f}"
    return line
