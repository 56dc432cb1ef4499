"""``mutualsense stream``: a bundle on a live camera, a recording or a synthetic camera."""

from __future__ import annotations

import contextlib
import sys
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console

from mutualsense.cli import app, params
from mutualsense.cli.help import with_appendix
from mutualsense.cli.options import BackendOption, MaxSkewOption, SkewPolicyOption
from mutualsense.cli.status import StatusLine, print_json, summary_dict, summary_lines
from mutualsense.sources.spec import SOURCE_SPEC_HELP

if TYPE_CHECKING:
    from mutualsense.outputs.publish import ZenohPublisher
    from mutualsense.outputs.viewer import WebViewer


def format_status(s: Mapping[str, Any]) -> str:
    """One status line from :func:`stream_stats`'s dict."""
    return (
        f"{s['fps']:5.1f} fps | latency p50 {s['latency_p50_ms']:6.1f} ms p95 {s['latency_p95_ms']:6.1f} ms | "
        f"|skew| median {s['skew_median_abs_ms']:5.1f} ms | produced {s['produced']} processed {s['processed']} "
        f"dropped: skew {s['dropped_by_skew']} back-pressure {s['dropped_by_backpressure']}"
    )


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
            "result, written off the pipeline's path; existing pictures are never overwritten."
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
    serving after a recording ends (the page says so) until Ctrl-C.

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
    from mutualsense.outputs.overlays import OverlayWriter
    from mutualsense.pipeline import Stream, stream_stats

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
    # a fixed window, so a stream that runs for days keeps flat memory; all cameras, then each one (the viewer's)
    latencies: deque[float] = deque(maxlen=300)
    skews: deque[float] = deque(maxlen=300)
    windows: dict[str, tuple[deque[float], deque[float]]] = {}
    st = Stream(bundle, sources=source, backend=backend, max_skew_ms=max_skew_ms, skew_policy=skew_policy)
    viewer: WebViewer | None = None
    publishers: dict[str, ZenohPublisher] = {}
    if publish == "zenoh":
        from mutualsense.outputs.publish import ZenohPublisher, camera_name_from_source, parse_resolution

        for spec, cam in zip(source, st.cameras, strict=True):
            publisher = ZenohPublisher(
                camera_name or camera_name_from_source(spec),
                config=zenoh_config,
                resolution=parse_resolution(publish_size),
                mode=publish_mode,
            ).open()
            publishers[cam.name] = publisher
            console.print(f"publishing on [bold]mutualsense/{publisher.camera}/{{saliency,objects,stats}}[/] (zenoh)")
    if view == "web":
        from mutualsense.outputs.viewer import WebViewer

        viewer = WebViewer(host=host or "127.0.0.1", port=port)
        console.print(f"web view: [bold]{viewer.start()}[/]  (open it in a browser; Ctrl-C stops)")
    overlays = OverlayWriter(save_overlay, per_camera_names=len(source) > 1) if save_overlay is not None else None
    n = 0
    try:
        started = time.monotonic()
        with st, StatusLine(console) as live, overlays or contextlib.nullcontext():
            for n, result in enumerate(st, start=1):
                latencies.append(result.latency_ms["total"])
                skews.append(result.skew_ms)
                if overlays is not None and result.frameset is not None:
                    overlays.submit(result)  # composed and written in the writer's thread
                stats = stream_stats(st.stats, latencies, skews, started)
                live.update(format_status(stats))
                if viewer is not None:
                    lat, skw = windows.setdefault(result.source, (deque(maxlen=300), deque(maxlen=300)))
                    lat.append(result.latency_ms["total"])
                    skw.append(result.skew_ms)
                    viewer.update(result, stream_stats(st.camera_stats[result.source], lat, skw, started))
                if result.source in publishers:
                    publishers[result.source].publish(result, st.camera_stats[result.source])
                if max_frames is not None and n >= max_frames:
                    break
        cameras = {name: cam_stats.as_dict() for name, cam_stats in st.camera_stats.items()}
        summary = summary_dict(stream_stats(st.stats, latencies, skews, started), cameras, st.advice())
        if overlays is not None:
            summary["overlay_pictures"] = {"folder": str(save_overlay), "written": overlays.written}
        if as_json:
            print_json(summary)
        else:
            for line in summary_lines(summary):
                console.print(line, markup=False, highlight=False, soft_wrap=True)
        if viewer is not None and sys.stdin.isatty() and console.is_terminal:
            reached = max_frames is not None and n >= max_frames
            why = f"--max-frames {max_frames} reached" if reached else "the source ended"
            console.print(f"the stream ended ({why}); the web view stays at {viewer.url} until Ctrl-C")
            viewer.serve_until_interrupted(f"{why} after {n} results")
    finally:
        if viewer is not None:
            viewer.stop()
        for publisher in publishers.values():
            publisher.close()


stream.__doc__ = with_appendix(stream.__doc__, "Sources:", SOURCE_SPEC_HELP)
