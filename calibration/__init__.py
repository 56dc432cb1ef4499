"""Calibration sets, INT8 quantisation and the accuracy gate (needs the export extra)."""

__all__: list[str] = []
