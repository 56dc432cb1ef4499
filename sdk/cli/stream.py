"""``mutualsense stream``: a bundle on a live camera, a recording or a synthetic camera."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.live import Live

from mutualsense.cli import app
from mutualsense.sources.base import SOURCE_SPEC_HELP


def _status(stream: object, latencies: list[float], skews: list[float], started: float) -> str:
    s = stream.stats  # type: ignore[attr-defined]
    elapsed = max(time.monotonic() - started, 1e-9)
    p50, p95 = np.percentile(latencies, [50, 95]) if latencies else (0.0, 0.0)
    skew = np.median(np.abs(skews)) if skews else 0.0
    return (
        f"{s.processed / elapsed:5.1f} fps | latency p50 {p50:6.1f} ms p95 {p95:6.1f} ms | "
        f"|skew| median {skew:5.1f} ms | produced {s.produced} processed {s.processed} "
        f"dropped: skew {s.dropped_by_skew} back-pressure {s.dropped_by_backpressure}"
    )


@app.command()
def stream(
    bundle: Annotated[Path, typer.Option(help="Bundle folder from `mutualsense export`.")],
    source: Annotated[str, typer.Option(help="Where frames come from (see below).")] = "camera",
    backend: Annotated[str, typer.Option(help="ort (ONNX Runtime, anywhere) or tensorrt (Jetson engine).")] = "ort",
    max_frames: Annotated[int | None, typer.Option(help="Stop after this many results.")] = None,
    max_skew_ms: Annotated[float | None, typer.Option(help="RGB-depth timestamp skew limit in ms.")] = None,
    skew_policy: Annotated[str, typer.Option(help="drop or flag framesets over --max-skew-ms.")] = "drop",
    save_overlay: Annotated[Path | None, typer.Option(help="Write colour | depth | saliency pictures here.")] = None,
    view: Annotated[str, typer.Option(help="none (status line only).")] = "none",
) -> None:
    """Run a bundle on a camera, recording or synthetic source, with a live status line.

    Capture runs in its own thread and never waits for inference: when the model is slower than
    the camera, the newest frameset wins and the others are counted as dropped.

    Examples:
      [bold]mutualsense stream --bundle demo-fp32 --source synthetic --max-frames 100[/]
      [bold]mutualsense stream --bundle demo-fp32 --source run.db3 --save-overlay out/[/]
    """
    import cv2

    from mutualsense.errors import MutualSenseError
    from mutualsense.pipeline import Stream
    from mutualsense.visualize import colorize_depth, overlay_saliency, side_by_side

    if view != "none":
        raise MutualSenseError(f"unknown view {view!r}.", "use --view none.")
    if save_overlay is not None:
        try:
            save_overlay.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MutualSenseError(
                f"cannot create {save_overlay} ({exc.strerror}).", "choose a writable folder."
            ) from exc
    console = Console()
    latencies: list[float] = []
    skews: list[float] = []
    st = Stream(bundle, source, backend=backend, max_skew_ms=max_skew_ms, skew_policy=skew_policy)  # type: ignore[arg-type]
    started = time.monotonic()
    with st, Live(console=console, refresh_per_second=4, transient=False) as live:
        for n, result in enumerate(st, start=1):
            latencies.append(result.latency_ms["total"])
            skews.append(result.skew_ms)
            if save_overlay is not None and (fs := result.frameset) is not None:
                depth = colorize_depth(fs.depth, fs.depth_scale)
                panel = side_by_side([fs.color, depth, overlay_saliency(fs.color, result.saliency)])
                out = save_overlay / f"frame_{result.color_frame_number:06d}.png"
                cv2.imwrite(str(out), cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))
            live.update(_status(st, latencies[-300:], skews[-300:], started))
            if max_frames is not None and n >= max_frames:
                break
    console.print(_status(st, latencies, skews, started))
    console.print(f"counters: {st.stats.as_dict()}")


stream.__doc__ = (stream.__doc__ or "") + "\n\nSources:\n\n" + SOURCE_SPEC_HELP
