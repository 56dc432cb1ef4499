"""``mutualsense doctor``: what this machine can do, and on a Jetson what is wrong and the exact fix."""

from __future__ import annotations

from mutualsense.doctor.check import Check
from mutualsense.doctor.jetson import Host, jetson_checks
from mutualsense.doctor.probes import check_environment, libusb_present

__all__ = ["Check", "Host", "check_environment", "jetson_checks", "libusb_present"]
