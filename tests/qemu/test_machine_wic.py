"""qemu-test on the layer's qemuarm64 image: the partitioned wic disk, root on its second partition.

rcar-k8s-image.inc sets QB_DEFAULT_FSTYPE = "wic" and QB_KERNEL_ROOT = "/dev/vda2" for qemuarm64;
poky scarthgap's qemuboot.bbclass writes them (lower-case keys) into <image>.qemuboot.conf.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from generator.layer import disk_layout as dl
from generator.qemu import machine

FIXTURES = Path(__file__).parent / "fixtures"
CONF = "core-image-minimal-qemuarm64.qemuboot.conf"
KERNEL = "Image--6.6.23+git0+1234567890-r0-qemuarm64-20261125101010.bin"


def test_wic_image_boots_its_root_partition(tmp_path: Path) -> None:
    text = (FIXTURES / CONF).read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith(("qb_default_fstype", "qb_kernel_root"))]
    lines.insert(lines.index("[config_bsp]") + 1, "qb_default_fstype = wic")
    lines.insert(lines.index("[config_bsp]") + 1, f"qb_kernel_root = /dev/vda{dl.ROOT.number}")
    (tmp_path / CONF).write_text("\n".join(lines) + "\n")
    (tmp_path / KERNEL).write_bytes(b"kernel")
    (tmp_path / "core-image-minimal-qemuarm64.rootfs.wic").write_bytes(b"disk")
    spec = machine.from_deploy_dir(tmp_path)
    assert spec.rootfs == tmp_path / "core-image-minimal-qemuarm64.rootfs.wic"
    assert spec.root == "/dev/vda2"
    if shutil.which(machine.QEMU):
        append = machine.command(spec)[-1].split()
        assert "root=/dev/vda2" in append and "root=/dev/vda" not in append
