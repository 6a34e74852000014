"""How qemu-test logs in the way a user would: SSH as ``admin`` with a key, ``sudo -n`` for root.

The image has no root password (poky's rootfs-postcommands zaps it) and the rcar-k8s-access recipe
gives ``admin`` no password either: a user gets in with an SSH key, given at build time
(RCAR_K8S_ADMIN_SSH_KEYS) or written to ``authorized_keys`` on the FAT config partition, where the
recipe's ``rcar-k8s-admin-keys.service`` picks it up at boot (docs/first-boot.md). qemu-test does the
same with a throwaway key pair: it writes the public key to the config partition of a scratch copy
of the image, forwards a host port to the guest's port 22 (QEMU user networking ``hostfwd``) and runs
every guest command as ``ssh admin@127.0.0.1 sudo -n sh -c CMD``. The serial console only shows
boot progress (milestones, diagnostics); nobody logs in on it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from generator.errors import UserError
from generator.qemu.console import Console, GuestTimeout

ADMIN = "admin"
NETDEV = "user,id=net0"
# no host key pinning (a fresh host key every boot), never the user's own keys or agent
SSH_OPTS = (
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "IdentitiesOnly=yes",
    "-o", "IdentityAgent=none",
    "-o", "ConnectTimeout=10",
    "-o", "LogLevel=ERROR",
    "-F", "/dev/null",
)  # fmt: skip


def keypair(work: Path, name: str = "qemu-test-key") -> tuple[Path, str]:
    """A throwaway ed25519 key pair in ``work``: (private key path, public key line)."""
    if shutil.which("ssh-keygen") is None:
        raise UserError(
            "ssh-keygen not found: install the OpenSSH client (Debian: apt-get install openssh-client)"
        )
    key = work / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"rcar-k8s {name}", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return key, (work / f"{name}.pub").read_text().strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_hostfwd(cmd: list[str], port: int) -> list[str]:
    """``cmd`` (machine.command) with host 127.0.0.1:``port`` forwarded to the guest's port 22."""
    # the user-mode NIC, with or without options (restrict=on keeps hostfwd working: QEMU's
    # docs/system/invocation "restrict=on ... hostfwd and guestfwd still work")
    at = [i for i, a in enumerate(cmd) if a == NETDEV or a.startswith(NETDEV + ",")]
    if not at:
        raise UserError(f"the QEMU command has no `-netdev {NETDEV}` to forward SSH through")
    out = list(cmd)
    out[at[0]] = f"{cmd[at[0]]},hostfwd=tcp:127.0.0.1:{port}-:22"
    return out


def ssh_argv(port: int, key: Path, user: str, remote: str, *opts: str) -> list[str]:
    # ssh keeps the FIRST value of an option: the caller's ``opts`` must come before the defaults
    return ["ssh", *opts, *SSH_OPTS, "-o", "BatchMode=yes", "-i", str(key), "-p", str(port),
            f"{user}@127.0.0.1", remote]  # fmt: skip


def config_partition_add_key(image: Path, pub: str, part: int = 1) -> None:
    """Append ``pub`` to authorized_keys on FAT partition ``part`` of the disk image ``image``
    (what a user does on a laptop; mtools reads the partition at its byte offset)."""
    for tool in ("sfdisk", "mcopy", "mtype"):
        if shutil.which(tool) is None:
            raise UserError(
                f"{tool} not found: install fdisk and mtools (Debian: apt-get install fdisk mtools)"
            )
    proc = subprocess.run(["sfdisk", "-d", str(image)], capture_output=True, text=True)
    start = None
    for ln in proc.stdout.splitlines():
        if ln.split(":")[0].strip().endswith(str(part)) and "start=" in ln:
            start = int(ln.split("start=")[1].split(",")[0])
    if proc.returncode != 0 or start is None:
        raise UserError(f"{image} has no partition {part} (the FAT config partition): pass --ssh-key instead")
    img = f"{image}@@{start * 512}"
    old = subprocess.run(["mtype", "-i", img, "::/authorized_keys"], capture_output=True, text=True)
    text = (old.stdout.rstrip("\n") + "\n" if old.returncode == 0 and old.stdout.strip() else "") + pub + "\n"
    with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False) as f:
        f.write(text)
    try:
        put = subprocess.run(
            ["mcopy", "-o", "-i", img, f.name, "::/authorized_keys"], capture_output=True, text=True
        )
    finally:
        os.unlink(f.name)
    if put.returncode != 0:
        raise UserError(
            f"writing authorized_keys to partition {part} of {image} failed: {put.stderr.strip()}"
        )


