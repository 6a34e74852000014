"""The QEMU command line for an arm64 node image: from a Yocto deploy dir (runqemu's qemuboot.conf) or files.

Mirrors poky scarthgap ``scripts/runqemu``: the deploy dir holds ``<image>-qemuarm64.qemuboot.conf``
(``[config_bsp]`` QB_* keys), the kernel named by QB_DEFAULT_KERNEL and the root file system
``<IMAGE_LINK_NAME>.<QB_DEFAULT_FSTYPE>`` (e.g. ``core-image-minimal-qemuarm64.rootfs.ext4``).
"""

from __future__ import annotations

import configparser
import os
import platform
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import UserError

QEMU = "qemu-system-aarch64"
MIN_MEM_MB = 2048  # kubeadm preflight (Mem) wants >= 1700 MB on a control plane; qemuarm64's QB_MEM is 256


@dataclass
class BootSpec:
    kernel: Path
    rootfs: Path
    initrd: Path | None = None
    dtb: Path | None = None
    mem_mb: int = MIN_MEM_MB
    smp: int = 2
    append: list[str] = field(default_factory=list)
    rootfs_opt: str = (
        "-drive id=disk0,file=@ROOTFS@,if=none,format=raw,snapshot=on -device virtio-blk-pci,drive=disk0"
    )
    console: str = "ttyAMA0"
    source: str = "files"
    root: str = "/dev/vda"  # runqemu's QB_KERNEL_ROOT; the partitioned node disk has root on vda2

    def check_files(self) -> None:
        for what, p in (
            ("kernel", self.kernel),
            ("rootfs", self.rootfs),
            ("initrd", self.initrd),
            ("dtb", self.dtb),
        ):
            if p is not None and not Path(p).is_file():
                raise UserError(f"{what} file {p} does not exist; pass an existing file (or --deploy-dir)")


def kvm_usable() -> bool:
    """KVM only helps an arm64 guest on an arm64 host; an x86 /dev/kvm cannot run it."""
    return platform.machine() in ("aarch64", "arm64") and os.access("/dev/kvm", os.R_OK | os.W_OK)


def command(spec: BootSpec, extra_append: list[str] | None = None) -> list[str]:
    if shutil.which(QEMU) is None:
        raise UserError(f"{QEMU} not found: install it (Debian: apt-get install qemu-system-arm)")
    kvm = kvm_usable()
    cmd = [
        QEMU,
        "-machine",
        "virt" + (",gic-version=3" if kvm else ""),
        "-accel",
        "kvm" if kvm else "tcg",
        "-cpu",
        "host" if kvm else "cortex-a57",
        "-m",
        str(spec.mem_mb),
        "-smp",
        str(spec.smp),
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        # a NIC like runqemu's, user-mode (no tap/root); romfile= avoids needing efi-virtio.rom.
        # restrict=on: the guest has no route out, so a boot that needs a pull fails here (no_pulls)
        "-netdev",
        "user,id=net0,restrict=on",
        "-device",
        "virtio-net-pci,netdev=net0,romfile=",
        "-object",
        "rng-random,filename=/dev/urandom,id=rng0",
        "-device",
        "virtio-rng-pci,rng=rng0",
        "-kernel",
        str(spec.kernel),
    ]
    if spec.initrd:
        cmd += ["-initrd", str(spec.initrd)]
    if spec.dtb:
        cmd += ["-dtb", str(spec.dtb)]
    cmd += shlex.split(spec.rootfs_opt.replace("@ROOTFS@", str(spec.rootfs)))
    append = [
        f"root={spec.root}",
        "rw",
        f"console={spec.console}",
        "panic=-1",
        *spec.append,
        *(extra_append or []),
    ]
    cmd += ["-append", " ".join(append)]
    return cmd


def _qb_mem(value: str) -> int:
    m = re.search(r"-m\s+(\d+)", value or "")
    return max(int(m.group(1)) if m else 0, MIN_MEM_MB)


def from_deploy_dir(deploy: Path) -> BootSpec:
    """Find kernel/rootfs/dtb the way runqemu does, from the newest non-initramfs *.qemuboot.conf."""
    deploy = Path(deploy)
    if not deploy.is_dir():
        raise UserError(f"--deploy-dir {deploy} is not a directory; pass tmp/deploy/images/qemuarm64")
    confs = sorted(deploy.glob("*.qemuboot.conf"), key=lambda p: p.stat().st_mtime, reverse=True)
    confs = [c for c in confs if "-initramfs-" not in c.name] or confs
    if not confs:
        raise UserError(
            f"no *.qemuboot.conf in {deploy}: build the image for MACHINE=qemuarm64 "
            "(kas/qemuarm64-*.yml), or pass --kernel and --rootfs"
        )
    cf = configparser.ConfigParser()
    cf.read(confs[0])
    qb = {k.upper(): v for k, v in cf.items("config_bsp")} if cf.has_section("config_bsp") else {}

    def path(v: str) -> Path:
        p = Path(v)
        return p if p.is_absolute() else (deploy / p)

    kernel = path(qb.get("QB_DEFAULT_KERNEL") or qb.get("KERNEL_IMAGETYPE") or "Image")
    fstype = qb.get("QB_DEFAULT_FSTYPE", "ext4").split()[0]
    link = qb.get("IMAGE_LINK_NAME") or confs[0].name.removesuffix(".qemuboot.conf")
    candidates = [deploy / f"{link}.{fstype}", *sorted(deploy.glob(f"{link}*.{fstype}"))]
    if fstype != "ext4":
        candidates += [deploy / f"{link}.ext4", *sorted(deploy.glob(f"{link}*.ext4"))]
    rootfs = next((c for c in candidates if c.is_file()), None)
    if rootfs is None:
        raise UserError(
            f"{confs[0].name} names root file system {link}.{fstype} but it is not in {deploy}; "
            "rebuild the image or pass --rootfs"
        )
    dtb = path(qb["QB_DTB"]) if qb.get("QB_DTB") else None
    append = qb.get("QB_KERNEL_CMDLINE_APPEND", "").split()
    consoles = [e.split(";")[1] for e in qb.get("SERIAL_CONSOLES", "115200;ttyAMA0").split() if ";" in e]
    rootfs_opt = qb.get("QB_ROOTFS_OPT") or BootSpec.rootfs_opt
    if "snapshot=on" not in rootfs_opt:  # never write to the user's image
        rootfs_opt = re.sub(r"(-drive\s+\S+)", r"\1,snapshot=on", rootfs_opt, count=1)
    smp = re.search(r"-smp\s+(\d+)", qb.get("QB_SMP", ""))
    spec = BootSpec(
        kernel=kernel,
        rootfs=rootfs,
        dtb=dtb,
        mem_mb=_qb_mem(qb.get("QB_MEM", "")),
        smp=min(int(smp.group(1)) if smp else 2, os.cpu_count() or 2),
        append=append,
        rootfs_opt=rootfs_opt,
        console=consoles[0] if consoles else "ttyAMA0",
        source=f"deploy dir {deploy} ({confs[0].name})",
        # the layer's wic image has root on its second partition (QB_KERNEL_ROOT, rcar-k8s-image.inc)
        root=(qb.get("QB_KERNEL_ROOT") or "/dev/vda").split()[0],
    )
    spec.check_files()
    return spec
