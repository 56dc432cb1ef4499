"""Data specs that must carry ground truth (training, validation, scoring), checked in the option's name."""

from __future__ import annotations

from pathlib import Path

from mutualsense.errors import DataError
from mutualsense.evaluation.data import DataSpec, parse_data_spec

__all__ = ["labelled_data_spec"]


def labelled_data_spec(text: str, option: str = "--data") -> DataSpec:
    """Parse ``text`` as given to ``option``: generated scenes or an RGB-D SOD dataset folder.

    Raises:
        DataError: naming ``option``: a path that does not exist, a malformed spec, or recordings (which carry
            no ground-truth masks).
    """
    if not text.startswith("synthetic") and not Path(text).exists():
        raise DataError(
            f"{option} {text!r} is neither 'synthetic' nor a folder.",
            f"pass {option} synthetic or an RGB-D SOD dataset folder with RGB/, depth/ and GT/.",
        )
    try:
        spec = parse_data_spec(text)
    except DataError as exc:
        raise DataError(f"{option} {text!r}: {exc.what}", exc.remedy) from None
    if spec.kind == "recordings":
        raise DataError(
            f"{option} {text!r} holds RealSense recordings, which carry no ground-truth masks.",
            f"pass {option} synthetic or an RGB-D SOD dataset folder (RGB/, depth/, GT/).",
        )
    return spec
