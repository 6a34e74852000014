"""`rcar-k8s flash` finds the root partition of the layer's own layout (config, root, data)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator.flash import emmc
from generator.flash.partuuid import find_root
from generator.layer import disk_layout as dl
from tests.conftest import require_tool


def _layout_image(tmp_path: Path, label: str) -> Path:
    """An image partitioned like rcar-k8s-node.wks, partitioned by the real sfdisk."""
    img = tmp_path / "node.wic"
    img.write_bytes(b"\0" * (16 << 20))
    script = f"label: {label}\n" + "".join(
        f"size={'4M' if p is not dl.DATA else '+'}, type={'c' if p.fstype == 'vfat' else 'L'}\n"
        if label == "dos"
        else f"size={'4M' if p is not dl.DATA else '+'}, type=L\n"
        for p in dl.PARTS
    )
    subprocess.run(
        [require_tool("sfdisk"), "-q", str(img)], input=script, text=True, check=True, capture_output=True
    )
    return img


@pytest.mark.parametrize("label", ["dos", "gpt"])
def test_root_is_the_layouts_second_partition(tmp_path: Path, label: str):
    img = _layout_image(tmp_path, label)
    root = find_root(img.read_bytes()[: 34 * 512])
    assert root.number == dl.ROOT.number == 2
    if label == "dos":
        disk_id = subprocess.run(
            ["sfdisk", "--disk-id", str(img)], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert root.partuuid == f"{int(disk_id, 16):08x}-02"
    else:
        want = (
            subprocess.run(
                ["sfdisk", "--part-uuid", str(img), "2"], capture_output=True, text=True, check=True
            )
            .stdout.strip()
            .lower()
        )
        assert root.partuuid == want


def test_uboot_loads_the_kernel_from_the_root_partition(tmp_path: Path):
    root = find_root(_layout_image(tmp_path, "dos").read_bytes()[: 34 * 512])
    env = emmc.boot_env(emmc.TARGETS["h3ulcb"], root, "r8a77951-ulcb.dtb")
    assert "ext4load mmc 1:2 0x48080000 /boot/Image" in env["bootcmd"]
    assert f"root=PARTUUID={root.partuuid}" in env["bootargs"]
