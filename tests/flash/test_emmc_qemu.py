"""End to end: `rcar-k8s flash emmc` against real U-Boot in qemu-system-aarch64.

The real CLI connects to U-Boot's console, stops autoboot, TFTPs the image in chunks from QEMU's
built-in server, writes them with `virtio write`, CRC32-checks each read-back, sets the boot
environment; then the disk image is compared byte for byte with the image.
"""

from __future__ import annotations

import lzma
import re
from pathlib import Path

import pytest

from tests.conftest import require_tool, run_cli
from tests.flash import wicimage
from tests.flash.qemu_uboot import UBOOT_BIN, QemuUBoot

pytestmark = pytest.mark.slow


@pytest.fixture
def rig(tmp_path: Path):
    qemu = require_tool("qemu-system-aarch64")
    require_tool("mkfs.ext4")
    if not UBOOT_BIN.is_file():
        pytest.fail(f"{UBOOT_BIN} missing: install u-boot-qemu (scripts/ci-packages.txt)")
    image = wicimage.build(tmp_path / "core-image.wic", part_mib=3, tail_bytes=1536)
    disk = tmp_path / "emmc.img"
    disk.write_bytes(b"\xee" * (8 << 20))  # non-zero so zero-padding and unwritten areas are both visible
    tftp = tmp_path / "tftp"
    tftp.mkdir()
    vm = QemuUBoot(qemu, disk, tftp, tmp_path / "qemu.log")
    yield image, disk, tftp, vm, tmp_path
    vm.stop()


def _flash(image: Path, tftp: Path, vm: QemuUBoot, log: Path, *extra: str):
    return run_cli("flash", "emmc", "--target", "qemu-virt", "--serial", vm.url, "--tftp-dir", str(tftp),
                   "--image", str(image), "--chunk-size", "1M", "--char-delay", "0", "--log", str(log),
                   *extra, timeout=600)


def test_flash_emmc_writes_every_byte_and_sets_boot_env(rig):
    image, disk, tftp, vm, tmp = rig
    res = _flash(image, tftp, vm, tmp / "console.log")
    console = (tmp / "console.log").read_text(errors="replace")
    assert res.returncode == 0, res.stderr + console[-3000:]
    # Again on the same, now idle, U-Boot (no autoboot banner this time): the flasher must find the prompt.
    again = _flash(image, tftp, vm, tmp / "console2.log", "--board-rev", "h3-es2")
    assert again.returncode == 0, again.stderr + (tmp / "console2.log").read_text(errors="replace")[-3000:]
    assert "Hit any key" not in (tmp / "console2.log").read_text(errors="replace")
    vm.stop()

    data, written = image.read_bytes(), disk.read_bytes()
    padded = -(-len(data) // 512) * 512
    assert written[: len(data)] == data
    assert written[len(data): padded] == b"\0" * (padded - len(data))  # tail block zero-filled
    assert set(written[padded:]) == {0xEE}  # nothing beyond the image touched

    # The console shows the real U-Boot doing the work (autoboot stopped, 5 chunks, CRC read-back).
    assert "Hit any key to stop autoboot" in console
    assert len(re.findall(r"virtio write 0x40200000 0x[0-9a-f]+ 0x[0-9a-f]+", console)) == 5
    assert "blocks written: OK" in console
    expected_cmd = ("bootcmd=ext4load virtio 0:1 0x48080000 /boot/Image; ext4load virtio 0:1 0x48000000 "
                    "/boot/r8a77951-ulcb.dtb; booti 0x48080000 - 0x48000000")
    assert expected_cmd in console.replace("\r", "")
    assert f"bootargs=rw rootwait root=PARTUUID={wicimage.partuuid()} console=ttyAMA0,115200" in console
    assert not list(tftp.rglob("*")), "chunk files must be cleaned up"
    assert "environment set but not saved" in res.stdout


def test_flash_emmc_xz_image_and_missing_dtb_refused(rig):
    """An .xz image streams through lzma; an image lacking the board's DTB is refused before setenv."""
    image, disk, tftp, vm, tmp = rig
    xz = tmp / "core-image.wic.xz"
    xz.write_bytes(lzma.compress(image.read_bytes()))
    res = _flash(xz, tftp, vm, tmp / "console.log", "--board-rev", "h3e-2g")
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("rcar-k8s: error:")]
    assert len(errors) == 1, res.stderr
    assert "`ext4size virtio 0:1 /boot/r8a779m1-ulcb.dtb` failed" in errors[0]
    assert "Traceback" not in res.stderr
    vm.stop()
    # The data itself went through (the check runs after writing, before the boot env is touched).
    assert disk.read_bytes()[: image.stat().st_size] == image.read_bytes()
    assert "setenv bootcmd" not in (tmp / "console.log").read_text(errors="replace")


def test_dry_run_prints_exact_sequence(tmp_path: Path):
    require_tool("mkfs.ext4")
    image = wicimage.build(tmp_path / "x.wic", part_mib=2)
    res = run_cli("flash", "emmc", "--image", str(image), "--chunk-size", "1M", "--dry-run")
    assert res.returncode == 0, res.stderr
    cmds = [line for line in res.stdout.splitlines() if not line.startswith("#")]
    last = image.stat().st_size // 512 - 1
    assert cmds[:7] == ["mmc dev 1", "mmc info", f"mmc read 0x58000000 0x{last:x} 0x1", "printenv ethaddr",
                        "setenv autoload no", "dhcp", "printenv serverip"]
    assert cmds[7] == "tftpboot 0x50000000 rcar-k8s-flash/chunk-00000"
    assert cmds[8] == "crc32 0x50000000 0x100000"
    assert cmds[9] == "mmc write 0x50000000 0x0 0x800"
    assert cmds[10] == "mmc read 0x58000000 0x0 0x800"
    assert "mmc part" in cmds and not any(c.startswith("part ") for c in cmds)  # no CMD_PART on the board
    assert cmds[-1] == "saveenv"
    assert (f"setenv bootargs 'rw rootwait root=PARTUUID={wicimage.partuuid()} console=ttySC0,115200'"
            in cmds)
    assert any("ext4load mmc 1:1 0x48000000 /boot/r8a77951-ulcb.dtb" in c for c in cmds)


def test_image_larger_than_device_writes_nothing(tmp_path: Path):
    """U-Boot's own capacity report (`virtio info`) stops the flash before the first block is written."""
    qemu = require_tool("qemu-system-aarch64")
    require_tool("mkfs.ext4")
    image = wicimage.build(tmp_path / "big.wic", part_mib=3)
    disk = tmp_path / "small.img"
    disk.write_bytes(b"\xee" * (2 << 20))
    tftp = tmp_path / "tftp"
    tftp.mkdir()
    vm = QemuUBoot(qemu, disk, tftp, tmp_path / "qemu.log")
    try:
        res = _flash(image, tftp, vm, tmp_path / "console.log")
    finally:
        vm.stop()
    assert res.returncode == 2
    assert "has 4096: nothing was written" in res.stderr.splitlines()[-1]
    assert "tftpboot" not in (tmp_path / "console.log").read_text(errors="replace")
    assert disk.read_bytes() == b"\xee" * (2 << 20)
