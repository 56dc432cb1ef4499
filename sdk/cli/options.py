"""Option declarations shared by several commands (one help text, one range, one set of choices)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

__all__ = ["BackendOption", "MaxSkewOption", "SkewPolicyOption"]

BackendOption = Annotated[
    Literal["ort", "tensorrt"], typer.Option(help="ort (ONNX Runtime, anywhere) or tensorrt (Jetson engine).")
]
MaxSkewOption = Annotated[
    float | None, typer.Option(min=0.0, help="RGB-depth timestamp skew limit in ms (default: no limit).")
]
SkewPolicyOption = Annotated[
    Literal["drop", "flag"], typer.Option(help="What to do with framesets over --max-skew-ms.")
]