class SshGuest:
    """Guest commands over SSH as admin, root ones through ``sudo -n``: the ``run()`` of a Console,
    while the console is still read (boot messages, milestones, and so QEMU never blocks on it)."""

    def __init__(self, con: Console, port: int, key: Path, user: str = ADMIN) -> None:
        self.con, self.port, self.key, self.user = con, port, key, user

    @property
    def cmd(self) -> list[str]:
        """The QEMU command line (checks read its network options, e.g. no_pulls' restrict=on)."""
        return self.con.cmd

    @property
    def marks(self) -> dict[str, float]:
        return self.con.marks

    @property
    def kernel_t0(self) -> float | None:
        return self.con.kernel_t0

    def now(self) -> float:
        return self.con.now()

    def guest_time(self, monotonic_us: int) -> float | None:
        return self.con.guest_time(monotonic_us)

    def tail(self, n: int = 50) -> list[str]:
        return self.con.tail(n)

    def ssh(
        self,
        remote: str,
        timeout: float = 60,
        user: str | None = None,
        key: Path | None = None,
        *opts: str,
        env: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of one ssh call; 255 is ssh's own failure."""
        argv = ssh_argv(self.port, key or self.key, user or self.user, remote, *opts)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 env=dict(os.environ, **(env or {})))  # fmt: skip
            end = time.monotonic() + timeout
            while p.poll() is None:
                if time.monotonic() > end:
                    p.kill()
                    p.wait()
                    raise GuestTimeout(f"output of `{remote}` over SSH", timeout)
                self.con.pump(0.2)
            out.seek(0)
            err.seek(0)
            return p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")

    def run(self, shell_cmd: str, timeout: float = 60) -> tuple[int, str]:
        # the command's stderr joins its stdout (as on a console); sudo's own warnings (e.g. "unable
        # to resolve host") stay on ssh's stderr, out of the output the checks parse
        rc, out, err = self.ssh("sudo -n sh -c " + shlex.quote(f"{{ {shell_cmd}\n}} 2>&1"), timeout)
        if rc == 255 and not out:
            raise GuestTimeout(f"SSH to the guest ({err.strip()[-200:]}) for `{shell_cmd}`", timeout)
        if rc == 1 and not out and "sudo:" in err:  # sudo refused (a password needed): say so
            return rc, err.strip()
        return rc, out.strip()

    def wait(self, timeout: float) -> None:
        """Until admin gets in with the key and sudo works without a password."""
        end = time.monotonic() + timeout
        last = ""
        while time.monotonic() < end:
            try:
                rc, out, err = self.ssh("sudo -n id -u", 20)
            except GuestTimeout:  # sshd not up yet: slirp holds the connection open without a banner
                rc, out, err = 255, "", "no SSH banner within 20 s"
            if rc == 0 and out.strip() == "0":
                self.marks["shell"] = self.now()
                return
            last = (err or out).strip()[-200:]
            if rc != 255:  # sshd answered: a refused key or sudo will not get better by waiting
                break
            self.con.pump(2.0)
        raise GuestTimeout(f"SSH login as {self.user} with sudo -n (last: {last or 'no answer'})", timeout)

    def poweroff(self, timeout: float = 120) -> bool:
        """``sudo -n systemctl poweroff`` over SSH; True when QEMU exited by itself."""
        try:
            self.ssh("sudo -n systemctl poweroff", 30)
        except GuestTimeout:
            pass
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                self.con.pump(1.0)
        except EOFError:
            self.marks["qemu_exit"] = self.now()
            return True
        return False


def probe_access(guest: SshGuest, wrong_key: Path, work: Path) -> dict[str, object]:
    """What a user and an attacker see on port 22: admin with the right key (and sudo), admin with
    a key the node does not know, root with an empty password."""
    rc, out, err = guest.ssh("id -un; sudo -n id -u", 60)
    facts: dict[str, object] = {"admin_key": {"rc": rc, "out": out.split(), "err": err.strip()[-300:]}}
    rc, out, err = guest.ssh("id -un", 60, None, wrong_key)
    facts["admin_wrong_key"] = {"rc": rc, "out": out.strip(), "err": err.strip()[-300:]}
    # a password prompt answered with an empty line (SSH_ASKPASS_REQUIRE, OpenSSH >= 8.4)
    askpass = work / "empty-askpass"
    askpass.write_text("#!/bin/sh\necho\n")
    askpass.chmod(0o755)
    argv_opts = ("-o", "BatchMode=no", "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1",
                 "-o", "PreferredAuthentications=password,keyboard-interactive")  # fmt: skip
    rc, out, err = guest.ssh(
        "id -un", 60, "root", guest.key, *argv_opts,
        env={"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"},
    )  # fmt: skip
    facts["root_empty_password"] = {"rc": rc, "out": out.strip(), "err": err.strip()[-300:]}
    return facts
