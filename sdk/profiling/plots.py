"""Plots of a :class:`~mutualsense.profiling.ProfileReport`: latency CDF, per-stage stacked bars, timeline.

matplotlib is optional: it is imported when a plot is drawn, and its absence raises
:class:`~mutualsense.errors.MissingDependencyError`. Figures are drawn on matplotlib's Agg canvas
directly (no ``pyplot``), so the global backend of a program that uses this module is left alone.

>>> from mutualsense.profiling.plots import write_plots
>>> write_plots(report, "out/")  # doctest: +SKIP
[PosixPath('out/latency_cdf.png'), PosixPath('out/stages.png'), PosixPath('out/timeline.png')]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mutualsense.errors import MissingDependencyError, MutualSenseError
from mutualsense.profiling.report import ProfileReport
from mutualsense.profiling.stages import CLOCK_SENSOR, STAGE_ORDER, stage_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PLOTS", "plot_cdf", "plot_stages", "plot_timeline", "require_matplotlib", "write_plots"]

#: The files :func:`write_plots` writes, by name.
PLOTS = ("latency_cdf.png", "stages.png", "timeline.png")
_MAX_BARS = 300  # more results than this are averaged into this many bars
_DPI = 110


def require_matplotlib() -> None:
    """Raise :class:`MissingDependencyError` unless matplotlib can be imported (check before a long run)."""
    try:
        import matplotlib  # noqa: F401
    except ModuleNotFoundError as exc:
        raise MissingDependencyError("matplotlib", "profile", "for profile plots") from exc


def _figure(width: float, height: float, rows: int = 1, sharex: bool = False) -> tuple[Figure, Any]:
    require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=sharex, squeeze=False)[:, 0]
    return fig, axes


def _save(fig: Figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    except OSError as exc:
        raise MutualSenseError(f"cannot write {path} ({exc.strerror}).", "choose a writable --out folder.") from exc
    return path


def _color(stage: str) -> Any:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    if stage in STAGE_ORDER:
        return cmap(STAGE_ORDER.index(stage) % 10)
    return cmap((len(STAGE_ORDER) + sum(map(ord, stage))) % 10)


def _title(report: ProfileReport) -> str:
    what = "backend only" if report.mode == "backend" else report.source.get("name", "?")
    return f"{Path(str(report.bundle.get('path', '?'))).name} · {report.backend} · {what} · {report.frames} results"


def _latency_name(report: ProfileReport) -> str:
    if report.mode == "backend":
        return "infer call"
    return "sensor → result" if report.latency_clock == CLOCK_SENSOR else "source delivery → result"


def plot_cdf(report: ProfileReport, path: str | os.PathLike[str]) -> Path:
    """Empirical CDF of the end-to-end latency (bold, with p50/p95/p99 marked) and of every stage."""
    fig, (ax,) = _figure(9.0, 4.6)
    main = np.sort(np.asarray(report.samples.end_to_end_ms or report.samples.total_ms))
    for stage in report.stages:
        v = np.sort(np.asarray(report.samples.stages_ms[stage]))
        if v.size and np.max(v) > 0:
            y = np.arange(1, v.size + 1) / v.size
            ax.step(v, y, where="post", lw=1.2, color=_color(stage), label=stage_label(stage))
    y = np.arange(1, main.size + 1) / main.size
    ax.step(main, y, where="post", lw=2.6, color="black", label=_latency_name(report))
    for q, style in ((50, ":"), (95, "--"), (99, "-.")):
        x = float(np.percentile(main, q))
        ax.axvline(x, color="black", lw=0.9, ls=style, label=f"p{q} {x:.1f} ms")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of results ≤ latency")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    ax.set_title(f"Latency CDF — {_title(report)}", fontsize=10)
    return _save(fig, Path(path))


def _binned(values: np.ndarray, bins: int) -> np.ndarray:
    if values.size <= bins:
        return values
    edges = np.linspace(0, values.size, bins + 1).astype(int)
    return np.add.reduceat(values, edges[:-1]) / np.diff(edges)


def plot_stages(report: ProfileReport, path: str | os.PathLike[str]) -> Path:
    """Per-result stacked bars of the stages (averaged into bins beyond 300 results), with the total on top."""
    fig, (ax,) = _figure(9.0, 4.6)
    n = report.frames
    bins = min(n, _MAX_BARS)
    x = np.arange(bins) if n <= _MAX_BARS else _binned(np.arange(n, dtype=np.float64), bins)
    width = 1.0 if n <= _MAX_BARS else n / bins
    bottom = np.zeros(bins)
    for stage in report.stages:
        v = _binned(np.asarray(report.samples.stages_ms[stage], dtype=np.float64), bins)
        mean = float(np.mean(report.samples.stages_ms[stage]))
        ax.bar(
            x,
            v,
            width=width * 0.9,
            bottom=bottom,
            color=_color(stage),
            label=f"{stage_label(stage)} (mean {mean:.2f} ms)",
            linewidth=0,
        )
        bottom += v
    total = _binned(np.asarray(report.samples.total_ms, dtype=np.float64), bins)
    ax.plot(x, total, color="black", lw=0.8, label="total")
    absent = ", ".join(stage_label(s) for s in report.absent_stages)
    ax.set_xlabel("measured result" + (f" (bins of {n / bins:.1f})" if n > _MAX_BARS else ""))
    ax.set_ylabel("ms")
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    ax.set_title(
        f"Where the time goes, per result — {_title(report)}"
        + (f"\nabsent (not measured): {absent}" if absent else ""),
        fontsize=10,
    )
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, Path(path))


def _mark_drops(ax: Axes, t: np.ndarray, counts: np.ndarray, color: str, label: str) -> None:
    hits = np.flatnonzero(counts > 0)
    for i, k in enumerate(hits):
        ax.axvline(t[k], color=color, lw=0.8, alpha=0.7, label=f"{label} ({int(counts.sum())})" if i == 0 else None)


def plot_timeline(report: ProfileReport, path: str | os.PathLike[str]) -> Path:
    """Latency over time with drops marked (red: back-pressure, orange: skew), and RGB-depth skew below."""
    has_skew = bool(report.samples.skew_ms)
    fig, axes = _figure(9.0, 5.6 if has_skew else 3.6, rows=2 if has_skew else 1, sharex=True)
    ax = axes[0]
    t = np.asarray(report.samples.result_time_s)
    main = np.asarray(report.samples.end_to_end_ms or report.samples.total_ms)
    ax.plot(t, main, ".-", ms=2.5, lw=0.7, color="black", label=_latency_name(report))
    if "inference" in report.samples.stages_ms:
        ax.plot(t, report.samples.stages_ms["inference"], lw=0.7, color=_color("inference"), label="inference")
    if report.samples.dropped_by_backpressure:
        _mark_drops(ax, t, np.asarray(report.samples.dropped_by_backpressure), "red", "back-pressure drops")
    if report.samples.dropped_by_skew:
        _mark_drops(ax, t, np.asarray(report.samples.dropped_by_skew), "orange", "skew drops")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"Timeline — {_title(report)}", fontsize=10)
    if has_skew:
        sx = axes[1]
        skew = np.asarray(report.samples.skew_ms)
        flagged = np.asarray(report.samples.skew_flagged, dtype=bool)
        sx.plot(t, skew, ".", ms=3, color="tab:blue", label="colour − depth")
        if flagged.any():
            sx.plot(t[flagged], skew[flagged], "x", color="red", label="flagged")
        limit = report.source.get("max_skew_ms")
        if limit is not None:
            for y in (limit, -limit):
                sx.axhline(y, color="red", lw=0.8, ls="--")
        sx.axhline(0, color="gray", lw=0.5)
        sx.set_ylabel("skew (ms)")
        sx.grid(True, alpha=0.3)
        sx.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time since the measurement started (s)")
    return _save(fig, Path(path))


def write_plots(report: ProfileReport, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write :data:`PLOTS` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    require_matplotlib()
    return [
        plot_cdf(report, out / PLOTS[0]),
        plot_stages(report, out / PLOTS[1]),
        plot_timeline(report, out / PLOTS[2]),
    ]
