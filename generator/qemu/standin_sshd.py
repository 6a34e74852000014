"""OpenSSH's sshd and sudo on the Debian stand-in, so qemu-test logs in there as on the image.

The image gets them from ``IMAGE_FEATURES += "ssh-server-openssh"`` (rcar-k8s-image.inc) and the
rcar-k8s-access recipe's ``RDEPENDS = "sudo"``; the minbase stand-in has neither. Debian's arm64
packages are fetched once into the stand-in's deb cache (as standin_disk does for sfdisk) and laid
into the root with debugfs, with what their maintainer scripts would do: the ``sshd`` privilege
separation user, ``/etc/ssh/sshd_config`` from the packaged default, a host key, ``ssh.service``
enabled. The layer's own sudoers drop-in goes in as the recipe installs it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from generator import paths, program
from generator.errors import UserError
from generator.qemu import debs, ext4, standin

# libwrap0 (+ its libnsl2): the libraries of sshd that minbase lacks. libnss-myhostname: poky's
# systemd builds nss-myhostname (scarthgap systemd_255.21.bb PACKAGECONFIG "myhostname") and its
# postinst adds it to nsswitch's hosts line, so the board resolves its own generated hostname; without
# it sudo warns "unable to resolve host rcar-k8s-XXXX" on every call (Debian minbase lacks it).
DEBS = ("openssh-server", "sudo", "libwrap0", "libnsl2", "libnss-myhostname")


def with_myhostname(nsswitch: str) -> str:
    """nsswitch.conf as poky's systemd postinst leaves it: ``myhostname`` after ``files`` on hosts:."""
    out = []
    for line in nsswitch.splitlines(keepends=True):
        if line.startswith("hosts:"):
            words = [w for w in line.split() if w != "myhostname"]
            if "files" in words:
                words.insert(words.index("files") + 1, "myhostname")
            line = words[0] + "          " + " ".join(words[1:]) + "\n"
        out.append(line)
    return "".join(out)


LIBDIRS = ("/usr/lib/aarch64-linux-gnu/", "/usr/libexec/sudo/")
SKIP = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/locale/", "/usr/share/lintian/", "/etc/init.d/",
        "/etc/sv/", "/etc/runit/", "/etc/ufw/", "/usr/share/runit/", "/usr/share/apport/")  # fmt: skip
SUDOERS = "meta-rcar-k8s/recipes-core/rcar-k8s-access/files/sudoers"
SSHD_UID = 120
# The image's network: poky's systemd-conf installs wired.network as 80-wired.network (DHCP on
# every Ethernet link) and systemd's networkd is on (poky scarthgap meta/recipes-core/systemd/
# systemd-conf_1.0.bb, systemd_255.*.bb PACKAGECONFIG "networkd"). Debian's systemd ships networkd
# disabled and no .network file, so the stand-in gets poky's file (from the poky mirror at the
# commit the kas lock pins, else its [Match]/[Network] lines) - without it the guest never answers
# QEMU's user-net DHCP and a forwarded port leads nowhere.
POKY_WIRED = "meta/recipes-core/systemd/systemd-conf/wired.network"
WIRED_FALLBACK = "[Match]\nType=ether\nName=!veth*\n\n[Network]\nDHCP=yes\n"


def wired_network() -> tuple[bytes, str]:
    """poky's wired.network and where it came from."""
    root = paths.repo_root()
    lock = root / "kas/qemuarm64-k8s.lock.yml"
    m = re.search(r"poky:\s*\n\s*commit:\s*([0-9a-f]{40})", lock.read_text()) if lock.is_file() else None
    git_dir = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror")) / "yoctoproject+poky/repo"
    if m and git_dir.is_dir():
        proc = subprocess.run(
            ["git", f"--git-dir={git_dir}", "show", f"{m.group(1)}:{POKY_WIRED}"], capture_output=True
        )
        if proc.returncode == 0:
            return proc.stdout, f"poky@{m.group(1)[:12]} {POKY_WIRED}"
    return WIRED_FALLBACK.encode(), f"the [Match]/[Network] lines of poky's {POKY_WIRED} (no poky mirror)"


