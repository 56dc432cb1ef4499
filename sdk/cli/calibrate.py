"""``mutualsense calibrate`` (an INT8 calibration set) and ``setup-modelopt`` (the INT8 quantiser's venv)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from mutualsense.cli import app, params
from mutualsense.cli._common import require_export
from mutualsense.errors import OptionError


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
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")] = False,
) -> None:
    """Build an INT8 calibration set: RGB-D pairs preprocessed exactly as the runtime does, with a manifest.

    Examples:
      [bold]mutualsense calibrate --bundle tiny-fp32 --data robot.db3 --samples 256 --out calib.npz[/]
      [bold]mutualsense export tiny.pt --out tiny-int8 --precision int8 --calib calib.npz[/]
    """
    from mutualsense.bundle import Bundle

    params.bundle_folder(bundle)
    params.data_folder(data)
    recording = params.recording_path(data)
    inputs = (("--bundle", bundle), ("--data", recording or (Path(data) if data != "synthetic" else None)))
    params.output_file(out, "--out", overwrite=overwrite, inputs=inputs, suffix=".npz", example="calib.npz")
    spec = Bundle.load(bundle).input_spec
    mod = require_export("mutualsense.calibration.set")
    console = Console()
    t0 = time.perf_counter()
    with console.status(f"reading {data}…"):
        calib = mod.build_calibration_set(data, samples, spec, seed)
        calib.save(out)
    sources = ", ".join(s.get("path", s["kind"]) for s in calib.manifest["sources"])
    console.print(
        f"[green]wrote[/] {out}: {len(calib)} samples at {spec.height}×{spec.width} from {sources} "
        f"({out.stat().st_size / 2**20:.1f} MiB, {time.perf_counter() - t0:.1f} s)"
    )


@app.command("setup-modelopt")
def setup_modelopt(
    path: Annotated[
        Path | None,
        typer.Option(
            help="Where to make the venv; default $MUTUALSENSE_MODELOPT_VENV, else a source checkout's "
            ".venv-modelopt (as `make modelopt` makes), else ~/.cache/mutualsense/…"
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Make it again even if it exists.")] = False,
) -> None:
    """Make nvidia-modelopt's own venv, which INT8 export uses to quantise (about 2 GB, once).

    modelopt pins its own onnx and onnxruntime-gpu, which would replace the toolchain's: it lives in a
    venv of its own and runs as a subprocess. `mutualsense export --precision int8` makes the venv on
    first use anyway; run this ahead of time (e.g. while building a workstation image). Extra pip
    options go in MUTUALSENSE_MODELOPT_PIP_ARGS: modelopt imports torch without computing with it, so
    point pip at PyTorch's CPU wheels to skip the multi-GB CUDA build.

    Examples:
      [bold]mutualsense setup-modelopt[/]
      [bold]export MUTUALSENSE_MODELOPT_PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"[/]
    """
    if path is not None and path.exists() and not path.is_dir():
        raise OptionError(f"--path {path} is a file; the venv is a folder.", "choose another --path.")
    mod = require_export("mutualsense.calibration.modelopt")
    console = Console()
    env = None if force else mod.find_env(path)
    if env is not None:
        console.print(f"[green]ready[/]: {env.describe()}")
        return
    t0 = time.perf_counter()
    with console.status("starting…") as status:

        def on_step(name: str) -> None:
            console.log(f"{escape(name)}…")
            status.update(f"{escape(name)}…")

        env = mod.create_env(path, on_step=on_step)
    console.print(f"[green]ready[/] in {time.perf_counter() - t0:.0f} s: {env.describe()}")
