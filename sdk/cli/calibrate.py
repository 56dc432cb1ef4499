"""``mutualsense calibrate``: an INT8 calibration set for a bundle's model (needs the export extra)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mutualsense.cli import app
from mutualsense.cli._common import require_export


@app.command()
def calibrate(
    bundle: Annotated[Path, typer.Option("--bundle", "-b", help="Bundle whose input spec the set is made for.")],
    data: Annotated[
        str,
        typer.Option("--data", help="synthetic, an RGB-D SOD dataset folder, or a .db3/.bag recording (or a folder)."),
    ] = "synthetic",
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="Samples to keep.")] = 256,
    seed: Annotated[int, typer.Option(help="Generator seed (synthetic) or sampling seed.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Calibration file to write (.npz).")] = Path("calib.npz"),
) -> None:
    """Build an INT8 calibration set: RGB-D pairs preprocessed exactly as the runtime does, with a manifest.

    Examples:
      [bold]mutualsense calibrate --bundle tiny-fp32 --data robot.db3 --samples 256 --out calib.npz[/]
      [bold]mutualsense export tiny.pt --out tiny-int8 --precision int8 --calib calib.npz[/]
    """
    from mutualsense.bundle import Bundle

    mod = require_export("mutualsense.calibration.set")
    console = Console()
    t0 = time.perf_counter()
    spec = Bundle.load(bundle).input_spec
    with console.status(f"reading {data}…"):
        calib = mod.build_calibration_set(data, samples, spec, seed)
        calib.save(out)
    sources = ", ".join(s.get("path", s["kind"]) for s in calib.manifest["sources"])
    console.print(
        f"[green]wrote[/] {out}: {len(calib)} samples at {spec.height}×{spec.width} from {sources} "
        f"({out.stat().st_size / 2**20:.1f} MiB, {time.perf_counter() - t0:.1f} s)"
    )
