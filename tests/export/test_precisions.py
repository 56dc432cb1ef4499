"""The precision table: each precision names the options it takes and refuses the others by their typed name."""

from __future__ import annotations

import pytest

from mutualsense.errors import MutualSenseError
from mutualsense.export.precisions import (
    DEFAULT_MAX_DROP,
    INT8_OPTIONS,
    PRECISIONS,
    ExportOptions,
    Int8Options,
    check_precision,
)


def test_every_precision_names_its_entry_and_options() -> None:
    assert set(PRECISIONS) == {"fp32", "fp16", "int8"}
    assert PRECISIONS["int8"].accepts == INT8_OPTIONS and PRECISIONS["fp16"].accepts == ()
    assert PRECISIONS["int8"].entry.startswith("mutualsense.calibration.")  # INT8 lives in calibration
    assert all(r.entry.startswith("mutualsense.export.") for n, r in PRECISIONS.items() if n != "int8")
    assert Int8Options().max_drop == DEFAULT_MAX_DROP == 0.01 and ExportOptions().int8 is None


def test_int8_options_are_accepted_for_int8_only() -> None:
    assert check_precision("int8", {"calib": "--calib", "force": "--force"}).name == "int8"
    with pytest.raises(MutualSenseError) as info:
        check_precision("fp16", {"calib": "--calib"})
    assert info.value.what == "--calib does not apply to precision fp16 (only to int8)."
    with pytest.raises(MutualSenseError, match=r"calib= does not apply to precision fp32"):
        check_precision("fp32", {"calib": "calib="})


def test_unknown_precision_suggests_the_closest() -> None:
    with pytest.raises(MutualSenseError, match="unknown precision 'fp61'") as info:
        check_precision("fp61")
    assert "did you mean fp16?" in (info.value.remedy or "")
