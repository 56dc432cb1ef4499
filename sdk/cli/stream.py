"""``mutualsense stream``: a bundle on a live camera, a recording or a synthetic camera."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from mutualsense.cli import app, params
from mutualsense.cli.help import with_appendix
from mutualsense.cli.options import BackendOption, MaxSkewOption, SkewPolicyOption
from mutualsense.cli.status import StatusDisplay, print_json, summary_dict, summary_lines
from mutualsense.sources.spec import SOURCE_SPEC_HELP


@app.command()
def stream(
    bundle: Annotated[Path, typer.Option(help="Bundle folder from `mutualsense export`.")],
    source: Annotated[
        list[str],
        typer.Option(help="Where frames come from (see below); repeat it for several cameras on one backend."),
    ] = ["camera"],  # noqa: B006 - typer reads the default, nothing mutates it
    backend: BackendOption = "ort",
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
        sinks.append(
            ZenohSink(
                names,
                zenoh_config,
                resolution,
                publish_mode,
                announce=lambda key: console.print(f"publishing on [bold]{key}/{{saliency,objects,stats}}[/] (zenoh)"),
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
                bundle, source, sinks, max_frames, backend=backend, max_skew_ms=max_skew_ms, skew_policy=skew_policy
            )
        cameras = {name: cam_stats.as_dict() for name, cam_stats in result.camera_stats.items()}
        summary = summary_dict(result.status, cameras, result.advice)
        if overlays is not None:
            summary["overlay_pictures"] = {
                "folder": str(save_overlay), "written": overlays.written, "skipped": overlays.dropped
            }
        if as_json:
            print_json(summary)
        else:
            for line in summary_lines(summary):
                console.print(line, markup=False, highlight=False, soft_wrap=True)
        if viewer is not None and linger:
            done = result.stats.processed
            reached = max_frames is not None and done >= max_frames
            why = f"--max-frames {max_frames} reached" if reached else "the source ended"
            console.print(f"the stream ended ({why}); the web view stays at {viewer.url} until Ctrl-C")
            viewer.serve_until_interrupted(f"{why} after {done} results")
    finally:
        if viewer is not None:
            viewer.stop()


stream.__doc__ = with_appendix(stream.__doc__, "Sources:", SOURCE_SPEC_HELP)
