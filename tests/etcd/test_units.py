"""The etcd-tmpfs units as the image installs them, checked by the real systemd tools.

The recipe's own do_install puts the units into a scratch root next to systemd's stock targets
(copied from this host's systemd) and the layer's kubelet/containerd units. Then:
* ``systemd-analyze verify --root`` must pass with no warning at all on every unit;
* ``systemctl --root enable`` (what systemd.bbclass does at rootfs time) must hook the mount and the
  restore into kubelet.service.requires/;
* ordering is proven by systemd's own transaction builder: a probe unit ordered After=B and
  Before=A makes ``verify`` report an ordering cycle exactly when systemd orders A before B.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, require_tool
from tests.etcd.etcdlab import RECIPE
from tests.etcd.recipe import install

UNITS = [
    "var-lib-etcd.mount",
    "etcd-restore.service",
    "etcd-snapshot.service",
    "etcd-snapshot.timer",
    "etcd-snapshot-shutdown.service",
    "etcd-members-check.service",
    "etcd-members-check.timer",
]
# SYSTEMD_SERVICE: what systemd.bbclass packages and enables
ENABLED = [
    "var-lib-etcd.mount",
    "etcd-restore.service",
    "etcd-snapshot.timer",
    "etcd-snapshot.service",
    "etcd-snapshot-shutdown.service",
    "etcd-members-check.timer",
    "etcd-members-check.service",
]
UNITDIR = "usr/lib/systemd/system"
FIXTURES = Path(__file__).parent / "fixtures"


def _layer_unit(name: str) -> Path:
    """The layer's generated unit if it exists, else the recorded upstream copy."""
    found = sorted((REPO / "meta-rcar-k8s").glob(f"**/files/{name}"))
    return found[0] if found else FIXTURES / name


def build_root(root: Path, **overrides: str) -> dict[str, str]:
    host_units = Path("/usr/lib/systemd/system")
    (root / UNITDIR).mkdir(parents=True)
    for pattern in ("*.target", "*.slice", "*.socket"):
        for unit in host_units.glob(pattern):
            if unit.is_file() and not unit.is_symlink():
                shutil.copy(unit, root / UNITDIR / unit.name)
    seen = install(RECIPE / "etcd-tmpfs_1.0.bb", root, "etcd-tmpfs", overrides)
    for name in ("kubelet.service", "containerd.service"):
        shutil.copy(_layer_unit(name), root / UNITDIR / name)
    # verify checks that ExecStart binaries exist in the root: /usr/bin/true stands in for them
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    (root / "usr/sbin").mkdir(parents=True, exist_ok=True)
    for exe in ("usr/bin/true", "usr/bin/kubelet", "usr/bin/containerd", "usr/sbin/modprobe"):
        shutil.copy("/usr/bin/true", root / exe)
    (root / "bin").symlink_to("usr/bin")  # usrmerge
    return seen


def verify(root: Path, *units: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *units],
        capture_output=True,
        text=True,
        env={"SYSTEMD_LOG_LEVEL": "notice", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
        timeout=60,
    )


def unit_values(path: Path, key: str) -> list[str]:
    vals: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith(f"{key}="):
            vals.extend(line.split("=", 1)[1].split())
    return vals


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("systemd-analyze")
    r = tmp_path_factory.mktemp("root")
    build_root(r)
    return r


