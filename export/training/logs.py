"""Training logs a user can read: per-epoch metrics as JSON and CSV, and a curve picture.

Beside the checkpoint ``OUT.pt``: ``OUT.metrics.json`` (the run's facts and one record per epoch),
``OUT.metrics.csv`` (the records) and ``OUT.curves.png`` (training loss and, with ``--val``, the
validation S-measure and MAE per epoch). matplotlib is imported only to draw the picture; without
it the picture is skipped with a log line.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["log_paths", "plot_curves", "write_metrics"]

log = logging.getLogger(__name__)


def log_paths(checkpoint: Path) -> tuple[Path, Path, Path]:
    """(metrics JSON, metrics CSV, curves PNG) beside ``checkpoint``."""
    stem = checkpoint.with_suffix("")
    return (
        stem.with_name(stem.name + ".metrics.json"),
        stem.with_name(stem.name + ".metrics.csv"),
        stem.with_name(stem.name + ".curves.png"),
    )


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_metrics(checkpoint: Path, facts: dict[str, Any]) -> tuple[Path, Path]:
    """Write the JSON (facts with ``history``) and the CSV (one row per epoch); return their paths."""
    json_path, csv_path, _ = log_paths(checkpoint)
    _atomic_write(json_path, json.dumps(facts, indent=2, default=str) + "\n")
    history: list[dict[str, Any]] = facts.get("history", [])
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    _atomic_write(csv_path, buffer.getvalue())
    return json_path, csv_path


def plot_curves(checkpoint: Path, history: list[dict[str, Any]]) -> Path | None:
    """Draw loss (and validation S-measure / MAE) per epoch; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib is not installed: no curve picture (pip install matplotlib)")
        return None
    _, _, png = log_paths(checkpoint)
    epochs = [h["epoch"] for h in history]
    has_val = any("val_s_measure" in h for h in history)
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2 if has_val else 1, figsize=(10 if has_val else 5, 3.5), squeeze=False)
    ax = axes[0][0]
    ax.plot(epochs, [h["loss"] for h in history], marker="o", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("structure loss")
    ax.grid(alpha=0.3)
    ax.legend()
    if has_val:
        ax = axes[0][1]
        val = [h for h in history if "val_s_measure" in h]
        ax.plot([h["epoch"] for h in val], [h["val_s_measure"] for h in val], marker="o", label="S-measure")
        ax.plot([h["epoch"] for h in val], [h["val_max_f"] for h in val], marker="s", label="max F")
        ax.plot([h["epoch"] for h in val], [h["val_mae"] for h in val], marker="^", label="MAE")
        ax.set_xlabel("epoch")
        ax.set_title("validation")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    tmp = png.with_name(f".{png.stem}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png)
    return png
