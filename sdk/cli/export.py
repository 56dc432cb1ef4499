"""``mutualsense export``: checkpoint → bundle (ONNX, FP16, optionally a TensorRT engine)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mutualsense.bundle_summary import BundleSummary
from mutualsense.cli import app, params
from mutualsense.cli._common import require_export


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint from `mutualsense train` (.pt).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle folder to create.")],
    precision: Annotated[
        Literal["fp16", "fp32", "int8"], typer.Option(help="fp16 (Jetson default), fp32 (CPU) or int8.")
    ] = "fp16",
    engine: Annotated[
        bool, typer.Option("--engine", help="Also build the TensorRT engine (on the target: needs TensorRT).")
    ] = False,
    plugin: Annotated[Path | None, typer.Option(help="CDA plugin library for --engine.")] = None,
    input_size: Annotated[
        tuple[int, int] | None, typer.Option(help="Input height and width; default from the checkpoint.")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Fixed batch size (one slot per camera).")] = 1,
    calib: Annotated[Path | None, typer.Option(help="INT8: calibration set (`mutualsense calibrate`).")] = None,
    eval_count: Annotated[int, typer.Option(min=0, help="Held-out generated scenes for the accuracy figures.")] = 200,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace --out if it is a bundle (or an empty folder).")
    ] = False,
    eval_data: Annotated[
        str | None,
        typer.Option(
            help="INT8: held-out data: synthetic, a dataset folder or a .db3/.bag recording (default: synthetic)."
        ),
    ] = None,
    max_drop: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="INT8 gate: largest S-measure drop vs FP32 (default: 0.01).",
        ),
    ] = None,
    force: Annotated[
        bool | None, typer.Option("--force", help="INT8: write a bundle that fails the gate (failure recorded).")
    ] = None,
    auto_fp16: Annotated[
        bool | None,
        typer.Option(
            "--auto-fp16", help="INT8: keep the most sensitive layers in higher precision until the gate passes."
        ),
    ] = None,
    calib_method: Annotated[
        Literal["minmax", "entropy", "percentile"] | None,
        typer.Option(help="INT8 activation calibration (default: minmax)."),
    ] = None,
    quantizer: Annotated[
        Literal["auto", "modelopt", "onnxruntime"] | None,
        typer.Option(
            help="INT8 quantiser: auto (nvidia-modelopt in its own venv, made on first use; ONNX Runtime's where "
            "modelopt cannot run), modelopt or onnxruntime (default: auto)."
        ),
    ] = None,
) -> None:
    """Export a checkpoint to a deployment bundle: verified ONNX with the CDA custom op, FP16, manifest.

    Every step is checked: ONNX Runtime against PyTorch, then saliency accuracy per precision on
    held-out generated scenes (recorded in the manifest). The bundle is written atomically.

    Examples:
      [bold]mutualsense export tiny.pt --out tiny-fp32 --precision fp32[/]   (CPU, ONNX Runtime)
      [bold]mutualsense export tiny.pt --out tiny-fp16 --engine --plugin libmutualsense_cda.so[/]   (on a Jetson)
      [bold]mutualsense export tiny.pt --out tiny-int8 --precision int8 --calib calib.npz --auto-fp16[/]   (gated INT8)
    """
    precisions = require_export("mutualsense.export.precisions")
    typed = {
        "calib": ("--calib", calib),
        "eval_data": ("--eval-data", eval_data),
        "max_drop": ("--max-drop", max_drop),
        "force": ("--force", force),
        "auto_fp16": ("--auto-fp16", auto_fp16),
        "calib_method": ("--calib-method", calib_method),
        "quantizer": ("--quantizer", quantizer),
    }
    given = {name: spelled for name, (spelled, value) in typed.items() if value is not None}
    rule = precisions.check_precision(precision, given)
    params.readable_file(checkpoint, "CHECKPOINT", "checkpoint")
    for option, path in (("--plugin", plugin), ("--calib", calib)):
        if path is not None:
            params.readable_file(path, option)
    params.check_input_size(input_size)
    if eval_data is not None:
        params.data_folder(eval_data, "--eval-data")
    inputs = (("CHECKPOINT", checkpoint), ("--calib", calib), ("--plugin", plugin))
    params.bundle_output(out, "--out", overwrite=overwrite, inputs=inputs)
    int8 = precisions.Int8Options(**{name: value for name, (_, value) in typed.items() if value is not None})
    options = precisions.ExportOptions(
        precision, input_size, batch, engine, plugin, eval_count, overwrite, int8 if precision == "int8" else None
    )
    module, function = rule.entry.split(":")
    run = getattr(require_export(module), function)
    console = Console()
    t0 = time.perf_counter()
    with console.status("starting…") as status:

        def on_step(name: str) -> None:
            console.log(f"{escape(name)}…")
            status.update(f"{escape(name)}…")

        bundle = run(checkpoint, out, options, on_step)
    _print_summary(console, bundle.summary(), f"bundle {out} ({precision}, {time.perf_counter() - t0:.1f} s)")
    console.print(f"[green]wrote[/] {out}")


def _print_summary(console: Console, s: BundleSummary, title: str) -> None:
    table = Table(title=title)
    for col in ("precision", "S-measure", "MAE", "count", "note"):
        table.add_column(col)
    for row in s.accuracy:
        table.add_row(row.precision, f"{row.s_measure:.4f}", f"{row.mae:.4f}", str(row.count), row.note)
    console.print(table)
    if s.int8 is not None:
        gate = s.int8
        verdict = "[green]passed[/]" if gate.passed else "[red]FAILED (written with --force)[/]"
        console.print(f"INT8 gate (drop ≤ {gate.max_drop:g}): {verdict}")
        console.print(f"quantiser: {gate.quantizer}")
        if gate.quantizer_note:
            console.print(f"[yellow]ONNX Runtime's quantiser was used because {gate.quantizer_note}[/]")
        if gate.kept_in_higher_precision:
            console.print(f"kept in higher precision: {', '.join(gate.kept_in_higher_precision)}")
        if gate.worst_layers:
            worst = Table(title="layers adding the most int8 error (relative L2 vs fp32, calibration samples)")
            for col in ("layer", "op", "added", "accumulated"):
                worst.add_column(col)
            for e in gate.worst_layers[:5]:
                worst.add_row(e["node"], e["op_type"], f"{e['added_error']:.4f}", f"{e['relative_error']:.4f}")
            console.print(worst)
    console.print(f"{s.files} files, {s.size_bytes / 2**20:.1f} MiB")
