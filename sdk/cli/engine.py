"""``mutualsense build-engine``: add a TensorRT engine for this GPU to a bundle (runs on the target)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from mutualsense.cli import app


@app.command("build-engine")
def build_engine_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder written by `mutualsense export`.")],
    plugin: Annotated[
        Path | None,
        typer.Option(
            help="CDA plugin library (libmutualsense_cda.so) from `mutualsense build-plugin`; "
            "default: the bundle's copy for this GPU, else built from the shipped sources."
        ),
    ] = None,
    workspace: Annotated[int, typer.Option(help="Builder workspace limit in MB.")] = 1024,
) -> None:
    """Build a TensorRT engine for this GPU from the bundle's ONNX and add it to the bundle.

    Run it on the Jetson that will run the model (JetPack >= 6): engines are specific to the GPU and
    the TensorRT version. The engine's file name records both, so one bundle can serve several targets;
    the timing cache is kept in the bundle folder so rebuilds are fast. `--backend tensorrt` does the
    same on first use when the bundle has no engine for this device.

    Example: [bold]mutualsense build-engine demo-bundle[/]
    """
    from mutualsense.tensorrt.engine_build import build_engine

    console = Console()
    with console.status("building the TensorRT engine (minutes on a Jetson)…"):
        updated = build_engine(bundle, plugin, workspace, progress=lambda line: console.print(escape(line)))
    entry = updated.manifest["engines"][-1]
    console.print(
        f"[green]added[/] {entry['file']} (TensorRT {entry['tensorrt']}, sm {entry['compute_capability']}) to {bundle}"
    )
