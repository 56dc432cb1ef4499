"""``mutualsense evaluate``: score a checkpoint or a bundle on generated scenes or a dataset folder."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from mutualsense.cli import app, params
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
