"""The RGB-D SOD benchmark table: our scores per dataset beside the MutualFormer paper's.

The paper's figures (S-measure, max F-measure, max E-measure, MAE) are matched by dataset folder
name: ``NJU2K``, ``NJU2K_test``, ``nju2k-test`` and ``NJU2K/test`` all match NJU2K; a folder that
matches no benchmark gets our scores alone. Markdown for READMEs and reports, JSON for machines.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["PAPER_RESULTS", "BenchmarkRow", "benchmark_json", "benchmark_markdown", "paper_dataset"]

#: MutualFormer's published RGB-D SOD results: (S-measure, max F, max E, MAE).
PAPER_RESULTS: dict[str, tuple[float, float, float, float]] = {
    "NJU2K": (0.922, 0.923, 0.954, 0.032),
    "NLPR": (0.932, 0.925, 0.965, 0.021),
    "DUT": (0.936, 0.946, 0.966, 0.024),
    "SIP": (0.894, 0.902, 0.932, 0.043),
    "STERE": (0.908, 0.908, 0.947, 0.038),
    "LFSD": (0.872, 0.879, 0.911, 0.062),
}
_ALIASES = {
    "NJU2K": ("NJU2K", "NJUD", "NJU2000"),
    "NLPR": ("NLPR",),
    "DUT": ("DUT", "DUTRGBD", "DUTD", "DUTLFDEPTH"),
    "SIP": ("SIP",),
    "STERE": ("STERE", "STERE1000", "STEREO"),
    "LFSD": ("LFSD",),
}
_SPLIT_WORDS = ("TESTSET", "TEST", "TESTING", "VAL", "EVAL")
_METRICS = (("s_measure", "S-measure ↑"), ("max_f", "max F ↑"), ("max_e", "max E ↑"), ("mae", "MAE ↓"))


def paper_dataset(folder: str | Path) -> str | None:
    """The benchmark a dataset folder is (``NJU2K``, ``NLPR``, ...), or None."""
    path = Path(folder)
    name = path.name
    if re.sub(r"[^A-Z0-9]", "", name.upper()) in _SPLIT_WORDS and path.parent.name:
        name = path.parent.name  # DUT-RGBD/test
    key = re.sub(r"[^A-Z0-9]", "", name.upper())
    for word in _SPLIT_WORDS:
        if key.endswith(word) and len(key) > len(word):
            key = key[: -len(word)]
            break
    for dataset, aliases in _ALIASES.items():
        if key in aliases:
            return dataset
    return None


@dataclass(frozen=True)
class BenchmarkRow:
    """One dataset's scores, and the paper's when the dataset is one of its benchmarks."""

    dataset: str
    path: str
    count: int
    s_measure: float
    max_f: float
    max_e: float
    mae: float
    paper: dict[str, float] | None = None

    @classmethod
    def from_scores(cls, path: str | Path, scores: dict[str, Any]) -> BenchmarkRow:
        """A row from a folder and :meth:`Scores.as_dict` output."""
        matched = paper_dataset(path)
        paper = None
        if matched is not None:
            paper = dict(zip((k for k, _ in _METRICS), PAPER_RESULTS[matched], strict=True))
        name = matched or Path(path).name or str(path)
        return cls(
            name,
            str(path),
            int(scores["count"]),
            float(scores["s_measure"]),
            float(scores["max_f"]),
            float(scores["max_e"]),
            float(scores["mae"]),
            paper,
        )


def benchmark_json(model: str, rows: list[BenchmarkRow]) -> dict[str, Any]:
    """``{"model", "metrics", "datasets": [row, ...], "paper": "MutualFormer (IJCV 2024)"}``."""
    return {
        "model": model,
        "metrics": [k for k, _ in _METRICS],
        "paper": "MutualFormer (Wang et al., IJCV 2024), RGB-D SOD results",
        "datasets": [asdict(r) for r in rows],
    }


def benchmark_markdown(model: str, rows: list[BenchmarkRow]) -> str:
    """A markdown table: one row per dataset, ours then the paper's figure for each metric."""
    header = ["Dataset", "Images"]
    for _, title in _METRICS:
        header += [title, "paper"]
    lines = [
        f"Benchmark of `{model}` (paper: MutualFormer, IJCV 2024; — where the dataset is not one of its benchmarks)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for r in rows:
        cells = [r.dataset, str(r.count)]
        for key, _ in _METRICS:
            cells.append(f"{getattr(r, key):.3f}")
            cells.append(f"{r.paper[key]:.3f}" if r.paper else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
