"""Open a serial console as a pexpect child.

``--serial`` takes a device path (``/dev/ttyUSB0``) or any pyserial URL (``socket://host:port`` for
ser2net-style lab consoles and for QEMU's ``-serial tcp:...`` in tests, ``rfc2217://...``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO

import pexpect
import pexpect.fdpexpect
import serial

from generator.errors import UserError


@contextlib.contextmanager
def open_console(
    port: str, baudrate: int = 115200, logfile: IO[str] | None = None, timeout: float = 30
) -> Iterator[pexpect.fdpexpect.fdspawn]:
    """Yield a pexpect child bound to the serial port; closes the port on exit."""
    try:
        ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise UserError(
            f"cannot open serial console {port}: {exc} (check the path, permissions "
            "(dialout group) and that no other terminal holds it)"
        ) from exc
    try:
        child = pexpect.fdpexpect.fdspawn(
            ser.fileno(), timeout=timeout, encoding="utf-8", codec_errors="replace"
        )
        child.logfile_read = logfile
        child.serial = ser  # raw port: baud changes and bulk file uploads
        yield child
    finally:
        ser.close()
