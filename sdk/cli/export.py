"""``mutualsense export``: checkpoint → bundle (ONNX, FP16, optionally a TensorRT engine)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
    calib: Annotated[Path | None, typer.Option(help="INT8 calibration set (`mutualsense calibrate`).")] = None,
    eval_count: Annotated[int, typer.Option(min=0, help="Held-out generated scenes for the accuracy figures.")] = 200,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace --out if it is a bundle (or an empty folder).")
    ] = False,
    eval_data: Annotated[
        str, typer.Option(help="INT8 held-out data: synthetic, a dataset folder or a .db3/.bag recording.")
    ] = "synthetic",
    max_drop: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="INT8 gate: largest S-measure drop vs FP32.")
    ] = 0.01,
    force: Annotated[
        bool, typer.Option("--force", help="Write an INT8 bundle that fails the gate (failure recorded).")
    ] = False,
    auto_fp16: Annotated[
        bool,
        typer.Option(
            "--auto-fp16", help="INT8: keep the most sensitive layers in higher precision until the gate passes."
        ),
    ] = False,
    calib_method: Annotated[
        Literal["minmax", "entropy", "percentile"], typer.Option(help="INT8 activation calibration.")
    ] = "minmax",
    quantizer: Annotated[
        Literal["auto", "modelopt", "onnxruntime"],
        typer.Option(
            help="INT8 quantiser: auto (nvidia-modelopt in its own venv, made on first use; ONNX Runtime's where "
            "modelopt cannot run), modelopt or onnxruntime."
        ),
    ] = "auto",
) -> None:
    """Export a checkpoint to a deployment bundle: verified ONNX with the CDA custom op, FP16, manifest.

    Every step is checked: ONNX Runtime against PyTorch, then saliency accuracy per precision on
    held-out generated scenes (recorded in the manifest). The bundle is written atomically.

    Examples:
      [bold]mutualsense export tiny.pt --out tiny-fp32 --precision fp32[/]   (CPU, ONNX Runtime)
      [bold]mutualsense export tiny.pt --out tiny-fp16 --engine --plugin libmutualsense_cda.so[/]   (on a Jetson)
      [bold]mutualsense export tiny.pt --out tiny-int8 --precision int8 --calib calib.npz --auto-fp16[/]   (gated INT8)
    """
    params.readable_file(checkpoint, "CHECKPOINT", "checkpoint")
    for option, path in (("--plugin", plugin), ("--calib", calib)):
        if path is not None:
            params.readable_file(path, option)
    params.check_input_size(input_size)
    params.data_folder(eval_data, "--eval-data")
    inputs = (("CHECKPOINT", checkpoint), ("--calib", calib), ("--plugin", plugin))
    params.bundle_output(out, "--out", overwrite=overwrite, inputs=inputs)
    mod = require_export("mutualsense.export.bundle_export")
    console = Console()
    t0 = time.perf_counter()
    with console.status("starting…") as status:

        def on_step(name: str) -> None:
            console.log(f"{escape(name)}…")
            status.update(f"{escape(name)}…")

        bundle = mod.export_bundle(
            checkpoint,
            out,
            precision=precision,
            input_size=input_size,
            batch=batch,
            calib=calib,
            engine=engine,
            plugin=plugin,
            eval_count=eval_count,
            overwrite=overwrite,
            on_step=on_step,
            eval_data=eval_data,
            max_drop=max_drop,
            force=force,
            auto_fp16=auto_fp16,
            calib_method=calib_method,
            quantizer=quantizer,
        )
    table = Table(title=f"bundle {out} ({precision}, {time.perf_counter() - t0:.1f} s)")
    for col in ("precision", "S-measure", "MAE", "count", "note"):
        table.add_column(col)
    for name, acc in bundle.manifest.get("accuracy", {}).items():
        note = (
            f"drop vs fp32 {acc['s_measure_drop_vs_fp32']:+.5f}"
            if "s_measure_drop_vs_fp32" in acc
            else f"ORT vs PyTorch {acc.get('max_abs_logit_error_vs_torch', 0):.1e}"
        )
        table.add_row(name, f"{acc['s_measure']:.4f}", f"{acc['mae']:.4f}", str(acc["count"]), note)
    console.print(table)
    int8 = bundle.manifest.get("accuracy", {}).get("int8")
    if int8:
        gate = int8["gate"]
        verdict = "[green]passed[/]" if gate["passed"] else "[red]FAILED (written with --force)[/]"
        console.print(f"INT8 gate (drop ≤ {gate['max_drop']:g}): {verdict}")
        console.print(f"quantiser: {int8['calibration']['quantizer']}")
        if int8["calibration"].get("quantizer_note"):
            console.print(
                f"[yellow]ONNX Runtime's quantiser was used because {int8['calibration']['quantizer_note']}[/]"
            )
        if int8["kept_in_higher_precision"]:
            console.print(f"kept in higher precision: {', '.join(int8['kept_in_higher_precision'])}")
        if int8.get("sensitivity_top"):
            worst = Table(title="layers adding the most int8 error (relative L2 vs fp32, calibration samples)")
            for col in ("layer", "op", "added", "accumulated"):
                worst.add_column(col)
            for e in int8["sensitivity_top"][:5]:
                worst.add_row(e["node"], e["op_type"], f"{e['added_error']:.4f}", f"{e['relative_error']:.4f}")
            console.print(worst)
    size = sum(f["size"] for f in bundle.manifest["files"].values()) / 2**20
    console.print(f"[green]wrote[/] {out} ({len(bundle.manifest['files'])} files, {size:.1f} MiB)")
