"""``mutualsense evaluate``: score a checkpoint or a bundle on generated scenes or dataset folders.

One ``--data``: the scores (a table, or ``--json``). Several ``--data`` folders, or ``--report DIR``:
the benchmark table — S-measure, max F, max E and MAE per dataset beside the MutualFormer paper's
figures where the folder is one of its benchmarks — printed, and written as ``DIR/benchmark.md`` and
``DIR/benchmark.json``.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from mutualsense.cli import app, params
from mutualsense.cli._common import DATA_HELP, require_export
from mutualsense.errors import DataError

if TYPE_CHECKING:
    pass


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


def _check(model: Path, data: list[str], subset: str, report: Path | None) -> None:
    """Usage mistakes, before any model is loaded."""
    if subset not in ("all", "camouflaged", "normal"):
        raise DataError(f"--subset {subset!r} is not a subset.", "use --subset all, camouflaged or normal.")
    from mutualsense.evaluation.labelled import labelled_data_spec

    for item in data:
        labelled_data_spec(item, "--data")
    if report is not None and report.exists() and not report.is_dir():
        raise DataError(f"--report {report} is a file.", "pass a folder for benchmark.md and benchmark.json.")
    if not model.is_dir():
        params.readable_file(model, "MODEL", "checkpoint (.pt) or bundle folder")
    if report is not None:
        params.output_folder(report, "--report", [("MODEL", model)])


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="A checkpoint (.pt) or a bundle folder (run with ONNX Runtime).")],
    data: Annotated[
        list[str] | None,
        typer.Option(
            help=DATA_HELP + " synthetic?count=N&seed=S picks the generated set. Repeat for a benchmark table."
        ),
    ] = None,
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
    report: Annotated[
        Path | None, typer.Option(help="Write the benchmark table to DIR/benchmark.md and DIR/benchmark.json.")
    ] = None,
    device: Annotated[str, typer.Option(help="Checkpoints: auto, cpu, cuda or cuda:N.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores (or the benchmark) as JSON.")] = False,
) -> None:
    """Score a model's saliency maps: S-measure, max F-measure, max E-measure and MAE.

    Example: [bold]mutualsense evaluate tiny.pt --data synthetic --count 500[/]

    Benchmark: [bold]mutualsense evaluate paper.pt --data NJU2K_test --data NLPR_test --report bench/[/]
    """
    datasets = list(data) if data else ["synthetic"]
    _check(model, datasets, subset, report)
    results: dict[str, dict[str, Any]] = {}
    mod = require_export("mutualsense.export.evaluate")
    with contextlib.ExitStack() as stack:
        predictor, spec = mod.open_predictor(model, stack, device)
        for item in datasets:
            scores = mod.score_data(predictor, spec, item, count, seed, subset, blank_depth)
            results[item] = scores.as_dict()
    if len(datasets) == 1 and report is None:
        result = results[datasets[0]]
        if as_json:
            typer.echo(json.dumps(result, indent=2))
        else:
            title = f"{model.name} on {datasets[0]} ({subset})"
            Console().print(scores_table(title, {"RGB" if blank_depth else "RGB-D": result}))
        return
    _benchmark(model, results, report, as_json)


def _benchmark(model: Path, results: dict[str, dict[str, Any]], report: Path | None, as_json: bool) -> None:
    from mutualsense.evaluation.benchmark import BenchmarkRow, benchmark_json, benchmark_markdown

    rows = [BenchmarkRow.from_scores(path, scores) for path, scores in results.items()]
    table = benchmark_json(model.name, rows)
    markdown = benchmark_markdown(model.name, rows)
    if report is not None:
        report.mkdir(parents=True, exist_ok=True)
        (report / "benchmark.md").write_text(markdown, encoding="utf-8")
        (report / "benchmark.json").write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(table, indent=2))
        return
    typer.echo(markdown)
    if report is not None:
        Console().print(f"[green]wrote[/] {report / 'benchmark.md'} and {report / 'benchmark.json'}")
