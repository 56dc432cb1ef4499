"""``mutualsense stream``: a bundle on a live camera, a recording or a synthetic camera."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from mutualsense.cli import app
from mutualsense.sources.spec import SOURCE_SPEC_HELP


@app.command()
def stream(
    bundle: Annotated[Path, typer.Option(help="Bundle folder from `mutualsense export`.")],
    source: Annotated[
        list[str],
        typer.Option(help="Where frames come from (see below); repeat it for several cameras on one backend."),
    ] = ["camera"],  # noqa: B006 - typer reads the default, nothing mutates it
    backend: Annotated[str, typer.Option(help="ort (ONNX Runtime, anywhere) or tensorrt (Jetson engine).")] = "ort",
    build: Annotated[
        bool,
        typer.Option(
            "--build/--no-build",
            help="With --backend tensorrt: build an engine for this GPU into the bundle when it has none "
            "(minutes, once); --no-build refuses instead.",
        ),
    ] = True,
    max_frames: Annotated[int | None, typer.Option(help="Stop after this many results.")] = None,
    max_skew_ms: Annotated[float | None, typer.Option(help="RGB-depth timestamp skew limit in ms.")] = None,
    skew_policy: Annotated[str, typer.Option(help="drop or flag framesets over --max-skew-ms.")] = "drop",
    save_overlay: Annotated[Path | None, typer.Option(help="Write colour | depth | saliency pictures here.")] = None,
    view: Annotated[
        str, typer.Option(help="none (status line only) or web (a live page in the browser, see --port).")
    ] = "none",
    port: Annotated[int, typer.Option(help="Port of --view web on 127.0.0.1 (0 = any free port).")] = 8765,
    publish: Annotated[
        str, typer.Option(help="none, or zenoh: publish every result on mutualsense/<camera>/{saliency,objects,stats}.")
    ] = "none",
    zenoh_config: Annotated[
        Path | None, typer.Option(help="Zenoh JSON5 configuration (endpoints, scouting); default: zenoh's defaults.")
    ] = None,
    camera_name: Annotated[
        str | None, typer.Option(help="Camera name in the key expressions (default: from --source).")
    ] = None,
    publish_size: Annotated[str, typer.Option(help="Published saliency PNG size, WxH or full.")] = "160x120",
    publish_mode: Annotated[str, typer.Option(help="map (8-bit saliency) or mask (1-bit, > threshold).")] = "map",
) -> None:
    """Run a bundle on a camera, recording or synthetic source, with a live status line.

    Capture runs in its own thread and never waits for inference: when the model is slower than
    the camera, the newest frameset wins and the others are counted as dropped.

    Examples:
      [bold]mutualsense stream --bundle demo-fp32 --source synthetic --max-frames 100[/]
      [bold]mutualsense stream --bundle demo-fp32 --source run.db3 --save-overlay out/[/]
      [bold]mutualsense stream --bundle demo-fp32 --source synthetic?fps=30 --view web[/]  (open the printed URL)
      [bold]mutualsense stream --bundle demo-fp32 --source camera --publish zenoh --zenoh-config peer.json5[/]
      (subscribe with examples/subscribe.py; message format: docs/results.md)
    """
    from mutualsense.errors import MutualSenseError
    from mutualsense.pipeline import Sink, StatusLine, format_status, run_stream

    if view not in ("none", "web"):
        raise MutualSenseError(f"unknown view {view!r}.", "use --view none or --view web.")
    if not 0 <= port <= 65535:
        raise MutualSenseError(f"invalid --port {port}.", "pass a port in 1-65535, or 0 for any free port.")
    if camera_name is not None and len(source) > 1:
        raise MutualSenseError("--camera-name names one camera, but several --source were given.", "drop it.")
    if publish not in ("none", "zenoh"):
        raise MutualSenseError(f"unknown --publish {publish!r}.", "use --publish none or --publish zenoh.")
    if publish == "none" and zenoh_config is not None:
        raise MutualSenseError("--zenoh-config is given without --publish zenoh.", "add --publish zenoh.")
    if publish == "zenoh" and publish_mode not in ("map", "mask"):
        raise MutualSenseError(f"unknown --publish-mode {publish_mode!r}.", "use map or mask.")
    console = Console()
    live = Live(console=console, refresh_per_second=4, transient=False)
    sinks: list[Sink] = [StatusLine(live.update)]
    overlays = None
    if save_overlay is not None:
        from mutualsense.outputs.overlays import OverlayWriter

        overlays = OverlayWriter(save_overlay)
        sinks.append(overlays)
    if publish == "zenoh":
        from mutualsense.outputs.publish import camera_name_from_source, parse_resolution
        from mutualsense.outputs.sinks import ZenohSink

        names = [camera_name or camera_name_from_source(spec) for spec in source]
        resolution = parse_resolution(publish_size)
        sinks.append(
            ZenohSink(
                names,
                zenoh_config,
                resolution,
                publish_mode,  # type: ignore[arg-type]
                announce=lambda key: console.print(f"publishing on [bold]{key}/{{saliency,objects,stats}}[/] (zenoh)"),
            )
        )
    if view == "web":
        from mutualsense.outputs.sinks import WebViewerSink
        from mutualsense.outputs.viewer import WebViewer

        announce = "web view: [bold]{}[/]  (open it in a browser; Ctrl-C stops)"
        sinks.append(WebViewerSink(WebViewer(port=port), announce=lambda url: console.print(announce.format(url))))
    with live:
        summary = run_stream(
            bundle,
            source,
            sinks,
            max_frames,
            backend=backend,
            max_skew_ms=max_skew_ms,
            skew_policy=skew_policy,
            build_engine=build,
        )
    console.print(format_status(summary.status))
    console.print(f"counters: {summary.stats.as_dict()}")
    if len(summary.camera_stats) > 1:
        for name, cam_stats in summary.camera_stats.items():
            console.print(f"  {name}: {cam_stats.as_dict()}")
    if overlays is not None and overlays.dropped:
        console.print(
            f"[yellow]overlays:[/] {overlays.written} written, {overlays.dropped} skipped (the disk was slower)"
        )
    for tip in summary.advice:
        console.print(f"[yellow]advice:[/] {tip}")


stream.__doc__ = (stream.__doc__ or "") + "\n\nSources:\n\n" + SOURCE_SPEC_HELP
