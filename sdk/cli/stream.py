"""``mutualsense stream``: a bundle on a live camera, a recording or a synthetic camera."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from mutualsense.cli import app, params
from mutualsense.cli.help import with_appendix
from mutualsense.cli.options import BackendOption, BuildOption, MaxSkewOption, SkewPolicyOption
from mutualsense.cli.status import StatusDisplay, print_json, summary_dict, summary_lines
from mutualsense.sources.spec import SOURCE_SPEC_HELP


def spatial_options(robot_transform: Path | None, points: int, smooth_ms: float, objects_3d: bool) -> dict[str, Any]:
    """The 3D options as :class:`~mutualsense.pipeline.Stream` arguments, checked in the terms the user typed."""
    from mutualsense.errors import MutualSenseError

    camera_to_robot = None
    if robot_transform is not None:
        from mutualsense.spatial.objects3d import load_transform

        camera_to_robot = load_transform(robot_transform, f"--robot-transform {robot_transform}")
    # typer's min=0 already refuses negatives and nan; it lets inf through
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
    backend: BackendOption = "ort",
    build: BuildOption = True,
    max_frames: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many results (default: until the source ends).")
    ] = None,
    max_skew_ms: MaxSkewOption = None,
    skew_policy: SkewPolicyOption = "drop",
    save_overlay: Annotated[
        Path | None,
        typer.Option(
            help="Folder for colour | depth | saliency pictures with the objects' boxes and distances, one per "
            "result, written off the pipeline's path; pictures already there are never overwritten."
        ),
    ] = None,
    view: Annotated[
        Literal["none", "web"],
        typer.Option(help="none (status line only) or web (a live page in the browser, see --port)."),
    ] = "none",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port of --view web (0 = any free port).")] = 8765,
    host: Annotated[
        str | None,
        typer.Option(
            help="Interface of --view web. Default 127.0.0.1: this machine only. 0.0.0.0 (or an address of this "
            "machine) serves other machines, e.g. a laptop watching a robot; the printed URL then carries an "
            "access token that every request needs."
        ),
    ] = None,
    publish: Annotated[
        Literal["none", "zenoh"],
        typer.Option(help="none, or zenoh: publish every result on mutualsense/<camera>/{saliency,objects,stats}."),
    ] = "none",
    zenoh_config: Annotated[
        Path | None, typer.Option(help="Zenoh JSON5 configuration (endpoints, scouting); default: zenoh's defaults.")
    ] = None,
    camera_name: Annotated[
        str | None, typer.Option(help="Camera name in the key expressions (default: from --source).")
    ] = None,
    publish_size: Annotated[str, typer.Option(help="Published saliency PNG size, WxH or full.")] = "160x120",
    publish_mode: Annotated[
        Literal["map", "mask"], typer.Option(help="map (8-bit saliency) or mask (1-bit, > threshold).")
    ] = "map",
    robot_transform: Annotated[
        Path | None,
        typer.Option(
            help="JSON or YAML file with the 4x4 camera-to-robot transform: objects also get robot-frame "
            "positions and extents (and points, when published, are in the robot frame)."
        ),
    ] = None,
    points: Annotated[
        int,
        typer.Option(
            min=0, help="3D points per object (0 = none); with --publish zenoh also on mutualsense/<camera>/points."
        ),
    ] = 0,
    smooth_ms: Annotated[
        float, typer.Option(min=0.0, help="Time constant of the saliency map's temporal smoothing in ms (0 = off).")
    ] = 0.0,
    objects_3d: Annotated[
        bool, typer.Option(help="Locate objects in 3D and track them (position, extent, track id, velocity).")
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the final summary as one JSON object on stdout (for machines).")
    ] = False,
) -> None:
    """Run a bundle on a camera, recording or synthetic source, with a live status line.

    Off a terminal (a log, systemd) a plain status line is printed every 5 seconds instead; the summary
    at the end has lines of its own, or is one JSON object with --json. On a terminal, --view web keeps
    serving after a recording ends (the page says so) until Ctrl-C. Overlay pictures are written by a
    thread of their own; when the disk or CPU cannot keep up, pictures are skipped and counted.

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
    from mutualsense.pipeline import Sink, StatusLine, run_stream

    params.bundle_folder(bundle)
    if zenoh_config is not None:
        if publish != "zenoh":
            raise MutualSenseError("--zenoh-config is given without --publish zenoh.", "add --publish zenoh.")
        params.readable_file(zenoh_config, "--zenoh-config", "Zenoh configuration file")
    if camera_name is not None and len(source) > 1:
        raise MutualSenseError("--camera-name names one camera, but several --source were given.", "drop it.")
    if publish == "zenoh":
        params.check_resolution(publish_size, "--publish-size")
    if host is not None and view != "web":
        raise MutualSenseError("--host is given without --view web.", "add --view web.")
    if save_overlay is not None:
        recordings = [("--source", params.recording_path(s)) for s in source]
        params.output_folder(save_overlay, "--save-overlay", [("--bundle", bundle), *recordings])
    spatial = spatial_options(robot_transform, points, smooth_ms, objects_3d)
    console = Console(stderr=as_json)  # with --json, stdout holds only the JSON summary
    display = StatusDisplay(console)
    sinks: list[Sink] = [StatusLine(display.update)]
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
                publish_mode,
                announce=lambda key: console.print(f"publishing on [bold]{key}/{{{kinds}}}[/] (zenoh)"),
                points=points > 0,
            )
        )
    viewer = None
    linger = view == "web" and sys.stdin.isatty() and console.is_terminal
    if view == "web":
        from mutualsense.outputs.sinks import WebViewerSink
        from mutualsense.outputs.viewer import WebViewer

        viewer = WebViewer(host=host or "127.0.0.1", port=port)
        announce = "web view: [bold]{}[/]  (open it in a browser; Ctrl-C stops)"
        sinks.append(WebViewerSink(viewer, announce=lambda url: console.print(announce.format(url)), linger=linger))
    try:
        with display:
            result = run_stream(
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
        _print_summary(console, result, overlays, save_overlay, as_json)
        if viewer is not None and linger:
            done = result.stats.processed
            reached = max_frames is not None and done >= max_frames
            why = f"--max-frames {max_frames} reached" if reached else "the source ended"
            console.print(f"the stream ended ({why}); the web view stays at {viewer.url} until Ctrl-C")
            viewer.serve_until_interrupted(f"{why} after {done} results")
    finally:
        if viewer is not None:
            viewer.stop()


def _print_summary(console: Console, result: Any, overlays: Any, save_overlay: Path | None, as_json: bool) -> None:
    """The final summary: lines of their own, or one JSON object on stdout with ``--json``."""
    cameras = {name: cam_stats.as_dict() for name, cam_stats in result.camera_stats.items()}
    summary = summary_dict(result.status, cameras, result.advice)
    if overlays is not None:
        written, skipped = overlays.written, overlays.dropped
        summary["overlay_pictures"] = {"folder": str(save_overlay), "written": written, "skipped": skipped}
    if as_json:
        print_json(summary)
    else:
        for line in summary_lines(summary):
            console.print(line, markup=False, highlight=False, soft_wrap=True)


stream.__doc__ = with_appendix(stream.__doc__, "Sources:", SOURCE_SPEC_HELP)
