"""What a bundle's manifest says about it, for people: accuracy per precision, the INT8 gate, its size.

Commands and programs read these fields instead of the manifest's keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["AccuracyRow", "BundleSummary", "Int8Report", "summarize_manifest"]


@dataclass(frozen=True)
class AccuracyRow:
    """The held-out accuracy of one precision, with a note (the drop against FP32, or ORT against PyTorch)."""

    precision: str
    s_measure: float
    mae: float
    count: int
    note: str


@dataclass(frozen=True)
class Int8Report:
    """How an INT8 bundle was quantised and gated."""

    passed: bool
    forced: bool
    max_drop: float
    quantizer: str
    quantizer_note: str | None
    kept_in_higher_precision: tuple[str, ...]
    worst_layers: tuple[Mapping[str, Any], ...]  # node, op_type, added_error, relative_error; worst first


@dataclass(frozen=True)
class BundleSummary:
    """A bundle in a few fields: precision, accuracy rows, the INT8 report, its files."""

    precision: str
    accuracy: tuple[AccuracyRow, ...]
    int8: Int8Report | None
    files: int
    size_bytes: int


def _note(entry: Mapping[str, Any]) -> str:
    if "s_measure_drop_vs_fp32" in entry:
        return f"drop vs fp32 {entry['s_measure_drop_vs_fp32']:+.5f}"
    return f"ORT vs PyTorch {entry.get('max_abs_logit_error_vs_torch', 0):.1e}"


def summarize_manifest(manifest: Mapping[str, Any]) -> BundleSummary:
    """The summary of a (validated) manifest."""
    accuracy = manifest.get("accuracy", {})
    rows = tuple(
        AccuracyRow(name, float(a["s_measure"]), float(a["mae"]), int(a["count"]), _note(a))
        for name, a in accuracy.items()
    )
    int8 = None
    if (entry := accuracy.get("int8")) is not None:
        calibration = entry["calibration"]
        int8 = Int8Report(
            passed=bool(entry["gate"]["passed"]),
            forced=bool(entry["gate"]["forced"]),
            max_drop=float(entry["gate"]["max_drop"]),
            quantizer=str(calibration["quantizer"]),
            quantizer_note=calibration.get("quantizer_note"),
            kept_in_higher_precision=tuple(entry.get("kept_in_higher_precision", ())),
            worst_layers=tuple(entry.get("sensitivity_top", ())),
        )
    files = manifest["files"]
    return BundleSummary(
        str(manifest["precision"]), rows, int8, len(files), sum(int(f["size"]) for f in files.values())
    )
