"""Somebody can log in: the admin user, its SSH keys (build time or config partition) and sudo.

poky scarthgap's rootfs-postcommands.bbclass zaps an empty root password unless debug-tweaks /
empty-root-password is set, and the image sets neither: without this recipe nobody can log in.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from generator.layer import disk_layout as dl
from tests.conftest import REPO, require_tool

from .conftest import LAYER

ACCESS = LAYER / "recipes-core/rcar-k8s-access"
RECIPE = ACCESS / "rcar-k8s-access_1.0.bb"
KEY1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2tMXeH4ZQ6nOq4J8wG4k6Fj1nBk0Yq6d3sQZ8vUq1R alice@laptop"
KEY2 = 'from="192.0.2.0/24" ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA== ci'


def _var(name: str) -> str:
    text = RECIPE.read_text().replace("\\\n", " ")
    m = re.search(rf"^{re.escape(name)}\s*\??\??=\s*\"(.*?)\"\s*$", text, re.M)
    assert m, name
    return " ".join(m.group(1).split())


def test_node_images_install_the_access_recipe():
    pg = (LAYER / "recipes-core/packagegroups/packagegroup-rcar-k8s-node.bb").read_text()
    assert re.search(r'^RDEPENDS:\$\{PN\} \+= "rcar-k8s-access"$', pg, re.M)
    # the build-time knobs reach BitBake from the environment (kas exports env: entries and adds
    # them to BB_ENV_PASSTHROUGH_ADDITIONS)
    stack = (REPO / "kas/include/stack.yml").read_text()
    assert re.search(r"^  RCAR_K8S_ADMIN_SSH_KEYS:\s*$", stack, re.M)
    assert re.search(r"^  RCAR_K8S_ADMIN_PASSWORD_HASH:\s*$", stack, re.M)


def test_useradd_makes_an_account_without_password_that_is_not_locked(tmp_path: Path):
    """USERADD_PARAM run by the real shadow useradd --root, as poky's useradd.bbclass does."""
    if os.geteuid() != 0:
        pytest.skip(
            "skipped: useradd --root needs root (prepare with: run the tests as root, as .ci/run does)"
        )
    useradd = require_tool("useradd")
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")  # as zap_empty_root_password leaves it
    (root / "etc/gshadow").write_text("root:*::\n")
    param = _var("USERADD_PARAM:${PN}")
    param = param.replace("${RCAR_K8S_ADMIN_HOME}", _var("RCAR_K8S_ADMIN_HOME"))
    param = param.replace("${RCAR_K8S_ADMIN_PASSWORD_HASH}", _var("RCAR_K8S_ADMIN_PASSWORD_HASH"))
    subprocess.run([useradd, "--root", str(root), *shlex.split(param)], check=True, capture_output=True)
    shadow = dict(ln.split(":", 2)[:2] for ln in (root / "etc/shadow").read_text().splitlines())
    passwd = {ln.split(":")[0]: ln.split(":") for ln in (root / "etc/passwd").read_text().splitlines()}
    # "*": no password matches (no password login), but not "!"-locked: OpenSSH without PAM refuses
    # any login, keys included, to a locked account (openssh-portable auth.c allowed_user)
    assert shadow["admin"] == "*"
    assert passwd["admin"][5] == "/home/admin" and passwd["admin"][6] == "/bin/sh"
    assert (root / "home/admin").is_dir()


def test_build_time_keys_become_authorized_keys(tmp_path: Path):
    """The do_install pipeline turns the ';'-separated knob into one key per line."""
    body = RECIPE.read_text().split("do_install() {", 1)[1].split("\n}", 1)[0]
    pipeline = next(ln for ln in body.splitlines() if "RCAR_K8S_ADMIN_SSH_KEYS" in ln).strip().rstrip("\\")
    keys = f" {KEY1} ;{KEY2};  "
    out = tmp_path / "authorized_keys"
    script = pipeline.replace('"${RCAR_K8S_ADMIN_SSH_KEYS}"', shlex.quote(keys)) + f" > {out}"
    subprocess.run(["sh", "-c", script], check=True)
    assert out.read_text().splitlines() == [KEY1, KEY2]


def test_admin_keys_from_the_config_partition(tmp_path: Path):
    """The boot-time script adds the keys a laptop wrote (CRLF, comments, junk), once each."""
    if os.geteuid() != 0:
        pytest.skip("skipped: the script chowns to the admin user (prepare with: run the tests as root)")
    home = tmp_path / "home/admin"
    home.mkdir(parents=True)
    passwd = tmp_path / "passwd"
    passwd.write_text(f"root:x:0:0:root:{home}:/bin/sh\n")  # root stands in for admin on the host
    src = tmp_path / "authorized_keys"
    src.write_bytes(f"# my keys\r\n{KEY1}\r\n\r\nnot a key at all\r\n{KEY2}".encode())
    script = ACCESS / "files/admin-keys"
    env = dict(os.environ, ADMIN_USER="root", PASSWD_FILE=str(passwd))
    for _ in range(2):
        r = subprocess.run(["sh", str(script), str(src)], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    dst = home / ".ssh/authorized_keys"
    assert dst.read_text().splitlines() == [KEY1, KEY2]
    assert dst.stat().st_mode & 0o777 == 0o600 and (home / ".ssh").stat().st_mode & 0o777 == 0o700
    assert "0 key(s) added" in r.stdout and "1 line(s) that are no SSH public key skipped" in r.stdout


def test_admin_keys_unit_reads_the_config_partition():
    unit = (ACCESS / "files/rcar-k8s-admin-keys.service").read_text()
    assert f"ConditionPathExists={dl.CONFIG.mountpoint}/authorized_keys" in unit
    assert "Before=sshd.socket sshd.service" in unit  # poky's openssh is socket-activated
    sudoers = (ACCESS / "files/sudoers").read_text()
    assert "admin ALL=(ALL:ALL) NOPASSWD: ALL" in sudoers.splitlines()
    readme = (ACCESS / "files/README.txt").read_text()
    for name in ("authorized_keys", "join.env", "cluster.env"):
        assert name in readme
