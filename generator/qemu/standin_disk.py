"""The stand-in on the node's partitioned disk: first-boot growth of /var/lib and logs across a reboot.

``scripts/build-standin.sh`` makes a bare ext4 root for ``/dev/vda``. Here the same root (with the
layer's node files, ``standin.prepare``) is laid out the way ``rcar-k8s-node.wks`` lays out the
image (``generator.layer.disk_layout``): p1 FAT config, p2 root, p3 a small ext4 ``/var/lib``
holding the root's ``/var/lib`` (wic's ``--change-directory var/lib``), on a disk much larger than
the image, with the fstab lines wic writes. The disk is booted twice (QEMU exits at power-off, the
second run is the next power-on of the same disk), so the test sees what a board sees: the layer's
``rcar-k8s-grow-data.service`` growing p3 on the first boot, the data and the journal of boot 1
still there in boot 2.
"""

from __future__ import annotations

import gzip
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from generator import paths, program
from generator.errors import UserError
from generator.layer import disk_layout as dl
from generator.qemu import debs, ext4, login, standin
from generator.qemu.console import Console
from generator.qemu.machine import BootSpec, command

MIB = 1 << 20
SECTOR = 512
GROW_UNIT = "rcar-k8s-grow-data.service"


@dataclass
class Disk:
    path: Path
    size: int
    starts: dict[int, int]  # partition number -> start sector
    sizes: dict[int, int] = field(default_factory=dict)  # partition number -> sectors in the image


