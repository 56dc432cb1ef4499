"""The export precisions and the options each accepts: one table, checked before any work.

Every precision takes the common :class:`ExportOptions`; INT8 also takes :class:`Int8Options`. An
option a precision does not use is refused, naming the option as the user typed it (``--calib`` on
``--precision fp16`` is an error, not silently ignored). INT8 export runs in :mod:`mutualsense.calibration`
(quantisation and the accuracy gate), which builds on this package: dependencies run one way,
calibration → export → runtime.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from mutualsense.errors import MutualSenseError

__all__ = [
    "DEFAULT_MAX_DROP",
    "INT8_OPTIONS",
    "PRECISIONS",
    "ExportOptions",
    "Int8Options",
    "PrecisionRule",
    "check_precision",
]

#: The INT8 gate's default: the largest S-measure drop against FP32 that is accepted.
DEFAULT_MAX_DROP = 0.01


@dataclass(frozen=True)
class Int8Options:
    """What INT8 export alone takes.

    Attributes:
        calib: the calibration set (``mutualsense calibrate``).
        eval_data: held-out data for the gate (a data spec: ``synthetic``, a dataset folder, recordings).
        max_drop: the largest S-measure drop against FP32 the gate accepts.
        force: write a bundle that fails the gate, with the failure recorded.
        auto_fp16: keep the most sensitive layers in higher precision until the gate passes.
        calib_method: activation calibration: ``minmax``, ``entropy`` or ``percentile``.
        quantizer: ``auto`` (nvidia-modelopt, else ONNX Runtime's with the reason), ``modelopt`` or ``onnxruntime``.
    """

    calib: str | os.PathLike[str] | None = None
    eval_data: str | os.PathLike[str] = "synthetic"
    max_drop: float = DEFAULT_MAX_DROP
    force: bool = False
    auto_fp16: bool = False
    calib_method: str = "minmax"
    quantizer: str = "auto"


#: The INT8-only options, by field name.
INT8_OPTIONS = tuple(f.name for f in fields(Int8Options))


@dataclass(frozen=True)
class ExportOptions:
    """What every export takes.

    Attributes:
        precision: ``fp32`` (CPU), ``fp16`` (Jetson default) or ``int8``.
        input_size: (height, width) to export at (multiples of 32, at least 64); default from the checkpoint.
        batch: the fixed batch size (several cameras batch when > 1).
        engine / plugin: also build a TensorRT engine, with this CDA plugin library.
        eval_count: held-out generated scenes for the accuracy figures (0 skips them; INT8 needs at least 1).
        overwrite: replace the output folder if it exists.
        int8: the INT8 options (``precision="int8"`` only).
    """

    precision: str = "fp16"
    input_size: tuple[int, int] | None = None
    batch: int = 1
    engine: bool = False
    plugin: str | os.PathLike[str] | None = None
    eval_count: int = 200
    overwrite: bool = False
    int8: Int8Options | None = None


@dataclass(frozen=True)
class PrecisionRule:
    """One row of the table: a precision, the options it accepts beyond the common ones, and the
    ``module:function`` that exports it (called as ``function(checkpoint, out, options, on_step)``)."""

    name: str
    accepts: tuple[str, ...]
    entry: str
    note: str


PRECISIONS: dict[str, PrecisionRule] = {
    "fp32": PrecisionRule("fp32", (), "mutualsense.export.bundle_export:export_float", "CPU, ONNX Runtime"),
    "fp16": PrecisionRule("fp16", (), "mutualsense.export.bundle_export:export_float", "the Jetson default"),
    "int8": PrecisionRule(
        "int8", INT8_OPTIONS, "mutualsense.calibration.export_int8:export_int8", "calibrated, accuracy-gated"
    ),
}


def check_precision(precision: str, given: Mapping[str, str] = {}) -> PrecisionRule:  # noqa: B006 - read only
    """The table's row for ``precision``, after refusing the options it does not take.

    Args:
        precision: the precision asked for.
        given: the precision-specific options the user set, field name → as they typed it (``{"calib":
            "--calib"}`` from the CLI, ``{"calib": "calib="}`` from Python); messages use the typed form.

    Raises:
        MutualSenseError: an unknown precision, or options it does not take.
    """
    rule = PRECISIONS.get(precision)
    if rule is None:
        close = difflib.get_close_matches(precision, list(PRECISIONS), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise MutualSenseError(f"unknown precision {precision!r}.", f"{hint}use one of {', '.join(PRECISIONS)}.")
    refused = [typed for name, typed in given.items() if name not in rule.accepts]
    if refused:
        owners = sorted({p.name for p in PRECISIONS.values() for name in given if name in p.accepts})
        names = ", ".join(refused)
        raise MutualSenseError(
            f"{names} {'does' if len(refused) == 1 else 'do'} not apply to precision {precision} "
            f"(only to {' or '.join(owners) or 'another precision'}).",
            f"drop {names}, or export with precision {' or '.join(owners)}.",
        )
    return rule
