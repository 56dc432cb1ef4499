"""``mutualsense evaluate``: score a checkpoint or a bundle on generated scenes or a dataset folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mutualsense.cli import app
from mutualsense.cli._common import DATA_HELP, require_export


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
        int | None, typer.Option(help="Number of samples (default: 500 generated, or the whole folder).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the generated held-out set (default: the standard one).")
    ] = None,
    subset: Annotated[str, typer.Option(help="all | camouflaged | normal (generated scenes only).")] = "all",
    blank_depth: Annotated[bool, typer.Option(help="Feed invalid depth everywhere (the RGB-only ablation).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Score a model's saliency maps: S-measure, max F-measure, max E-measure and MAE.

    Example: [bold]mutualsense evaluate tiny.pt --data synthetic --count 500[/]
    """
    mod = require_export("mutualsense.export.evaluate")
    scores = mod.evaluate_model(model, data, count, seed, subset, blank_depth)
    result = scores.as_dict()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        Console().print(scores_table(f"{model.name} on {data} ({subset})", {"RGB" if blank_depth else "RGB-D": result}))
