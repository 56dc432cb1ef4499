"""``mutualsense doctor``: a table of what this machine can do."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mutualsense.cli import app


@app.command()
def doctor(
    target: Annotated[
        Path | None,
        typer.Option(help="On a Jetson: prove the TensorRT path with this bundle (plugin, engine, run, compare)."),
    ] = None,
) -> None:
    """Show what this machine can do: Python, OpenCV, ONNX Runtime, RealSense, torch, TensorRT, CUDA.

    Each row says OK or what is wrong, with the command that fixes it. On a Jetson it adds the JetPack
    release, power mode and clocks (they change every timing), cuda-python vs the driver's CUDA, the
    ONNX Runtime build (CPU vs NVIDIA's GPU build) and whether this venv can see JetPack's TensorRT.
    Exits 1 when a required component is missing.

    With [bold]--target BUNDLE[/] it also builds the CDA plugin, builds an engine from a scratch copy of
    the bundle, runs it and compares it with ONNX Runtime, printing one verdict per step
    (exit 1 when a step fails).
    """
    from mutualsense.doctor import check_environment

    checks = check_environment()
    table = Table(title="mutualsense doctor")
    table.add_column("component")
    table.add_column("status")
    table.add_column("detail")
    table.add_column("how to fix it")
    for c in checks:
        status = "[green]OK[/]" if c.ok else ("[red]missing[/]" if c.required else "[yellow]warn[/]")
        table.add_row(escape(c.name), status, escape(c.detail), escape(c.hint))
    console = Console()
    console.print(table)
    failed = any(c.required and not c.ok for c in checks)
    if target is not None:
        from mutualsense.tensorrt.target_check import run_target_check

        steps = Table(title=f"TensorRT on this device, with {target}")
        for col in ("step", "verdict", "detail"):
            steps.add_column(col)
        for r in run_target_check(target):
            verdict = {True: "[green]OK[/]", False: "[red]FAILED[/]", None: "[yellow]skipped[/]"}[r.ok]
            steps.add_row(r.name, verdict, escape(r.detail))
            failed |= r.ok is False
        console.print(steps)
    if failed:
        raise typer.Exit(1)
