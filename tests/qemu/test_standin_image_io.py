"""prepare() writes overlay files into a real ext4 with debugfs and reads every one back.

CI failed on exactly this: rcar-k8s-access installs an empty /home/admin/.ssh/authorized_keys
when no key is given at build time, and the read-back took "empty" for "missing". Fast: a small
ext4 made by mkfs.ext4 -d, no QEMU.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator.errors import UserError
from generator.qemu import standin
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
    assert standin._read_from_image(st.base, "/etc/hostname") == b"standin\n"
    assert standin._read_from_image(st.base, "/etc/empty.conf") == b""
    assert standin._read_from_image(st.base, "/etc/no-such-file") is None


def test_prepare_writes_an_empty_file_in_a_new_directory(tmp_path: Path) -> None:
    st = _base(tmp_path)
    ov = standin.Overlay(
        files={"/home/admin/.ssh/authorized_keys": b"", "/etc/rcar-k8s/x.conf": b"a=1\n"},
        modes={"/home/admin/.ssh/authorized_keys": 0o600},
    )
    out = standin.prepare(st, ov, tmp_path / "out.ext4")
    assert standin._read_from_image(out, "/home/admin/.ssh/authorized_keys") == b""
    assert standin._read_from_image(out, "/etc/rcar-k8s/x.conf") == b"a=1\n"
    stat = subprocess.run(
        ["debugfs", "-R", "stat /home/admin/.ssh/authorized_keys", str(out)], capture_output=True, text=True
    ).stdout
    assert "Mode:  0600" in stat, stat


def test_prepare_refuses_when_a_write_does_not_land(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = _base(tmp_path)
    # debugfs told to write nothing: the read-back must notice
    monkeypatch.setattr(standin, "_debugfs", lambda image, script: None)
    ov = standin.Overlay(files={"/etc/rcar-k8s/x.conf": b"a=1\n"})
    with pytest.raises(UserError, match="did not stick"):
        standin.prepare(st, ov, tmp_path / "out.ext4")
