"""k8s-node-config's systemd-time-wait-sync drop-in on the node's disk layout, checked by systemd itself.

The drop-in skips the NTP wait once /var/lib/rcar-k8s/time-synced-once exists, and /var/lib is its own
partition (generator/layer/disk_layout.py DATA). Upstream's unit is DefaultDependencies=no and
WantedBy=sysinit.target (systemd v255.13 units/systemd-time-wait-sync.service.in; poky scarthgap builds
v255.21 of the same v255-stable branch), so only the drop-in can order it after the /var/lib mount.

The root these tests build holds the host's systemd units, the layer's drop-in and grow-data service as
the recipe installs them, and var-lib.mount as the real systemd-fstab-generator makes it from the fstab
lines wic appends for our wks; `systemd-analyze verify` then runs systemd's own transaction code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from generator.layer import disk_layout, node_files
from generator.matrix.model import load_matrix
from tests.conftest import require_tool
from tests.layer.conftest import LAYER

UNITDIR = "usr/lib/systemd/system"
DROPIN = LAYER / "recipes-kubernetes/k8s-node-config/files/time-wait-sync-rcar-k8s.conf"
FSTAB_GENERATOR = Path("/usr/lib/systemd/system-generators/systemd-fstab-generator")
WAIT_SYNC = Path("/usr/lib/systemd/systemd-time-wait-sync")


def _tool(path: Path) -> str:
    """A program of Debian's systemd package (scripts/ci-packages.txt): missing is a setup bug."""
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: run scripts/test.sh (it installs the CI packages, systemd among them)"
        )
    return str(path)


def _root(tmp_path: Path, dropin: str) -> Path:
    root = tmp_path / "root"
    shutil.copytree(f"/{UNITDIR}", root / UNITDIR, symlinks=True)
    for link in ("bin", "sbin", "lib"):  # usrmerge, as the image (and the units' /bin/sh) has it
        (root / link).symlink_to(f"usr/{link}")
    for exe, src in (("/usr/bin/sh", "/bin/sh"), (str(WAIT_SYNC), _tool(WAIT_SYNC))):
        (root / exe.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, root / exe.lstrip("/"))
    files = node_files.node_files(load_matrix().default_row)
    installed = {
        f"/{UNITDIR}/systemd-time-wait-sync.service.d/rcar-k8s.conf": dropin.encode(),
        f"/{UNITDIR}/rcar-k8s-grow-data.service": files[f"/{UNITDIR}/rcar-k8s-grow-data.service"],
        "/usr/libexec/rcar-k8s/grow-data": files["/usr/libexec/rcar-k8s/grow-data"],
    }
    for path, data in installed.items():
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).write_bytes(data)
    (root / "usr/libexec/rcar-k8s/grow-data").chmod(0o755)
    # wic's fstab lines for the wks, turned into units by systemd's own generator
    fstab = root / "etc/fstab"
    fstab.parent.mkdir()
    fstab.write_text("\n".join(disk_layout.fstab_lines()) + "\n")
    gen = root / "etc/systemd/system"
    gen.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [_tool(FSTAB_GENERATOR), str(gen), str(tmp_path / "early"), str(tmp_path / "late")],
        env=dict(os.environ, SYSTEMD_FSTAB=str(fstab), SYSTEMD_PROC_CMDLINE="root=PARTUUID=00000000-02"),
        check=True,
    )
    assert (gen / "var-lib.mount").is_file() and (gen / "local-fs.target.requires/var-lib.mount").is_symlink()
    # enabled as the preset does (80-rcar-k8s.preset): WantedBy=sysinit.target / local-fs.target
    subprocess.run(
        [
            require_tool("systemctl"),
            f"--root={root}",
            "enable",
            "systemd-time-wait-sync.service",
            "rcar-k8s-grow-data.service",
        ],
        check=True,
        capture_output=True,
    )
    return root


def _verify(root: Path, *units: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("systemd-analyze"), "verify", f"--root={root}", "--man=no", "--generators=no", *units],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"),
    )


def test_dropin_names_the_marks_mount() -> None:
    text = DROPIN.read_text()
    mark_dir = node_files.TIME_SYNCED_MARK.rsplit("/", 1)[0]
    assert f"\nRequiresMountsFor={mark_dir}\n" in text
    assert mark_dir.startswith(disk_layout.DATA.mountpoint + "/")
    # the condition and the writer both use the mark the mount guards
    assert text.count(node_files.TIME_SYNCED_MARK) == 2


def test_early_boot_with_the_dropin_verifies_without_a_cycle(tmp_path: Path) -> None:
    root = _root(tmp_path, DROPIN.read_text())
    r = _verify(
        root,
        "systemd-time-wait-sync.service",
        "rcar-k8s-grow-data.service",
        "var-lib.mount",
        "local-fs.target",
        "sysinit.target",
        "time-sync.target",
    )
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_wait_sync_is_ordered_after_and_requires_the_var_lib_mount(tmp_path: Path) -> None:
    """systemd's transaction shows both edges: ordering var-lib.mount after the unit is a cycle (so the
    unit is After= the mount), and a broken var-lib.mount stops the unit's start job (Requires=)."""
    root = _root(tmp_path, DROPIN.read_text())
    probe = root / "etc/systemd/system/var-lib.mount.d/probe.conf"
    probe.parent.mkdir(parents=True)
    probe.write_text("[Unit]\nAfter=systemd-time-wait-sync.service\n")
    r = _verify(root, "systemd-time-wait-sync.service")
    cycle = [
        line for line in r.stderr.splitlines() if "Found ordering cycle" in line or "Found dependency" in line
    ]
    assert r.returncode != 0 and "Transaction order is cyclic" in r.stderr, r.stderr
    # systemd reports the cycle from either end (its hash order): both units are in it
    assert any("var-lib.mount" in line for line in cycle), r.stderr
    assert any("systemd-time-wait-sync.service" in line for line in cycle), r.stderr
    probe.unlink()
    mount = root / "etc/systemd/system/var-lib.mount"
    mount.write_text(mount.read_text().replace("What=/dev/disk/by-label/", "What=\n# was "))
    r = _verify(root, "systemd-time-wait-sync.service")
    assert r.returncode != 0 and "Unit var-lib.mount has a bad unit file setting" in r.stderr, r.stderr


def test_docs_say_the_wait_follows_the_data_mount() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "layer.md").read_text()
    assert "RequiresMountsFor=/var/lib/rcar-k8s" in docs
