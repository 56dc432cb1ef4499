"""``mutualsense record``: write a RealSense recording from a camera, synthetic scenes or another recording."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mutualsense.cli import app, params
from mutualsense.cli.help import with_appendix
from mutualsense.sources.spec import SOURCE_SPEC_HELP


@app.command()
def record(
    out: Annotated[Path, typer.Argument(help="Recording to write (.db3, RealSense rosbag2).")],
    source: Annotated[
        str, typer.Option(help="camera, camera:SERIAL, synthetic[?...] or a recording to convert.")
    ] = "camera",
    seconds: Annotated[float | None, typer.Option(help="Stream time to record, in seconds (> 0).")] = None,
    frames: Annotated[int | None, typer.Option(min=1, help="Framesets to record (instead of --seconds).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
) -> None:
    """Write a real RealSense recording that `stream`, `profile` and librealsense tools replay.

    A camera is recorded by librealsense's own recorder; synthetic scenes (or another recording)
    go through a librealsense software device with proper intrinsics, extrinsics and depth units.
    The file is written under a temporary name and appears only when complete.

    Example: [bold]mutualsense record run.db3 --source synthetic?fps=30 --seconds 5[/]
    """
    from mutualsense.errors import MutualSenseError
    from mutualsense.sources import open_source
    from mutualsense.sources import record as record_source

    if (seconds is None) == (frames is None):
        raise MutualSenseError("give exactly one of --seconds and --frames.", "e.g. --seconds 5.")
    params.greater_than(seconds, 0, "--seconds", "5")
    if out.suffix.lower() != ".db3":
        raise MutualSenseError(
            f"OUT {out} must end in .db3 (librealsense >= 2.58 records rosbag2 only).",
            f"use {out.with_suffix('.db3')}.",
        )
    inputs = (("--source", params.recording_path(source)),)
    params.output_file(out, "OUT", overwrite=overwrite, inputs=inputs, suffix=".db3", example="run.db3")
    console = Console()
    with console.status(f"recording {source} to {out}…"):
        info = record_source(open_source(source), out, seconds=seconds, frames=frames)
    console.print(
        f"[green]wrote[/] {info.path}: {info.framesets} framesets ({info.color_frames} colour, "
        f"{info.depth_frames} depth frames), {info.duration_s:.1f} s, {info.size_bytes / 2**20:.1f} MiB"
    )


record.__doc__ = with_appendix(record.__doc__, "Sources:", SOURCE_SPEC_HELP)
