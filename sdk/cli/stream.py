"""``mutualsense stream``: a bundle on a live camera, a recording or a synthetic camera."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from mutualsense.cli import app
from mutualsense.sources.spec import SOURCE_SPEC_HELP


def spatial_options(robot_transform: Path | None, points: int, smooth_ms: float, objects_3d: bool) -> dict[str, Any]:
    """The 3D options as :class:`~mutualsense.pipeline.Stream` arguments, checked in the terms the user typed."""
    from mutualsense.errors import MutualSenseError

    camera_to_robot = None
    if robot_transform is not None:
        from mutualsense.spatial.objects3d import load_transform

        camera_to_robot = load_transform(robot_transform, f"--robot-transform {robot_transform}")
    if points < 0:
        raise MutualSenseError(f"--points must be 0 or more, got {points}.", "pass --points 0 (none) or e.g. 2048.")
    if not (math.isfinite(smooth_ms) and smooth_ms >= 0):
        raise MutualSenseError(
            f"--smooth-ms must be 0 or more, got {smooth_ms}.", "pass --smooth-ms 0 (off) or e.g. 100."
        )
    if (points or camera_to_robot is not None or smooth_ms) and not objects_3d:
        raise MutualSenseError(
            "--points, --robot-transform and --smooth-ms need the 3D step, but --no-objects-3d was given.",
            "drop --no-objects-3d, or drop those options.",
        )
    return {
        "objects_3d": objects_3d,
        "camera_to_robot": camera_to_robot,
        "points": points,
        "smooth_s": smooth_ms / 1000.0,
    }


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
    robot_transform: Annotated[
        Path | None,
        typer.Option(
            help="JSON or YAML file with the 4x4 camera-to-robot transform: objects also get robot-frame "
            "positions and extents (and points, when published, are in the robot frame)."
        ),
    ] = None,
    points: Annotated[
        int,
        typer.Option(help="3D points per object (0 = none); with --publish zenoh also on mutualsense/<camera>/points."),
    ] = 0,
    smooth_ms: Annotated[
        float, typer.Option(help="Time constant of the saliency map's temporal smoothing in ms (0 = off).")
    ] = 0.0,
    objects_3d: Annotated[
        bool, typer.Option(help="Locate objects in 3D and track them (position, extent, track id, velocity).")
    ] = True,
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
      [bold]mutualsense stream --bundle demo-fp32 --source camera --robot-transform cam2base.json --points 2048[/]
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
    spatial = spatial_options(robot_transform, points, smooth_ms, objects_3d)
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
        kinds = "saliency,objects,stats,points" if points else "saliency,objects,stats"
        sinks.append(
            ZenohSink(
                names,
                zenoh_config,
                resolution,
                publish_mode,  # type: ignore[arg-type]
                announce=lambda key: console.print(f"publishing on [bold]{key}/{{{kinds}}}[/] (zenoh)"),
                points=points > 0,
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
            **spatial,
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