@pytest.mark.parametrize("unit", UNITS)
def test_verify_passes_without_warnings(root: Path, unit: str) -> None:
    res = verify(root, unit)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == "", f"systemd-analyze warned:\n{res.stderr}"


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key is reported."""
    require_tool("systemd-analyze")
    build_root(tmp_path)
    timer = tmp_path / UNITDIR / "etcd-snapshot.timer"
    timer.write_text(timer.read_text().replace("OnUnitActiveSec=", "OnUnitActivSec="))
    assert "Unknown key" in verify(tmp_path, "etcd-snapshot.timer").stderr


def test_installed_units_carry_the_layer_settings(tmp_path: Path) -> None:
    seen = build_root(
        tmp_path,
        ETCD_TMPFS_SIZE="256M",
        ETCD_TMPFS_MODE="0750",
        ETCD_SNAPSHOT_INTERVAL="5min",
        ETCD_SNAPSHOT_KEEP="7",
    )
    assert seen["ETCD_TMPFS_SIZE"] == "256M"
    units = tmp_path / UNITDIR
    assert unit_values(units / "var-lib-etcd.mount", "Options") == ["mode=0750,size=256M,nosuid,nodev,noexec"]
    assert unit_values(units / "etcd-snapshot.timer", "OnUnitActiveSec") == ["5min"]
    assert "ETCD_TMPFS_KEEP=7" in (tmp_path / "etc/default/etcd-tmpfs").read_text().splitlines()
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and "@ETCD_" in p.read_text(errors="replace")]
    assert leftovers == []
    for unit in UNITS:
        res = verify(tmp_path, unit)
        assert res.returncode == 0 and res.stderr.strip() == "", res.stderr


def test_defaults_come_from_the_tuning_module(root: Path) -> None:
    from generator.etcd import tuning

    opts = unit_values(root / UNITDIR / "var-lib-etcd.mount", "Options")[0].split(",")
    assert f"size={tuning.TMPFS_SIZE}" in opts and f"mode={tuning.TMPFS_MODE}" in opts
    assert tuning.size_bytes(tuning.TMPFS_SIZE) >= tuning.tmpfs_min_bytes()


def test_restore_unit_requires_and_orders_the_mount(root: Path) -> None:
    restore = root / UNITDIR / "etcd-restore.service"
    assert "var-lib-etcd.mount" in unit_values(restore, "Requires")
    assert "var-lib-etcd.mount" in unit_values(restore, "After")
    assert "kubelet.service" in unit_values(restore, "Before")
    assert unit_values(restore, "RequiredBy") == ["kubelet.service"]


def test_enable_hooks_into_kubelet(tmp_path: Path) -> None:
    """systemd.bbclass runs `systemctl --root enable` on SYSTEMD_SERVICE at rootfs time: do the same."""
    require_tool("systemctl")
    build_root(tmp_path)
    bb = (RECIPE / "etcd-tmpfs_1.0.bb").read_text()
    for unit in ENABLED:
        assert unit in bb.split("SYSTEMD_SERVICE:${PN}")[1].split('"')[1]
    res = subprocess.run(
        ["systemctl", f"--root={tmp_path}", "enable", *ENABLED], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    etc = tmp_path / "etc/systemd/system"
    assert (etc / "kubelet.service.requires/etcd-restore.service").is_symlink()
    assert (etc / "kubelet.service.requires/var-lib-etcd.mount").is_symlink()
    assert (etc / "local-fs.target.wants/var-lib-etcd.mount").is_symlink()
    assert (etc / "timers.target.wants/etcd-snapshot.timer").is_symlink()
    assert (etc / "timers.target.wants/etcd-members-check.timer").is_symlink()
    assert (etc / "multi-user.target.wants/etcd-snapshot-shutdown.service").is_symlink()


def systemd_bbclass_files(services: list[str]) -> set[str]:
    """The unit files systemd.bbclass adds to FILES for SYSTEMD_SERVICE (poky scarthgap
    meta/classes-recipe/systemd.bbclass, systemd_add_files_and_parse: each entry, *.service ->
    *@.service, *.socket -> *.service and *@.service; a .timer pulls in nothing)."""
    files = set(services)
    for s in services:
        if s.endswith(".service"):
            files.add(s.replace(".service", "@.service"))
        if s.endswith(".socket"):
            files |= {s.replace(".socket", ".service"), s.replace(".socket", "@.service")}
    return files


def test_every_installed_unit_is_packaged(tmp_path: Path) -> None:
    """bitbake.conf's FILES:${PN} does not cover ${systemd_system_unitdir}: a unit that do_install
    puts there but SYSTEMD_SERVICE does not name is "installed but not shipped" (a QA error)."""
    install(RECIPE / "etcd-tmpfs_1.0.bb", tmp_path, "etcd-tmpfs")
    installed = {p.name for p in (tmp_path / UNITDIR).iterdir()}
    bb = (RECIPE / "etcd-tmpfs_1.0.bb").read_text()
    services = bb.split("SYSTEMD_SERVICE:${PN}")[1].split('"')[1].split()
    assert installed == set(UNITS)
    assert installed - systemd_bbclass_files(services) == set()
    # the rule itself: a timer alone would leave its service out
    assert "etcd-members-check.service" not in systemd_bbclass_files(["etcd-members-check.timer"])


def ordered_before(root: Path, first: str, then: str) -> bool:
    """True when systemd's transaction orders ``first`` before ``then`` (directly or transitively)."""
    probe = root / UNITDIR / "zz-order-probe.service"
    probe.write_text(
        "[Unit]\nDefaultDependencies=no\n"
        f"Wants={first} {then}\nAfter={then}\nBefore={first}\n"
        "[Service]\nType=oneshot\nExecStart=/usr/bin/true\n"
    )
    try:
        res = verify(root, probe.name)
    finally:
        probe.unlink()
    return "ordering cycle" in res.stderr


@pytest.mark.parametrize(
    "first,then",
    [
        ("var-lib-etcd.mount", "etcd-restore.service"),
        ("etcd-restore.service", "kubelet.service"),
        ("var-lib-etcd.mount", "kubelet.service"),
        ("etcd-restore.service", "etcd-snapshot.service"),
        ("etcd-restore.service", "etcd-members-check.service"),
        # stop order is the reverse: the final snapshot stops (runs ExecStop) before these stop
        ("kubelet.service", "etcd-snapshot-shutdown.service"),
        ("containerd.service", "etcd-snapshot-shutdown.service"),
        ("var-lib-etcd.mount", "etcd-snapshot-shutdown.service"),
    ],
)
def test_boot_and_shutdown_order(root: Path, first: str, then: str) -> None:
    assert ordered_before(root, first, then)


@pytest.mark.parametrize(
    "first,then",
    [
        ("kubelet.service", "etcd-restore.service"),
        ("etcd-snapshot-shutdown.service", "kubelet.service"),
    ],
)
def test_order_probe_is_not_always_true(root: Path, first: str, then: str) -> None:
    assert not ordered_before(root, first, then)
