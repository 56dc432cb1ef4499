"""``mutualsense build-engine``: add a TensorRT engine for this GPU to a bundle (runs on the target)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mutualsense.cli import app


@app.command("build-engine")
def build_engine_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder written by `mutualsense export`.")],
    plugin: Annotated[
        Path | None, typer.Option(help="CDA plugin library (libmutualsense_cda.so) from `mutualsense build-plugin`.")
    ] = None,
    workspace: Annotated[int, typer.Option(help="Builder workspace limit in MB.")] = 1024,
) -> None:
    """Build a TensorRT engine for this GPU from the bundle's ONNX and add it to the bundle.

    Run it on the Jetson that will run the model (JetPack >= 6): engines are specific to the GPU and
    the TensorRT version. The engine's file name records both, so one bundle can serve several targets;
    the timing cache is kept in the bundle folder so rebuilds are fast.

    Example: [bold]mutualsense build-engine demo-bundle --plugin build/libmutualsense_cda.so[/]
    """
    from mutualsense.export.engine import build_engine

    console = Console()
    with console.status("building the TensorRT engine (minutes on a Jetson)…"):
        updated = build_engine(bundle, plugin, workspace)
    entry = updated.manifest["engines"][-1]
    console.print(
        f"[green]added[/] {entry['file']} (TensorRT {entry['tensorrt']}, sm {entry['compute_capability']}) to {bundle}"
    )
