"""`rcar-k8s flash emmc --target h3ulcb` against a U-Boot with the board's own command set.

The oracle is built by scripts/build-board-uboot.sh from the renesas-rcar/u-boot SRCREV meta-renesas
pins, qemu_arm64 with rcar3_ulcb_defconfig's CMD_*/env options: no `part` (CMD_PART is not set on the
board), env in mmc 1 (ENV_IS_IN_MMC, SYS_MMC_ENV_DEV=1). The flasher runs with the board's own target
profile, so the very command lines a board gets are typed: mmc dev 1, mmc write/read, ext4size
mmc 1:1, setenv, saveenv. A second boot of the same disks proves saveenv stored the environment.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator.flash.console import open_console
from generator.flash.uboot import Step, UBoot
from tests.conftest import require_tool, run_cli
from tests.flash import wicimage
from tests.flash.qemu_uboot import QemuUBoot, board_uboot

pytestmark = pytest.mark.slow
PREPARE = "scripts/build-board-uboot.sh"


@pytest.fixture
def oracle() -> Path:
    built = board_uboot()
    if built is None:
        pytest.skip(f"skipped: board-command-set U-Boot not built (prepare with: {PREPARE}; needs the "
                    "renesas-rcar/u-boot and meta-renesas mirrors under MIRROR_ROOT)")
    return built


@pytest.fixture
def rig(tmp_path: Path, oracle: Path):
    qemu = require_tool("qemu-system-aarch64")
    require_tool("mkfs.ext4")
    image = wicimage.build(tmp_path / "rcar-k8s-node-image-h3ulcb.wic", part_mib=3, tail_bytes=1536)
    disk = tmp_path / "emmc.img"
    disk.write_bytes(b"\xee" * (16 << 20))  # QEMU's sd-card wants a power-of-two size
    tftp = tmp_path / "tftp"
    tftp.mkdir()
    vms: list[QemuUBoot] = []

    def boot() -> QemuUBoot:
        vm = QemuUBoot(qemu, disk, tftp, tmp_path / f"qemu{len(vms)}.log", board=oracle)
        vms.append(vm)
        return vm

    yield image, disk, tftp, boot, tmp_path
    for vm in vms:
        vm.stop()


def _flash(image: Path, tftp: Path, vm: QemuUBoot, log: Path, *extra: str):
    return run_cli("flash", "emmc", "--target", "h3ulcb", "--serial", vm.url, "--tftp-dir", str(tftp),
                   "--image", str(image), "--chunk-size", "1M", "--char-delay", "0", "--log", str(log),
                   *extra, timeout=600)


def _console(vm: QemuUBoot, *commands: str) -> list[str]:
    """Type commands at the oracle's prompt ourselves (to prepare or inspect the board state)."""
    with open_console(vm.url) as child:
        uboot = UBoot(child)
        uboot.stop_autoboot()
        return [uboot.run(Step(cmd)) for cmd in commands]


def test_full_emmc_flow_with_board_commands_and_saved_env(rig):
    image, disk, tftp, boot, tmp = rig
    vm = boot()
    res = _flash(image, tftp, vm, tmp / "console.log")
    console = (tmp / "console.log").read_text(errors="replace").replace("\r", "")
    assert res.returncode == 0, res.stderr + console[-3000:]
    assert "environment saved" in res.stdout
    assert "Unknown command" not in console
    assert "part list" not in console
    assert len(re.findall(r"mmc write 0x50000000 0x[0-9a-f]+ 0x[0-9a-f]+", console)) == 5
    assert "Saving Environment to MMC... Writing to MMC(1)... OK" in console
    vm.stop()

    data, written = image.read_bytes(), disk.read_bytes()
    padded = -(-len(data) // 512) * 512
    assert written[: len(data)] == data
    assert written[len(data): padded] == b"\0" * (padded - len(data))

    # Power-cycle: the environment comes back from mmc 1 (what saveenv wrote), not from the defaults.
    again = boot()
    bootcmd, bootargs = _console(again, "printenv bootcmd", "printenv bootargs")
    assert ("bootcmd=ext4load mmc 1:1 0x48080000 /boot/Image; ext4load mmc 1:1 0x48000000 "
            "/boot/r8a77951-ulcb.dtb; booti 0x48080000 - 0x48000000") in bootcmd.replace("\n", "")
    assert f"root=PARTUUID={wicimage.partuuid()}" in bootargs
    assert not list(tftp.rglob("*"))


def test_no_ethaddr_stops_before_dhcp_and_says_how(rig):
    image, disk, tftp, boot, tmp = rig
    vm = boot()
    _console(vm, "setenv ethaddr")  # a board whose environment never got its MAC
    before = disk.read_bytes()
    res = _flash(image, tftp, vm, tmp / "console.log")
    assert res.returncode == 2
    err = [line for line in res.stderr.splitlines() if line.startswith("rcar-k8s: error:")]
    assert len(err) == 1 and "setenv ethaddr" in err[0] and "nothing written" in err[0], res.stderr
    console = (tmp / "console.log").read_text(errors="replace")
    assert "dhcp" not in console and "tftpboot" not in console
    vm.stop()
    assert disk.read_bytes() == before


def test_static_ip_without_serverip_is_refused_before_writing(rig):
    image, disk, tftp, boot, tmp = rig
    vm = boot()
    before = disk.read_bytes()
    res = _flash(image, tftp, vm, tmp / "console.log", "--ipaddr", "10.0.2.15")
    assert res.returncode == 2
    assert "pass --serverip" in res.stderr and "nothing written" in res.stderr
    assert "tftpboot" not in (tmp / "console.log").read_text(errors="replace")
    vm.stop()
    assert disk.read_bytes() == before


def test_image_larger_than_emmc_is_refused_exactly(rig, tmp_path: Path):
    """`mmc info` only shows a rounded capacity; the last-block read decides, before any write."""
    image, disk, tftp, boot, tmp = rig
    big = wicimage.build(tmp_path / "big.wic", part_mib=17)  # 18 MiB > the 16 MiB card
    vm = boot()
    res = _flash(big, tftp, vm, tmp / "console.log")
    assert res.returncode == 2
    assert "is smaller: nothing was written" in res.stderr
    console = (tmp / "console.log").read_text(errors="replace")
    assert "exceeds max" in console and "tftpboot" not in console
    vm.stop()
    assert set(disk.read_bytes()) == {0xEE}
