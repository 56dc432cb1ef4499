"""Registers every subcommand on the app. Each command lives in its own module."""

from __future__ import annotations

from mutualsense.cli import (  # noqa: F401
    calibrate,
    devices,
    doctor,
    engine,
    evaluate,
    export,
    plugin,
    profile,
    record,
    stream,
    train,
)
