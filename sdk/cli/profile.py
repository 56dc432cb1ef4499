"""``mutualsense profile`` and ``mutualsense profile-diff``: where the latency of a stream goes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from mutualsense.cli import app, params
from mutualsense.cli.help import with_appendix
from mutualsense.cli.options import BackendOption, BuildOption, MaxSkewOption, SkewPolicyOption
from mutualsense.sources.spec import SOURCE_SPEC_HELP

if TYPE_CHECKING:
    from mutualsense.profiling import ProfileDiff, ProfileReport, Stats

__all__ = ["diff_table", "profile", "profile_diff", "report_renderable"]


def _stat_cells(s: Stats | None) -> list[str]:
    from mutualsense.profiling import format_ms

    if s is None:
        return ["—"] * 6
    return [
        f"{format_ms(s.mean)} ± {format_ms(s.std)}",
        *(format_ms(getattr(s, k)) for k in ("p50", "p90", "p95", "p99", "max")),
    ]


def report_renderable(report: ProfileReport) -> Group:
    """The report as rich renderables: the stage table, then throughput, drops, skew and notes."""
    from mutualsense.profiling import CLOCK_SENSOR, STAGE_ORDER, stage_label

    what = "bare backend" if report.mode == "backend" else str(report.source.get("name"))
    table = Table(
        title=f"Latency profile: {escape(Path(str(report.bundle.get('path'))).name)} on {escape(what)} — "
        f"{report.backend} ({escape(report.provider)}), {report.frames} results after {report.warmup} warm-up",
        caption=escape(report.latency_clock_note),
        caption_justify="left",
        title_justify="left",
    )
    table.add_column("stage (ms)")
    for name in ("mean ± std", "p50", "p90", "p95", "p99", "max"):
        table.add_column(name, justify="right")
    table.add_column("share", justify="right")
    total_mean = report.total.mean if report.total is not None and report.total.mean > 0 else None
    rows = [s for s in STAGE_ORDER if s in report.stages or s in report.absent_stages]
    rows += [s for s in report.stages if s not in rows]
    for i, stage in enumerate(rows):
        last = i == len(rows) - 1
        if stage in report.absent_stages:
            table.add_row(f"[dim]{stage_label(stage)}[/]", "[dim]absent[/]", *[""] * 6, end_section=last)
            continue
        s = report.stage_stats(stage)
        share = f"{100 * s.mean / total_mean:.0f} %" if s is not None and total_mean else ""
        table.add_row(stage_label(stage), *_stat_cells(s), share, end_section=last)
    if report.mode == "backend":
        table.add_row("[bold]infer call[/]", *_stat_cells(report.total), "100 %")
    else:
        table.add_row("[bold]total[/] (delivery → result)", *_stat_cells(report.total), "100 %")
        if report.latency_clock == CLOCK_SENSOR:
            table.add_row("[bold]sensor → result[/]", *_stat_cells(report.end_to_end), "")
            table.add_row("  sensor → delivery", *_stat_cells(report.sensor_to_delivery), "")
    between = "calls" if report.mode == "backend" else "results"
    table.add_row(f"interval between {between}", *_stat_cells(report.interval), "")

    lines = [
        f"throughput [bold]{report.throughput_fps:.1f}[/] results/s over {report.duration_s:.2f} s; "
        f"jitter (std of the interval) {report.jitter_ms or 0.0:.2f} ms; "
        f"stage sum vs total: max error {100 * report.stage_sum_error():.2f} %"
    ]
    if report.mode == "pipeline":
        drops = report.drops
        c = report.counters
        lines.append(
            f"drops while measuring: back-pressure {drops['backpressure']}, skew {drops['skew']}; whole run: produced "
            f"{c.get('produced')} = processed {c.get('processed')} + skew {c.get('dropped_by_skew')} + back-pressure "
            f"{c.get('dropped_by_backpressure')}; read timeouts {c.get('read_timeouts')}, "
            f"source frame gaps {c.get('source_frame_gaps')}"
        )
        if report.skew is not None:
            k = report.skew
            lines.append(
                f"RGB-depth skew (colour − depth): median {k.p50:.2f} ms, min {k.min:.2f}, max {k.max:.2f}, "
                f"flagged {sum(report.samples.skew_flagged)}"
            )
    for stage, why in report.absent_stages.items():
        lines.append(f"[dim]{stage_label(stage)} absent: {escape(why)}[/]")
    for note in report.notes:
        lines.append(f"[yellow]note:[/] {escape(note)}")
    return Group(table, *lines)


def diff_table(diff: ProfileDiff, a_name: str = "A", b_name: str = "B") -> Group:
    """Per-stage p50/p95 of two reports with B − A and B / A, then throughput and warnings."""
    from mutualsense.profiling import format_ms, stage_label

    table = Table(title=f"B = {escape(b_name)} against A = {escape(a_name)}", title_justify="left")
    table.add_column("stage (ms)")
    for stat in ("p50", "p95"):
        for col in (f"A {stat}", f"B {stat}", "B − A", "B / A"):
            table.add_column(col, justify="right")

    def ratio(x: float | None, higher_is_better: bool = False) -> str:
        if x is None:
            return "—"
        better, worse = (x > 1.05, x < 0.95) if higher_is_better else (x < 0.95, x > 1.05)
        style = "green" if better else "red" if worse else ""
        return f"[{style}]{x:.2f}×[/]" if style else f"{x:.2f}×"

    labels = {"total": "total", "end_to_end": "end-to-end", "interval": "interval"}
    for i, row in enumerate(diff.rows):
        cells = []
        for stat in ("p50", "p95"):
            a = None if row.a is None else getattr(row.a, stat)
            b = None if row.b is None else getattr(row.b, stat)
            d = row.delta(stat)
            cells += [
                format_ms(a) if row.a is not None else "[dim]absent[/]",
                format_ms(b) if row.b is not None else "[dim]absent[/]",
                "—" if d is None else f"{d:+.2f}",
                ratio(row.ratio(stat)),
            ]
        next_is_summary = i + 1 < len(diff.rows) and diff.rows[i + 1].name in labels and row.name not in labels
        table.add_row(labels.get(row.name, stage_label(row.name)), *cells, end_section=next_is_summary)
    lines = [
        f"throughput: A {diff.a.throughput_fps:.1f}/s, B {diff.b.throughput_fps:.1f}/s "
        f"({ratio(diff.throughput_ratio, higher_is_better=True)}); "
        f"end-to-end clock: A {diff.a.latency_clock}, B {diff.b.latency_clock}"
    ]
    lines += [f"[yellow]warning:[/] {escape(w)}" for w in diff.warnings]
    return Group(table, *lines)


def _refuse_pipeline_options(backend: str, backend_only: bool, workers: int, gpu_prepare: bool | None) -> None:
    """Options of the pipeline that the chosen backend (or --backend-only) cannot take."""
    from mutualsense.errors import MutualSenseError

    if workers > 1 and (backend != "ort" or backend_only):
        why = "--backend-only times one call at a time" if backend_only else "TensorRT runs one inference at a time"
        raise MutualSenseError(
            f"--inference-workers {workers} needs the pipeline on --backend ort ({why}).",
            "drop --inference-workers, or profile the pipeline with --backend ort.",
        )
    if gpu_prepare and (backend != "tensorrt" or backend_only):
        why = "--backend-only feeds prepared inputs" if backend_only else "only TensorRT prepares frames on the GPU"
        raise MutualSenseError(
            f"--gpu-prepare needs the pipeline on --backend tensorrt ({why}).",
            "drop --gpu-prepare, or profile the pipeline with --backend tensorrt on a GPU.",
        )


@app.command()
def profile(
    bundle: Annotated[Path, typer.Option(help="Bundle folder from `mutualsense export`.")],
    source: Annotated[
        str | None,
        typer.Option(
            help="Where frames come from (see below; default camera). With --backend-only: inputs from this "
            "source instead of random ones."
        ),
    ] = None,
    frames: Annotated[int, typer.Option(min=1, help="Results (or --backend-only iterations) to measure.")] = 300,
    warmup: Annotated[int, typer.Option(min=0, help="Results (or iterations) to discard first.")] = 10,
    backend: BackendOption = "ort",
    build: BuildOption = True,
    out: Annotated[Path | None, typer.Option(help="Folder for profile.json and the plots (*.png).")] = None,
    backend_only: Annotated[
        bool, typer.Option("--backend-only", help="Time bare inference calls only (like trtexec): no source.")
    ] = False,
    threads: Annotated[
        int | None, typer.Option(min=1, help="ONNX Runtime intra-op threads (default: all cores).")
    ] = None,
    inference_workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Inference calls at once (ONNX Runtime): on a CPU, 2 with --threads 1 use two cores better "
            "than one call on two threads. Results still leave in order.",
        ),
    ] = 1,
    gpu_prepare: Annotated[
        bool | None,
        typer.Option(
            "--gpu-prepare/--cpu-prepare",
            help="Align and preprocess on the GPU (TensorRT, with the plugin's frame kernels) or on the CPU (the "
            "reference). Default: on the GPU wherever the backend can.",
        ),
    ] = None,
    max_skew_ms: MaxSkewOption = None,
    skew_policy: SkewPolicyOption = "drop",
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Write plots into --out (needs matplotlib).")
    ] = True,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace profile.json and the plots already in --out.")
    ] = False,
) -> None:
    """Measure where the latency goes: every stage, end to end, jitter, throughput, drops and skew.

    Percentiles (p50/p90/p95/p99/max) and mean ± std per stage after --warmup results. End-to-end
    latency is sensor → result for a live camera (global time) and source delivery → result for
    recordings and synthetic sources; the report says which. With --out, writes profile.json (every
    raw sample) and latency_cdf.png, stages.png, timeline.png.

    Examples:
      [bold]mutualsense profile --bundle demo-fp32 --source camera --out prof/[/]
      [bold]mutualsense profile --bundle demo-fp32 --source run.db3?loop=1 --frames 500 --out prof/[/]
      [bold]mutualsense profile --bundle demo-fp32 --backend-only --frames 1000[/]  (the model alone)
      [bold]mutualsense profile-diff prof-ort/profile.json prof-trt/profile.json[/]
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from mutualsense.errors import MutualSenseError
    from mutualsense.profiling import profile_backend, profile_pipeline

    params.bundle_folder(bundle)
    _refuse_pipeline_options(backend, backend_only, inference_workers, gpu_prepare)
    if out is not None:
        inputs = [("--bundle", bundle), ("--source", params.recording_path(source or "camera"))]
        params.output_folder(out, "--out", inputs)
        from mutualsense.profiling.plots import PLOTS

        written = [out / "profile.json", *((out / name for name in PLOTS) if plots else ())]
        if not overwrite and (existing := [p.name for p in written if p.exists()]):
            raise MutualSenseError(
                f"--out {out} already holds {', '.join(existing)} from an earlier profile.",
                "choose another --out, or pass --overwrite to replace them.",
            )
        if plots:
            from mutualsense.profiling.plots import require_matplotlib

            require_matplotlib()  # before a long run, not after it
    console = Console()
    with Progress(
        TextColumn("profiling"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("profile", total=frames)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done)

        if backend_only:
            report = profile_backend(
                bundle,
                iterations=frames,
                warmup=warmup,
                backend=backend,
                threads=threads,
                inputs=source,
                progress=progress,
                build_engine=build,
            )
        else:
            report = profile_pipeline(
                bundle,
                source or "camera",
                frames=frames,
                warmup=warmup,
                backend=backend,
                threads=threads,
                max_skew_ms=max_skew_ms,
                skew_policy=skew_policy,  # type: ignore[arg-type]
                progress=progress,
                build_engine=build,
                inference_workers=inference_workers,
                gpu_prepare=gpu_prepare,
            )
    console.print(report_renderable(report))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        written = [report.save(out / "profile.json")]
        if plots:
            from mutualsense.profiling.plots import write_plots

            written += write_plots(report, out)
        console.print("wrote " + ", ".join(escape(str(p)) for p in written))


@app.command("profile-diff")
def profile_diff(
    a: Annotated[Path, typer.Argument(help="The baseline profile.json (A).")],
    b: Annotated[Path, typer.Argument(help="The profile.json to compare with it (B).")],
) -> None:
    """Compare two profiles stage by stage: p50 and p95 of A and B, B − A and B / A.

    Ratios under 0.95× (faster) are green, over 1.05× (slower) red. Warns when the two runs are not
    like for like (other bundle, backend, machine, source or latency clock).

    Example:
      [bold]mutualsense profile-diff prof-ort/profile.json prof-trt/profile.json[/]
    """
    from mutualsense.profiling import ProfileReport, diff_reports

    for name, path in (("A", a), ("B", b)):
        params.json_file(path, name, "profile.json", "pass a profile.json written by `mutualsense profile --out DIR`.")
    diff = diff_reports(ProfileReport.load(a), ProfileReport.load(b))
    Console().print(diff_table(diff, str(a), str(b)))


profile.__doc__ = with_appendix(profile.__doc__, "Sources:", SOURCE_SPEC_HELP)
