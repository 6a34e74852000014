"""Real U-Boot (Debian u-boot-qemu, qemu_arm64) in qemu-system-aarch64, its console on a TCP socket.

``-serial tcp:...,server=on,wait=on`` holds the guest until the flasher connects, so the test sees the
whole boot including the autoboot countdown. QEMU's user-mode network serves ``tftp_dir`` over TFTP
and the virtio-blk disk stands in for the eMMC.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

UBOOT_BIN = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuUBoot:
    def __init__(self, qemu: str, disk: Path, tftp_dir: Path, log: Path) -> None:
        self.port = free_port()
        cmd = [
            qemu, "-M", "virt", "-cpu", "cortex-a57", "-m", "512", "-bios", str(UBOOT_BIN),
            "-display", "none", "-monitor", "none",
            "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on",
            "-netdev", f"user,id=n0,tftp={tftp_dir}", "-device", "virtio-net-device,netdev=n0",
            "-drive", f"if=none,file={disk},format=raw,id=d0", "-device", "virtio-blk-device,drive=d0",
        ]
        self.log = log.open("w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_listening()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def _wait_listening(self, timeout: float = 30) -> None:
        # Probing with connect() would consume QEMU's single "wait" connection; look at the socket table.
        deadline = time.monotonic() + timeout
        needle = f":{self.port:04X} 00000000:0000 0A"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qemu exited early: {self.proc.returncode}")
            if any(needle in line for line in Path("/proc/net/tcp").read_text().splitlines()):
                return
            time.sleep(0.1)
        raise RuntimeError("qemu did not open its serial socket")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # QEMU flushes the disk image on SIGTERM
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
