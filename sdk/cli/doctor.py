"""``mutualsense doctor``: a table of what this machine can do."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mutualsense.cli import app


@app.command()
def doctor() -> None:
    """Show what this machine can do: Python, OpenCV, ONNX Runtime, RealSense, torch, TensorRT, CUDA.

    Each row says OK or missing, with the command that installs what is missing.
    Exits 1 when a required component is missing.
    """
    from mutualsense.doctor import check_environment

    checks = check_environment()
    table = Table(title="mutualsense doctor")
    table.add_column("component")
    table.add_column("status")
    table.add_column("detail")
    table.add_column("how to get it")
    for c in checks:
        status = "[green]OK[/]" if c.ok else ("[red]missing[/]" if c.required else "[yellow]missing[/]")
        table.add_row(escape(c.name), status, escape(c.detail), escape(c.hint))
    Console().print(table)
    if any(c.required and not c.ok for c in checks):
        raise typer.Exit(1)