def add_sshd(st: standin.Standin, rootfs: Path, work: Path) -> list[str]:
    """Install sshd + sudo into ``rootfs`` (an ext4 image); returns the paths written."""
    tree = debs.unpack(st.dir.parent / "debs", DEBS, work / "sshd-debs")
    script = ext4.Script()
    added: list[str] = []

    def put(src: Path, path: str, mode: int) -> None:
        script.put(src, path, mode)
        added.append(path)

    for f in sorted(tree.rglob("*")):
        rel = debs.merged_usr("/" + str(f.relative_to(tree)))
        if rel.startswith(SKIP):
            continue
        if f.is_dir():
            script.parents(rel + "/x")  # empty ones too (/etc/ssh/sshd_config.d, which sshd_config includes)
            continue
        if ext4.read(rootfs, rel) is not None:
            continue  # a library the stand-in has already
        if f.is_symlink():
            script.symlink(rel, str(f.readlink()))
            added.append(rel)
        else:
            put(f, rel, f.stat().st_mode & 0o7777)  # keeps sudo's setuid bit
    # postinst: sshd_config from the packaged default (ucf), a host key (ssh-keygen -A)
    put(tree / "usr/share/openssh/sshd_config", "/etc/ssh/sshd_config", 0o644)
    hostkey = work / "ssh_host_ed25519_key"
    program.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@qemuarm64", "-f", str(hostkey)],
        fix="install openssh-client (ssh-keygen; scripts/ci-packages.txt)",
    )
    put(hostkey, "/etc/ssh/ssh_host_ed25519_key", 0o600)
    put(Path(f"{hostkey}.pub"), "/etc/ssh/ssh_host_ed25519_key.pub", 0o644)
    # postinst: the privilege separation user (sshd refuses to start without it)
    for i, (path, line) in enumerate(
        (
            ("/etc/passwd", f"sshd:x:{SSHD_UID}:65534::/run/sshd:/usr/sbin/nologin\n"),
            ("/etc/shadow", "sshd:*:20000:0:99999:7:::\n"),
        )  # fmt: skip
    ):
        text = (ext4.read(rootfs, path) or b"").decode() + line
        (work / f"sshd-user-{i}").write_text(text)
        put(work / f"sshd-user-{i}", path, 0o640 if path == "/etc/shadow" else 0o644)
    nsswitch = (ext4.read(rootfs, "/etc/nsswitch.conf") or b"").decode()
    (work / "nsswitch.conf").write_text(with_myhostname(nsswitch))
    put(work / "nsswitch.conf", "/etc/nsswitch.conf", 0o644)
    # the layer's sudoers drop-in, as the rcar-k8s-access recipe installs it
    put(paths.repo_root() / SUDOERS, "/etc/sudoers.d/50-rcar-k8s-admin", 0o440)
    wired, _ = wired_network()
    (work / "80-wired.network").write_bytes(wired)
    put(work / "80-wired.network", "/usr/lib/systemd/network/80-wired.network", 0o644)
    # deb-systemd-helper enable ssh.service: WantedBy=multi-user.target, Alias=sshd.service
    unit = "/usr/lib/systemd/system/ssh.service"
    wants = "/etc/systemd/system/multi-user.target.wants"
    script.symlink(f"{wants}/ssh.service", unit)
    script.symlink("/etc/systemd/system/sshd.service", unit)
    # systemctl enable systemd-networkd: WantedBy=multi-user.target, Also=systemd-networkd.socket
    script.symlink(f"{wants}/systemd-networkd.service", "/usr/lib/systemd/system/systemd-networkd.service")
    script.symlink(
        "/etc/systemd/system/sockets.target.wants/systemd-networkd.socket",
        "/usr/lib/systemd/system/systemd-networkd.socket",
    )
    script.apply(rootfs)
    # every library an added program needs must be there: a missing one is sshd exiting 127 at boot
    for f in sorted(tree.rglob("*")):
        if f.is_file() and not f.is_symlink() and f.read_bytes()[:4] == b"\x7fELF":
            dyn = subprocess.run(["readelf", "-d", str(f)], capture_output=True, text=True).stdout
            for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", dyn):
                if not any(ext4.exists(rootfs, d + lib) for d in LIBDIRS):
                    raise UserError(
                        f"{f.name} needs {lib}, which is not in {rootfs}: add its package to DEBS"
                    )
    for must in ("/usr/sbin/sshd", "/usr/bin/sudo", unit, "/etc/sudoers"):
        if ext4.read(rootfs, must) is None:
            raise UserError(f"{must} did not land in {rootfs}")
    return added


def build_time_key(rootfs: Path, pub: str, work: Path) -> None:
    """``pub`` as admin's authorized_keys, as the access recipe's do_install writes
    RCAR_K8S_ADMIN_SSH_KEYS (0700 .ssh, 0600 file, owned by admin)."""
    from generator.qemu.standin_disk import ADMIN_UID

    (work / "authorized_keys").write_text(pub + "\n")
    ssh = "/home/admin/.ssh"
    script = ext4.Script()
    script.dir(ssh, 0o700, ADMIN_UID, ADMIN_UID)
    script.put(work / "authorized_keys", f"{ssh}/authorized_keys", 0o600, ADMIN_UID, ADMIN_UID)
    script.apply(rootfs)
