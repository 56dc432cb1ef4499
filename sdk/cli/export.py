"""``mutualsense export``: checkpoint → bundle (ONNX, FP16, optionally a TensorRT engine)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mutualsense.cli import app
from mutualsense.cli._common import require_export


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint from `mutualsense train` (.pt).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle folder to create.")],
    precision: Annotated[str, typer.Option(help="fp16 (Jetson default), fp32 (CPU) or int8.")] = "fp16",
    engine: Annotated[
        bool, typer.Option(help="Also build the TensorRT engine (on the target: needs TensorRT).")
    ] = False,
    plugin: Annotated[Path | None, typer.Option(help="CDA plugin library for --engine.")] = None,
    input_size: Annotated[
        tuple[int, int] | None, typer.Option(help="Input height and width; default from the checkpoint.")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Fixed batch size (one slot per camera).")] = 1,
    calib: Annotated[Path | None, typer.Option(help="INT8 calibration set (`mutualsense calibrate`).")] = None,
    eval_count: Annotated[int, typer.Option(min=0, help="Held-out generated scenes for the accuracy figures.")] = 200,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Export a checkpoint to a deployment bundle: verified ONNX with the CDA custom op, FP16, manifest.

    Every step is checked: ONNX Runtime against PyTorch, then saliency accuracy per precision on
    held-out generated scenes (recorded in the manifest). The bundle is written atomically.

    Examples:
      [bold]mutualsense export tiny.pt --out tiny-fp32 --precision fp32[/]   (CPU, ONNX Runtime)
      [bold]mutualsense export tiny.pt --out tiny-fp16 --engine --plugin libmutualsense_cda.so[/]   (on a Jetson)
    """
    mod = require_export("mutualsense.export.bundle_export")
    console = Console()
    t0 = time.perf_counter()
    with console.status("starting…") as status:

        def on_step(name: str) -> None:
            console.log(f"{name}…")
            status.update(f"{name}…")

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
    size = sum(f["size"] for f in bundle.manifest["files"].values()) / 2**20
    console.print(f"[green]wrote[/] {out} ({len(bundle.manifest['files'])} files, {size:.1f} MiB)")
