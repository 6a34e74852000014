"""The node image's wks, read by poky scarthgap's own wic code (scripts/lib/wic from the poky mirror).

`KickStart` is the parser `wic create` runs on WKS_FILE in do_image_wic; `DirectPlugin.update_fstab`
is the code that writes the fstab lines for the non-root partitions. Both come from
yoctoproject/poky@scarthgap, imported unchanged from a `git archive` of the mirror.
"""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
import tarfile
import types
from pathlib import Path

import pytest

from generator.layer import disk_layout as dl

from .conftest import LAYER, REPO

POKY = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror")) / "yoctoproject+poky/repo"
PREPARE = (
    "MIRROR_ROOT=/work/.mirror; /work/.mirror/fetch.sh yoctoproject/poky (a bare clone with branch scarthgap)"
)
WKS = LAYER / "wic" / dl.WKS_NAME
# poky scarthgap meta/recipes-core/base-files/base-files/fstab, verbatim
POKY_FSTAB = """# stock fstab - you probably want to override this with a machine specific one

/dev/root            /                    auto       defaults              1  1
proc                 /proc                proc       defaults              0  0
devpts               /dev/pts             devpts     mode=0620,ptmxmode=0666,gid=5      0  0
tmpfs                /run                 tmpfs      mode=0755,nodev,nosuid,strictatime 0  0
tmpfs                /var/volatile        tmpfs      defaults              0  0

# uncomment this if your device has a SD/MMC/Transflash slot
#/dev/mmcblk0p1       /media/card          auto       defaults,sync,noauto  0  0

"""


@pytest.fixture(scope="module")
def wic(tmp_path_factory: pytest.TempPathFactory) -> types.SimpleNamespace:
    if not (POKY / "HEAD").is_file():
        pytest.skip(f"skipped: poky mirror not at {POKY} (prepare with: {PREPARE})")
    out = tmp_path_factory.mktemp("poky")
    tar = subprocess.run(
        ["git", f"--git-dir={POKY}", "archive", "scarthgap", "scripts/lib/wic", "meta/lib/oe"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(out, filter="data")
    libs = [str(out / "scripts/lib"), str(out / "meta/lib")]  # direct.py uses oe.path
    sys.path[:0] = libs
    try:
        misc = importlib.import_module("wic.misc")
        # do_image_wic runs `wic create --vars <imgdata>`: the variables come from <image>.env files
        vars_dir = out / "imgdata"
        vars_dir.mkdir()
        (vars_dir / "rcar-k8s-node-image.env").write_text('APPEND=""\nIMAGE_ROOTFS="/nonexistent"\n')
        misc.BB_VARS.vars_dir = str(vars_dir)
        misc.BB_VARS.default_image = "rcar-k8s-node-image"
        ks = importlib.import_module("wic.ksparser")
        direct = importlib.import_module("wic.plugins.imager.direct")
        yield types.SimpleNamespace(
            KickStart=ks.KickStart, DirectPlugin=direct.DirectPlugin, PartitionedImage=direct.PartitionedImage
        )
    finally:
        for lib in libs:
            sys.path.remove(lib)
        for name in [m for m in sys.modules if m.split(".")[0] in ("wic", "oe")]:
            del sys.modules[name]


def test_wks_is_generated_from_the_layout_and_named_by_the_image():
    assert WKS.read_text() == dl.wks()
    inc = (LAYER / "recipes-core/images/rcar-k8s-image.inc").read_text()
    assert f'WKS_FILE = "{dl.WKS_NAME}"' in inc
    # FAT partitions need mkdosfs and mcopy, which poky's WKS_FILE_DEPENDS_DEFAULT does not pull
    assert "dosfstools-native" in inc and "mtools-native" in inc
    # both machines build the partitioned image; runqemu boots its root partition
    assert 'IMAGE_FSTYPES:append = " wic"' in inc
    assert f'QB_KERNEL_ROOT:qemuarm64 = "/dev/vda{dl.ROOT.number}"' in inc


def test_poky_wic_parses_the_wks_into_config_root_and_data(wic):
    ks = wic.KickStart(str(WKS))
    parts = ks.partitions
    assert [p.mountpoint for p in parts] == [p.mountpoint for p in dl.PARTS]
    assert ks.bootloader.ptable == "msdos"  # U-Boot reads DOS partitions
    # the partition table wic lays out: numbers, and root's PARTUUID "<disk id>-02" for root=PARTUUID=
    disk = wic.PartitionedImage("unused.wic", ks.bootloader.ptable, parts)
    assert [p.realnum for p in parts] == [p.number for p in dl.PARTS]
    cfg, root, data = parts
    assert root.uuid == f"{disk.identifier:08x}-{dl.ROOT.number:02d}"
    assert cfg.uuid is None and data.uuid is None  # found by LABEL=, not PARTUUID
    assert (cfg.fstype, cfg.label, cfg.use_label) == ("vfat", dl.CONFIG.label, True)
    assert len(cfg.label) <= 11  # a FAT volume label has 11 characters at most
    assert cfg.fixed_size == dl.CONFIG.size_mib * 1024 and cfg.change_directory == "boot/rcar-k8s"
    assert (root.fstype, root.use_uuid, root.source) == ("ext4", True, "rootfs")
    assert root.extra_space == dl.ROOT_EXTRA_MIB * 1024  # room for logs: wic ignores ROOTFS_SIZE here
    # root keeps empty mount points for the two other partitions
    assert sorted(root.exclude_path) == ["boot/rcar-k8s/", "var/lib/"]
    assert (data.fstype, data.label, data.use_label) == ("ext4", dl.DATA.label, True)
    assert data.change_directory == "var/lib" and data.size == dl.DATA.size_mib * 1024
    assert parts[-1] is data  # only the last partition can grow into the rest of the device
    assert all(p.align == dl.ALIGN_KIB for p in parts)


def test_poky_wic_writes_the_fstab_lines_the_layout_promises(wic, tmp_path: Path):
    ks = wic.KickStart(str(WKS))
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc/fstab").write_text(POKY_FSTAB)
    wic.PartitionedImage("unused.wic", ks.bootloader.ptable, ks.partitions)  # numbers the partitions
    plugin = types.SimpleNamespace(parts=ks.partitions, workdir=str(tmp_path), updated_fstab_path=None)
    wic.DirectPlugin.update_fstab(plugin, str(rootfs))
    added = Path(plugin.updated_fstab_path).read_text()[len(POKY_FSTAB) :].splitlines()
    assert added == dl.fstab_lines()
    assert added[0].startswith(f"LABEL={dl.CONFIG.label}\t/boot/rcar-k8s\tvfat\t")
    assert "nofail" in added[0] and "fmask=0177" in added[0]  # boots without it; token readable by root only


def test_join_scripts_read_the_config_partition_first(tmp_path):
    """k8s-join/k8s-init, as the recipe installs them, look for join.env/cluster.env where the
    config partition is mounted (more in tests/join/test_join_locations.py)."""
    from tests.join.test_join_locations import installed_scripts, search_dirs

    libexec = installed_scripts(tmp_path)
    for script in ("k8s-join", "k8s-init"):
        assert search_dirs(libexec / script)[0] == dl.CONFIG.mountpoint, script


def test_layout_doc_is_the_layout():
    assert dl.markdown_table() in (REPO / "docs/flashing.md").read_text()
