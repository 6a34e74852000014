"""The node disk layout booted for real: the stand-in (with the layer's node files) on a disk laid
out like rcar-k8s-node.wks but much larger than the image, booted twice under qemu-system-aarch64.

Shows: the layer's grow-data service grows /var/lib to the end of the disk on the first boot (and
the ext4 with it), the second boot finds nothing to grow; what boot 1 wrote to /var/lib and the
journal of boot 1 (persistent, VOLATILE_LOG_DIR = "no" + journald drop-in) are there in boot 2; the
FAT config partition is mounted where k8s-join looks for join.env.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.layer import disk_layout as dl
from generator.matrix.model import load_matrix
from generator.qemu import login, standin, standin_disk, standin_sshd
from tests.conftest import REPO, require_tool

pytestmark = pytest.mark.slow
DISK_MIB = 3072
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2tMXeH4ZQ6nOq4J8wG4k6Fj1nBk0Yq6d3sQZ8vUq1R me@laptop"


def test_data_grows_to_the_disk_and_data_and_journal_survive_a_reboot(built, tmp_path: Path) -> None:
    for tool in ("sfdisk", "mkfs.vfat", "mcopy", "cpio", "dpkg-deb"):
        require_tool(tool)
    row = load_matrix().default_row
    ov = standin.overlay_for(row, "worker", built.info)
    rootfs = standin.prepare(built, ov, tmp_path / "rootfs.ext4")
    added = standin_disk.add_sfdisk(built, rootfs, tmp_path)
    standin_disk.add_admin(rootfs, tmp_path)
    standin_sshd.add_sshd(built, rootfs, tmp_path)
    # qemu-test's throwaway key goes on the config partition next to the user's; a second key the
    # node never saw must be refused
    key, pub = login.keypair(tmp_path)
    wrong, _ = login.keypair(tmp_path, "wrong-key")
    readme = (REPO / "meta-rcar-k8s/recipes-core/rcar-k8s-access/files/README.txt").read_bytes()
    example = (REPO / "meta-rcar-k8s/recipes-kubernetes/k8s-join/files/join.env.example").read_bytes()
    rep = standin_disk.persistence_run(
        built,
        rootfs,
        tmp_path,
        DISK_MIB,
        # authorized_keys as a Windows laptop writes it (CRLF)
        {
            "README.txt": readme,
            "join.env.example": example,
            "authorized_keys": f"# mine\r\n{KEY}\r\n{pub}\r\n".encode(),
        },
        ssh_keys=(key, wrong),
    )
    print(json.dumps(rep, indent=1), "\nadded to the stand-in:", added)
    b1, b2 = rep["boot1"], rep["boot2"]
    disk_sectors = DISK_MIB * 2048
    # the image's data partition was small; boot 1 grew it to the end of the disk
    assert rep["image_data_sectors"] == dl.DATA.size_mib * 2048
    assert b1["disk_sectors"] == disk_sectors
    assert b1["data_end_gap_sectors"] == 0, b1
    assert b1["grow_unit"] == "active success", b1
    assert any("growing /dev/vda partition 3" in ln for ln in b1["grow_log"]), b1["grow_log"]
    # ... and the file system with it (ext4 in whole 4 KiB blocks)
    assert b1["data_sectors"] * 512 - b1["fs_bytes"] < 4096, b1
    # the mounts the layout promises
    data_mount, config_mount = b1["mounts"]
    assert data_mount.split()[:2] == [f"/dev/vda{dl.DATA.number}", "ext4"]
    assert config_mount.split()[:2] == [f"/dev/vda{dl.CONFIG.number}", "vfat"]
    assert "fmask=0177" in config_mount and "dmask=0077" in config_mount
    assert {"README.txt", "join.env.example"} <= set(b1["config_listing"])
    # the access recipe's boot-time unit put the key from the config partition in place for admin
    assert b1["admin_keys"].splitlines() == [KEY, pub], b1
    assert b1["admin_keys_stat"].split("\n") == ["admin 600", "admin 700"], b1
    assert any("2 key(s) added for admin" in ln for ln in b1["admin_keys_log"].splitlines()), b1
    # SSH as a user logs in: admin with the key from the config partition, root through sudo -n
    ssh = b1["ssh"]
    assert ssh["admin_key"]["rc"] == 0 and ssh["admin_key"]["out"] == ["admin", "0"], ssh
    assert b1["ssh_run"][0] == 0 and b1["ssh_run"][1].splitlines() == ["0", "can-read-shadow"], b1
    # a key the node does not know is refused by sshd (not a connection failure)
    assert ssh["admin_wrong_key"]["rc"] == 255 and "Permission denied" in ssh["admin_wrong_key"]["err"], ssh
    # root's password is empty on the stand-in (the console login proved it), yet SSH refuses it
    assert b1["root_shadow_pw_len"] == "0", b1
    assert ssh["root_empty_password"]["rc"] == 255, ssh
    assert "Permission denied" in ssh["root_empty_password"]["err"], ssh
    # boot 2: same size, nothing grown, boot 1's data and journal are there
    assert (b2["data_sectors"], b2["fs_bytes"]) == (b1["data_sectors"], b1["fs_bytes"])
    assert b2["grow_unit"] == "active success"
    assert not any("growing" in ln for ln in b2["grow_log"]), b2["grow_log"]
    assert b2["marker"] == rep["nonce"]
    assert f"boot1-{rep['nonce']}" in b2["boot1_journal"]
    assert b2["boots_in_journal"] >= 2
    assert b1["journal_dir"].startswith("/var/log/journal/")
    assert b1["clean_poweroff"] and b2["clean_poweroff"]
