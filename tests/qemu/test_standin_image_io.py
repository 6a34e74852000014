"""generator.qemu.ext4 on a real ext4, and prepare() writing overlay files with it and reading every one back.

CI failed on exactly this: rcar-k8s-access installs an empty /home/admin/.ssh/authorized_keys
when no key is given at build time, and the read-back took "empty" for "missing". Fast: a small
ext4 made by mkfs.ext4 -d, no QEMU.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator.errors import UserError
from generator.qemu import ext4, standin
from tests.conftest import require_tool


def _base(tmp_path: Path) -> standin.Standin:
    for tool in ("mkfs.ext4", "debugfs"):
        require_tool(tool)
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/hostname").write_text("standin\n")
    (tree / "etc/empty.conf").write_bytes(b"")
    st = standin.Standin(dir=tmp_path / "st", info={})
    st.dir.mkdir()
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-d", str(tree), str(st.base), "16M"], check=True, capture_output=True
    )
    return st


def test_read_tells_empty_from_missing(tmp_path: Path) -> None:
    st = _base(tmp_path)
    assert ext4.read(st.base, "/etc/hostname") == b"standin\n"
    assert ext4.read(st.base, "/etc/empty.conf") == b""
    assert ext4.read(st.base, "/etc/no-such-file") is None


def test_prepare_writes_an_empty_file_in_a_new_directory(tmp_path: Path) -> None:
    st = _base(tmp_path)
    ov = standin.Overlay(
        files={"/home/admin/.ssh/authorized_keys": b"", "/etc/rcar-k8s/x.conf": b"a=1\n"},
        modes={"/home/admin/.ssh/authorized_keys": 0o600},
    )
    out = standin.prepare(st, ov, tmp_path / "out.ext4")
    assert ext4.read(out, "/home/admin/.ssh/authorized_keys") == b""
    assert ext4.read(out, "/etc/rcar-k8s/x.conf") == b"a=1\n"
    stat = subprocess.run(
        ["debugfs", "-R", "stat /home/admin/.ssh/authorized_keys", str(out)], capture_output=True, text=True
    ).stdout
    assert "Mode:  0600" in stat, stat


def test_prepare_refuses_when_a_write_does_not_land(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = _base(tmp_path)
    # debugfs told to write nothing: the read-back must notice
    monkeypatch.setattr(ext4, "run", lambda image, script: "")
    ov = standin.Overlay(files={"/etc/rcar-k8s/x.conf": b"a=1\n"})
    with pytest.raises(UserError, match="did not stick"):
        standin.prepare(st, ov, tmp_path / "out.ext4")


def test_script_lays_dirs_files_and_symlinks_with_owner_and_mode(tmp_path: Path) -> None:
    st = _base(tmp_path)
    src = tmp_path / "keys"
    src.write_text("ssh-ed25519 AAAA me\n")
    script = ext4.Script()
    script.dir("/home/admin/.ssh", 0o700, 1000, 1000)
    script.put(src, "/home/admin/.ssh/authorized_keys", 0o600, 1000, 1000)
    script.put(src, "/etc/hostname", 0o644)  # replaces what is there
    script.symlink(
        "/etc/systemd/system/multi-user.target.wants/x.service", "/usr/lib/systemd/system/x.service"
    )
    script.apply(st.base)
    assert ext4.read(st.base, "/etc/hostname") == b"ssh-ed25519 AAAA me\n"
    assert ext4.exists(st.base, "/etc/systemd/system/multi-user.target.wants/x.service")
    assert not ext4.exists(st.base, "/etc/systemd/system/nothing.service")

    def stat(path: str) -> str:
        return subprocess.run(
            ["debugfs", "-R", f"stat {path}", str(st.base)], capture_output=True, text=True
        ).stdout

    assert "Mode:  0700" in stat("/home/admin/.ssh") and "User:  1000" in stat("/home/admin/.ssh")
    keys = stat("/home/admin/.ssh/authorized_keys")
    assert "Mode:  0600" in keys and "User:  1000" in keys and "Group:  1000" in keys, keys
