"""``mutualsense build-plugin``: compile the CDA TensorRT plugin for this GPU (runs on the target)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mutualsense.cli import app


@app.command("build-plugin")
def build_plugin_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for libmutualsense_cda.so (and its build tree).")],
    arch: Annotated[
        str | None,
        typer.Option(help="GPU architecture, e.g. 87 (Jetson Orin); default: this machine's GPU, else 87."),
    ] = None,
) -> None:
    """Build libmutualsense_cda.so, the TensorRT plugin of the model's CrossDiffusionAttention nodes.

    Run it on the Jetson that will run the model (JetPack >= 6 provides CUDA, the TensorRT headers, cmake).
    Then pass the library to `mutualsense build-engine --plugin`.

    Example: [bold]mutualsense build-plugin --out build[/]   then
    [bold]mutualsense build-engine demo-bundle --plugin build/libmutualsense_cda.so[/]
    """
    from mutualsense.tensorrt.plugin_build import build_plugin

    console = Console()
    with console.status("building the CDA plugin (a minute on a Jetson)…"):
        library = build_plugin(out, arch)
    console.print(f"[green]built[/] {library}")
