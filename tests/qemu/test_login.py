"""qemu-test logs in as a user would (generator/qemu/login.py), without a boot: the key reaches the
config partition of a scratch copy the way a user writes it, the QEMU command forwards a port to the
guest's sshd, and a Yocto image is no longer logged into as root on the console. The boot itself
(SSH as admin + sudo -n, a wrong key and root's empty password refused by the real sshd) is proven in
tests/qemu/test_standin_disk.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator import cli
from generator.errors import UserError
from generator.qemu import login, session
from tests.conftest import require_tool

USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2tMXeH4ZQ6nOq4J8wG4k6Fj1nBk0Yq6d3sQZ8vUq1R me@laptop"


def _disk(tmp_path: Path, keys: bytes | None) -> Path:
    """A dos-labelled disk with p1 FAT (as rcar-k8s-node.wks: label config) and p2 left empty."""
    for tool in ("sfdisk", "mkfs.vfat", "mcopy", "mtype"):
        require_tool(tool)
    fat = tmp_path / "p1.vfat"
    subprocess.run(
        ["mkfs.vfat", "-n", "config", "-C", str(fat), str(16 * 1024)], check=True, capture_output=True
    )
    if keys is not None:
        (tmp_path / "authorized_keys").write_bytes(keys)
        subprocess.run(["mcopy", "-i", str(fat), str(tmp_path / "authorized_keys"), "::/"], check=True)
    disk = tmp_path / "node.wic"
    with disk.open("wb") as f:
        f.truncate(64 << 20)
    table = "label: dos\nstart=2048, size=32768, type=c\nstart=36864, size=16384, type=83\n"
    subprocess.run(["sfdisk", "-q", str(disk)], input=table, text=True, check=True)
    subprocess.run(
        ["dd", f"if={fat}", f"of={disk}", "bs=1M", "seek=1", "conv=notrunc", "status=none"], check=True
    )
    return disk


def _keys_on(disk: Path) -> str:
    return subprocess.run(
        ["mtype", "-i", f"{disk}@@{2048 * 512}", "::/authorized_keys"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_key_is_appended_to_the_users_authorized_keys(tmp_path: Path) -> None:
    require_tool("ssh-keygen")
    # as a Windows laptop writes it: CRLF, a comment
    disk = _disk(tmp_path, f"# mine\r\n{USER_KEY}\r\n".encode())
    _, pub = login.keypair(tmp_path)
    login.config_partition_add_key(disk, pub)
    lines = _keys_on(disk).replace("\r", "").splitlines()
    assert lines == ["# mine", USER_KEY, pub]


def test_key_on_an_empty_config_partition_and_no_partition(tmp_path: Path) -> None:
    disk = _disk(tmp_path, None)
    login.config_partition_add_key(disk, "ssh-ed25519 AAAA x")
    assert _keys_on(disk) == "ssh-ed25519 AAAA x\n"
    plain = tmp_path / "rootfs.ext4"
    plain.write_bytes(b"\0" * 4096)
    with pytest.raises(UserError, match="no partition 1"):
        login.config_partition_add_key(plain, "ssh-ed25519 AAAA x")


def test_hostfwd_reaches_the_guests_port_22() -> None:
    cmd = ["qemu-system-aarch64", "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0"]
    assert login.with_hostfwd(cmd, 40022)[2] == "user,id=net0,hostfwd=tcp:127.0.0.1:40022-:22"
    with pytest.raises(UserError, match="-netdev"):
        login.with_hostfwd(["qemu-system-aarch64"], 40022)
    # the command qemu-test really runs: restrict=on (no route out, no_pulls) stays, hostfwd is added
    from generator.qemu.machine import BootSpec, command

    real = command(BootSpec(kernel=Path("/k/Image"), rootfs=Path("/k/rootfs.ext4")))
    fwd = login.with_hostfwd(real, 40022)
    assert fwd[fwd.index("-netdev") + 1] == "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22"
    argv = login.ssh_argv(40022, Path("/k"), "admin", "sudo -n id -u")
    assert argv[-2:] == ["admin@127.0.0.1", "sudo -n id -u"] and "BatchMode=yes" in argv
    # ssh takes the first value of an option: a caller's BatchMode=no must win over the default
    argv = login.ssh_argv(40022, Path("/k"), "root", "id", "-o", "BatchMode=no")
    assert argv.index("BatchMode=no") < argv.index("BatchMode=yes")


class _Booted(Exception):
    pass


def test_a_yocto_image_is_logged_into_over_ssh_as_admin(tmp_path: Path, monkeypatch) -> None:
    """Before: qemu-test logged in as root on the console, which the image does not allow."""
    require_tool("ssh-keygen")
    disk = _disk(tmp_path, f"{USER_KEY}\n".encode())
    before = disk.read_bytes()
    kernel = tmp_path / "Image"
    kernel.write_bytes(b"kernel")
    seen: dict[str, object] = {}

    def fake_run(opts: session.Options) -> dict[str, object]:
        seen["opts"] = opts
        key = getattr(opts, "ssh_key", None)
        if key is not None:
            seen["pub"] = subprocess.run(
                ["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True
            ).stdout
            seen["keys"] = _keys_on(opts.spec.rootfs)
        raise _Booted

    monkeypatch.setattr(session, "run", fake_run)
    with pytest.raises(_Booted):
        cli.main(["qemu-test", "--kernel", str(kernel), "--rootfs", str(disk)])
    opts = seen["opts"]
    assert getattr(opts, "ssh_key", None) is not None, "qemu-test would log in as root on the console"
    assert opts.spec.rootfs != disk and disk.read_bytes() == before  # the user's image is untouched
    ours = str(seen["pub"]).split()[:2]
    assert [ln.split()[:2] for ln in str(seen["keys"]).splitlines()] == [USER_KEY.split()[:2], ours]
    assert not opts.ssh_key.exists()  # the throwaway key is gone after the run


def test_a_failed_scratch_copy_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    """cp of the image fails (a full /tmp): one line naming what failed, cp's reason and the way out,
    exit 2, no scratch directory left (before: CalledProcessError, the partial copy kept)."""
    disk, kernel = tmp_path / "image.wic", tmp_path / "Image"
    disk.write_bytes(b"\0" * 4096)
    kernel.write_bytes(b"kernel")
    bindir, tmp = tmp_path / "bin", tmp_path / "tmp"
    bindir.mkdir()
    tmp.mkdir()
    (bindir / "cp").write_text(
        '#!/bin/sh\nfor a; do last=$a; done\n: > "$last"\n'  # a partial copy, then the failure
        "echo \"cp: error writing '$last': No space left on device\" >&2\nexit 1\n"
    )
    (bindir / "cp").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR

    def no_boot(opts: session.Options) -> dict[str, object]:
        raise AssertionError("booted after a failed copy")

    monkeypatch.setattr(session, "run", no_boot)
    assert cli.main(["qemu-test", "--kernel", str(kernel), "--rootfs", str(disk)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        err.startswith(f"rcar-k8s: error: copying {disk} to {tmp}/qemu-test-key.") and "Traceback" not in err
    )
    assert "(cp: error writing " in err and "No space left on device): free space in " in err
    assert err.endswith("or pass --ssh-key with a key built into the image")
    assert list(tmp.iterdir()) == []


def test_stand_in_resolves_its_hostname_like_poky() -> None:
    """poky's systemd postinst puts myhostname after files (systemd_255.21.bb pkg_postinst): the
    generated hostname resolves and sudo does not warn into every command qemu-test runs."""
    from generator.qemu.standin_sshd import DEBS, with_myhostname

    debian = "# /etc/nsswitch.conf\npasswd:         files\nhosts:          files dns\nnetworks:       files\n"
    assert "hosts:          files myhostname dns\n" in with_myhostname(debian)
    assert with_myhostname(with_myhostname(debian)) == with_myhostname(debian)
    assert "libnss-myhostname" in DEBS


def test_ssh_guest_shows_checks_the_qemu_command() -> None:
    """no_pulls reads restrict=on from the console's QEMU command; over SSH it must see the same."""

    class _Con:
        cmd = ["qemu-system-aarch64", "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:1-:22"]

    guest = login.SshGuest(_Con(), 1, Path("/k"))  # type: ignore[arg-type]
    assert "restrict=on" in " ".join(getattr(guest, "cmd", []))
