"""``mutualsense devices``: the connected RealSense cameras."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mutualsense.cli import app


@app.command()
def devices() -> None:
    """List connected RealSense cameras: name, serial (for --source camera:SERIAL), firmware, USB type."""
    from mutualsense.sources import list_cameras

    cameras = list_cameras()
    if not cameras:
        Console().print("no RealSense camera found (check the cable; a USB 3 port is needed for full rates)")
        return
    table = Table(title="RealSense cameras")
    for col in ("name", "serial", "firmware", "USB", "product line"):
        table.add_column(col)
    for c in cameras:
        usb = c.usb_type + (" [yellow](USB 2: lower resolutions/rates)[/]" if c.usb_type.startswith("2") else "")
        table.add_row(c.name, c.serial, c.firmware, usb, c.product_line)
    Console().print(table)
