"""Registers every subcommand on the app. Each command lives in its own module."""

from __future__ import annotations

from mutualsense.cli import calibrate, doctor, engine, export, plugin, profile, record, stream, train  # noqa: F401
