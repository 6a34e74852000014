"""Real U-Boot in qemu-system-aarch64, its console on a TCP socket.

Two U-Boots: Debian's u-boot-qemu (qemu_arm64; a virtio-blk disk stands in for the eMMC) and the
board-command-set oracle from scripts/build-board-uboot.sh (the board's renesas-rcar/u-boot source and
CMD_*/env options; two sdhci-pci controllers give it `mmc 0` = SD slot and `mmc 1` = eMMC, as on the
board). ``-serial tcp:...,server=on,wait=on`` holds the guest until the flasher connects, so the test
sees the whole boot including the autoboot countdown. QEMU's user-mode network serves ``tftp_dir``
over TFTP (and answers DHCP with next-server 10.0.2.2).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time
from pathlib import Path

UBOOT_BIN = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
REPO = Path(__file__).resolve().parents[2]
BOARD_UBOOT_SCRIPT = REPO / "scripts" / "build-board-uboot.sh"


def board_uboot() -> Path | None:
    """u-boot.bin built by scripts/build-board-uboot.sh from this very script, if present."""
    cache = Path(os.environ.get("RCAR_K8S_CACHE", Path.home() / ".cache" / "rcar-k8s"))
    key = hashlib.sha256(BOARD_UBOOT_SCRIPT.read_bytes()).hexdigest()[:12]
    found = sorted(cache.glob(f"uboot-board-*-{key}/u-boot.bin"))
    return found[-1] if found and (found[-1].parent / "info.txt").is_file() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuUBoot:
    def __init__(self, qemu: str, disk: Path, tftp_dir: Path, log: Path, board: Path | None = None,
                 sd: Path | None = None) -> None:
        """``board``: the oracle's u-boot.bin; then ``disk`` is mmc 1 (eMMC) and ``sd`` mmc 0."""
        self.port = free_port()
        cmd = [
            qemu, "-M", "virt", "-cpu", "cortex-a57", "-m", "1024" if board else "512",
            "-bios", str(board or UBOOT_BIN), "-display", "none", "-monitor", "none",
            "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on",
            "-netdev", f"user,id=n0,tftp={tftp_dir}",
        ]
        if board:
            sd = sd or disk.with_name(disk.name + ".sd")
            if not sd.exists():
                sd.write_bytes(b"\0" * (4 << 20))
            cmd += ["-device", "e1000,netdev=n0,romfile=",
                    "-drive", f"if=none,file={sd},format=raw,id=sdslot", "-device", "sdhci-pci",
                    "-device", "sd-card,drive=sdslot",
                    "-drive", f"if=none,file={disk},format=raw,id=emmc", "-device", "sdhci-pci",
                    "-device", "sd-card,drive=emmc"]
        else:
            cmd += ["-device", "virtio-net-device,netdev=n0",
                    "-drive", f"if=none,file={disk},format=raw,id=d0",
                    "-device", "virtio-blk-device,drive=d0"]
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