def _run(*cmd: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return program.run(
        cmd,
        fix="the stand-in disk needs fdisk, e2fsprogs, dosfstools and mtools (scripts/ci-packages.txt)",
        **kw,
    )


CPIO_FIX = "the stand-in's initramfs needs GNU cpio (apt install cpio; scripts/ci-packages.txt)"


def initrd_for(st: standin.Standin, root_dev: str, out: Path) -> Path:
    """The stand-in's initramfs with its /init mounting ``root_dev`` instead of the whole /dev/vda.

    A second cpio archive is appended: the kernel unpacks concatenated archives in order, and a
    later file replaces an earlier one (Documentation/driver-api/early-userspace/buffer-format.rst).
    """
    initrd = st.dir / "initrd.gz"
    try:
        with gzip.open(initrd) as f:
            packed = f.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise UserError(f"{initrd}: not a readable gzip initramfs ({exc}): rebuild the stand-in") from None
    init = program.run_bytes(
        ["cpio", "-i", "--quiet", "--to-stdout", "init"],
        input=packed,
        fix=f"{CPIO_FIX}; or rebuild the stand-in if {initrd} is damaged",
        what=f"reading /init out of {initrd} failed",
    ).stdout.decode(errors="replace")
    if "/dev/vda" not in init:
        raise UserError(f"{initrd} has no /init mounting /dev/vda: rebuild the stand-in")
    with tempfile.TemporaryDirectory(prefix="standin-initrd.") as tmp:
        (Path(tmp) / "init").write_text(init.replace("/dev/vda", root_dev))
        (Path(tmp) / "init").chmod(0o755)
        extra = program.run_bytes(
            ["cpio", "-o", "-H", "newc", "--quiet"],
            input=b"init\n",
            cwd=tmp,
            fix=CPIO_FIX,
            what="packing the stand-in's /init failed",
        ).stdout
    out.write_bytes((st.dir / "initrd.gz").read_bytes() + gzip.compress(extra, 1))
    return out


# The Yocto image gets sfdisk from util-linux-sfdisk (k8s-node-config RDEPENDS); Debian puts it in
# "fdisk" (Priority: important), which the minbase stand-in lacks. These Debian arm64 packages are
# fetched once into the stand-in's deb cache (apt-get download checks them against the signed index).
SFDISK_DEBS = ("fdisk", "libfdisk1", "libreadline8", "libsmartcols1", "libtinfo6")


def add_sfdisk(st: standin.Standin, rootfs: Path, work: Path) -> list[str]:
    """Put Debian's sfdisk (and the libraries the stand-in lacks) into ``rootfs``; returns what was added."""
    tree = debs.unpack(st.dir.parent / "debs", SFDISK_DEBS, work / "sfdisk-debs")
    files: dict[str, bytes] = {}
    for f in sorted(tree.rglob("*")):
        rel = debs.merged_usr("/" + str(f.relative_to(tree)))
        wanted = rel.endswith("/sbin/sfdisk") or ("/lib/" in rel and ".so." in f.name)
        if wanted and f.is_file() and not f.is_symlink():
            files[rel] = f.read_bytes()
    script, added = ext4.Script(), []
    for i, (path, data) in enumerate(sorted(files.items())):
        if ext4.read(rootfs, path) is not None:
            continue  # the stand-in has this library already
        src = work / f"sfdisk-file{i}"
        src.write_bytes(data)
        script.put(src, path, 0o755)
        added.append(path)
    # the .so.N names the binaries ask for are symlinks in the packages
    for f in sorted(tree.rglob("*.so.*")):
        rel = debs.merged_usr("/" + str(f.relative_to(tree)))
        if f.is_symlink() and not ext4.exists(rootfs, rel):
            script.symlink(rel, str(f.readlink()))
            added.append(rel)
    script.apply(rootfs)
    return added


ACCESS = "meta-rcar-k8s/recipes-core/rcar-k8s-access/files"
ADMIN_UID = 1000


def add_admin(rootfs: Path, work: Path) -> str:
    """The rcar-k8s-access package on the stand-in: the admin user as its USERADD_PARAM makes it
    (shadow "*", home /home/admin, tests/layer/test_access.py runs the real useradd), and its
    admin-keys script and unit, enabled as its SYSTEMD_SERVICE is. Returns the unit name."""
    files = paths.repo_root() / ACCESS
    unit = "rcar-k8s-admin-keys.service"
    entries = {
        "/etc/passwd": f"admin:x:{ADMIN_UID}:{ADMIN_UID}::/home/admin:/bin/sh\n",
        "/etc/shadow": "admin:*:20000:0:99999:7:::\n",
        "/etc/group": f"admin:x:{ADMIN_UID}:\n",
    }
    script = ext4.Script()
    for i, (path, line) in enumerate(entries.items()):
        text = (ext4.read(rootfs, path) or b"").decode() + line
        (work / f"admin-{i}").write_text(text)
        script.put(work / f"admin-{i}", path, 0o640 if path == "/etc/shadow" else 0o644)
    script.dir("/home/admin", 0o750, ADMIN_UID, ADMIN_UID)
    script.put(files / "admin-keys", "/usr/libexec/rcar-k8s/admin-keys", 0o755)
    service = f"{standin.UNITDIR}/{unit}"
    script.put(files / unit, service, 0o644)
    script.symlink(f"/etc/systemd/system/multi-user.target.wants/{unit}", service)
    script.apply(rootfs)
    return unit


def _mib_up(n: int) -> int:
    return -(-n // MIB) * MIB


def build_disk(rootfs: Path, out: Path, disk_bytes: int, config_files: dict[str, bytes], work: Path) -> Disk:
    """A raw disk of ``disk_bytes``: partitions per the layout, each as wic would fill it."""
    align = dl.ALIGN_KIB * 1024
    # root: the prepared stand-in root, with the empty mount points and the fstab wic writes
    root_dev = f"/dev/vda{dl.ROOT.number}"
    fstab = "\n".join([f"{root_dev}\t/\text4\trw,relatime\t0\t1", *dl.fstab_lines()]) + "\n"
    (work / "fstab").write_text(fstab)
    script = ext4.Script()
    script.parents(dl.CONFIG.mountpoint + "/x")
    script.put(work / "fstab", "/etc/fstab", 0o644)
    script.apply(rootfs)
    # data: the root's /var/lib (wic --change-directory var/lib)
    varlib = work / "varlib"
    varlib.mkdir()
    _run("debugfs", "-R", f"rdump {dl.DATA.mountpoint} {varlib}", str(rootfs))
    data = work / "data.ext4"
    _run(
        "mke2fs",
        "-q",
        "-t",
        dl.DATA.fstype,
        "-L",
        dl.DATA.label,
        "-d",
        str(varlib / "lib"),
        str(data),
        f"{dl.DATA.size_mib}M",
    )
    # config: FAT with the files a user would find on it
    config = work / "config.vfat"
    _run("mkfs.vfat", "-n", dl.CONFIG.label, "-C", str(config), str(dl.CONFIG.size_mib * 1024))
    for name, content in config_files.items():
        (work / name).write_bytes(content)
        _run("mcopy", "-i", str(config), str(work / name), f"::/{name}")
    images = {dl.CONFIG.number: config, dl.ROOT.number: rootfs, dl.DATA.number: data}
    starts, sizes, offset = {}, {}, align
    for p in dl.PARTS:
        size = _mib_up(images[p.number].stat().st_size)
        starts[p.number], sizes[p.number] = offset // SECTOR, size // SECTOR
        offset = -(-(offset + size) // align) * align
    if offset > disk_bytes:
        raise UserError(f"the stand-in image needs {offset // MIB} MiB: pass a larger disk")
    with out.open("wb") as f:
        f.truncate(disk_bytes)
    table = "label: dos\n" + "".join(
        f"start={starts[p.number]}, size={sizes[p.number]}, type={'c' if p.fstype == 'vfat' else '83'}\n"
        for p in dl.PARTS
    )
    _run("sfdisk", "-q", str(out), input=table)
    for p in dl.PARTS:
        _run(
            "dd",
            f"if={images[p.number]}",
            f"of={out}",
            "bs=1M",
            f"seek={starts[p.number] * SECTOR // MIB}",
            "conv=notrunc,sparse",
            "status=none",
        )
    return Disk(out, disk_bytes, starts, sizes)


def boot(
    st: standin.Standin, disk: Disk, initrd: Path, log: Path | None, ssh_port: int | None = None
) -> Console:
    spec = BootSpec(
        kernel=st.dir / "vmlinuz",
        initrd=initrd,
        rootfs=disk.path,
        append=["nokaslr", "kpti=0", "mitigations=off"],
        # no snapshot=on: the second boot must see what the first one wrote
        rootfs_opt="-drive id=disk0,file=@ROOTFS@,if=none,format=raw -device virtio-blk-pci,drive=disk0",
        root=f"/dev/vda{dl.ROOT.number}",
        source=f"stand-in {st.dir} on the node disk layout",
    )
    cmd = command(spec)
    return Console(login.with_hostfwd(cmd, ssh_port) if ssh_port else cmd, log)


def _facts(con: Console) -> dict[str, object]:
    d, p = "vda", f"vda{dl.DATA.number}"
    _, sizes = con.run(f"cat /sys/class/block/{d}/size /sys/class/block/{p}/start /sys/class/block/{p}/size")
    total, start, size = (int(x) for x in sizes.split())
    _, fs = con.run(f"dumpe2fs -h /dev/{p} 2>/dev/null | grep -E '^Block (count|size):' | awk '{{print $3}}'")
    blocks, bsize = (int(x) for x in fs.split())
    mounts = [
        con.run(f"findmnt -n -o SOURCE,FSTYPE,OPTIONS {m}")[1]
        for m in (dl.DATA.mountpoint, dl.CONFIG.mountpoint)
    ]
    _, state = con.run(f"systemctl show -p ActiveState --value {GROW_UNIT}")
    _, result = con.run(f"systemctl show -p Result --value {GROW_UNIT}")
    _, grow_log = con.run(f"journalctl -b 0 -u {GROW_UNIT} -o cat --no-pager | grep grow-data")
    _, journal_dir = con.run("ls -d /var/log/journal/*/ 2>/dev/null | head -1")
    return {
        "disk_sectors": total,
        "data_start": start,
        "data_sectors": size,
        "data_end_gap_sectors": total - (start + size),
        "fs_bytes": blocks * bsize,
        "mounts": mounts,
        "grow_unit": f"{state.strip()} {result.strip()}",
        "grow_log": grow_log.splitlines(),
        "journal_dir": journal_dir.strip(),
    }


def persistence_run(
    st: standin.Standin,
    rootfs: Path,
    work: Path,
    disk_mib: int,
    config_files: dict[str, bytes],
    timeout: float = 420,
    ssh_keys: tuple[Path, Path] | None = None,
) -> dict[str, object]:
    """Two boots of one disk: facts of each, plus whether boot 1's data and journal reached boot 2.
    With ``ssh_keys`` (the key whose public half is on the config partition, one the node does not
    know), boot 1 also forwards a port to sshd and records what login.probe_access sees."""
    disk = build_disk(rootfs, work / "disk.raw", disk_mib * MIB, config_files, work)
    initrd = initrd_for(st, f"/dev/vda{dl.ROOT.number}", work / "initrd.gz")
    nonce = secrets.token_hex(6)
    marker = f"{dl.DATA.mountpoint}/rcar-k8s-persist-test"
    report: dict[str, object] = {"disk_bytes": disk.size, "image_data_sectors": disk.sizes[dl.DATA.number]}
    for n in (1, 2):
        port = login.free_port() if ssh_keys and n == 1 else None
        con = boot(st, disk, initrd, work / f"boot{n}.console.log", port)
        try:
            con.login("root", "", timeout)
            # until systemd has no job for the grow-data unit left (the boot itself may wait for NTP)
            con.run(
                f"for i in $(seq 300); do systemctl list-jobs --no-legend | grep -q {GROW_UNIT} || "
                f"{{ systemctl is-active -q local-fs.target && break; }}; sleep 1; done",
                timeout,
            )
            facts = _facts(con)
            if n == 1:
                con.run(f"echo {nonce} > {marker}; sync")
                con.run(f"logger -t rcar-k8s-test boot1-{nonce}; journalctl --flush")
                _, cfg = con.run(f"ls {dl.CONFIG.mountpoint}")
                facts["config_listing"] = cfg.split()
                keys = "/home/admin/.ssh/authorized_keys"
                _, facts["admin_keys_stat"] = con.run(f"stat -c '%U %a' {keys} /home/admin/.ssh")
                _, facts["admin_keys"] = con.run(f"cat {keys}")
                _, facts["admin_keys_log"] = con.run(
                    "journalctl -b 0 -u rcar-k8s-admin-keys -o cat --no-pager | grep admin-keys:"
                )
                if ssh_keys and port:
                    # the console login above shows root's password really is empty here
                    _, facts["root_shadow_pw_len"] = con.run(
                        "awk -F: '$1==\"root\"{print length($2)}' /etc/shadow"
                    )
                    guest = login.SshGuest(con, port, ssh_keys[0])
                    t0 = time.monotonic()
                    guest.wait(180)
                    facts["ssh_login_s"] = round(time.monotonic() - t0, 1)
                    facts["ssh"] = login.probe_access(guest, ssh_keys[1], work)
                    facts["ssh_run"] = guest.run("id -u; test -r /etc/shadow && echo can-read-shadow")
            else:
                _, facts["marker"] = con.run(f"cat {marker}")
                _, prev = con.run("journalctl -b -1 -t rcar-k8s-test -o cat --no-pager")
                facts["boot1_journal"] = prev.splitlines()
                _, boots = con.run("journalctl --list-boots --no-pager | wc -l")
                facts["boots_in_journal"] = int(boots.split()[-1]) if boots.split() else 0
            facts["clean_poweroff"] = con.poweroff(timeout=120)
        finally:
            con.close()
        report[f"boot{n}"] = facts
    report["nonce"] = nonce
    shutil.rmtree(work / "varlib", ignore_errors=True)
    return report
