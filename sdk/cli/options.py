"""Option declarations shared by several commands (one help text, one range, one set of choices)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

__all__ = ["BackendOption", "BuildOption", "MaxSkewOption", "SkewPolicyOption"]

BackendOption = Annotated[
    Literal["ort", "tensorrt"], typer.Option(help="ort (ONNX Runtime, anywhere) or tensorrt (Jetson engine).")
]
BuildOption = Annotated[
    bool,
    typer.Option(
        "--build/--no-build",
        help="With --backend tensorrt: build an engine for this GPU into the bundle when it has none "
        "(minutes, once); --no-build refuses instead.",
    ),
]
MaxSkewOption = Annotated[
    float | None, typer.Option(min=0.0, help="RGB-depth timestamp skew limit in ms (default: no limit).")
]
SkewPolicyOption = Annotated[
    Literal["drop", "flag"], typer.Option(help="What to do with framesets over --max-skew-ms.")
]
