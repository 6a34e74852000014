"""The REAL etcd-snapshot / etcd-restore scripts against a REAL etcd (3.4 Debian and 3.5 upstream).

etcd runs on 127.0.0.1 with throwaway TLS, exactly with the flags of the kubeadm manifest the
scripts read; a "reboot" is etcd stopped and its data dir emptied (what the tmpfs does).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.etcd.etcdlab import SCRIPTS, Etcd

pytestmark = pytest.mark.slow


def info(snap: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in Path(f"{snap}.info").read_text().splitlines())


def snapshot(etcd: Etcd, *args: str, **env: str) -> None:
    res = etcd.run_script("etcd-snapshot", *args, **env)
    assert res.returncode == 0, res.stderr


def reboot_and_restore(etcd: Etcd, **env: str) -> subprocess.CompletedProcess[str]:
    etcd.stop()
    etcd.wipe()
    return etcd.run_script("etcd-restore", **env)


def test_shellcheck_clean() -> None:
    shellcheck = require_tool("shellcheck")
    scripts = [SCRIPTS / n for n in ("etcd-snapshot", "etcd-restore", "etcd-tmpfs-common.sh")]
    res = subprocess.run(
        [shellcheck, "-x", "--severity=style", *map(str, scripts)],
        capture_output=True,
        text=True,
        cwd=SCRIPTS,
    )
    assert res.returncode == 0, res.stdout


def test_snapshot_wipe_restore_reads_keys_back(etcd: Etcd) -> None:
    etcd.start()
    keys = {f"/registry/configmaps/default/cm{i}": f"value-{i}" for i in range(20)}
    for k, v in keys.items():
        etcd.put(k, v)
    snapshot(etcd)
    [snap] = etcd.snapshots()
    meta = info(snap)
    assert meta["kind"] == "online" and meta["members"] == "1"
    assert meta["size"] == str(snap.stat().st_size)
    assert oct(etcd.backup.stat().st_mode & 0o777) == "0o700"

    res = reboot_and_restore(etcd)
    assert res.returncode == 0, res.stderr
    assert (etcd.data / "member" / "wal").is_dir()
    assert not list(etcd.data.glob(".etcd-tmpfs-restore.*"))
    etcd.start()
    assert {k: etcd.get(k) for k in keys} == keys
    # the member is the one kubeadm's manifest describes (name, peer URL)
    members = etcd.ctl("member", "list").stdout
    assert f", {etcd.name}, {etcd.peer_url}," in members
    etcd.put("/after-restore", "writable")
    assert etcd.get("/after-restore") == "writable"


def test_no_snapshot_is_a_clean_start(etcd: Etcd) -> None:
    res = etcd.run_script("etcd-restore")
    assert res.returncode == 0, res.stderr
    assert "starts fresh" in res.stderr
    assert list(etcd.data.iterdir()) == []
    etcd.start()
    assert etcd.get("/anything") is None


def test_no_manifest_means_nothing_to_do(etcd: Etcd) -> None:
    etcd.start()
    etcd.put("/k", "v")
    snapshot(etcd)
    etcd.stop()
    etcd.wipe()
    etcd.manifest.unlink()
    res = etcd.run_script("etcd-restore")
    assert res.returncode == 0 and "nothing to restore" in res.stderr
    assert list(etcd.data.iterdir()) == []
    assert etcd.run_script("etcd-snapshot").returncode == 0  # and the timer is a no-op too
    assert len(etcd.snapshots()) == 1


def test_non_empty_data_dir_is_never_overwritten(etcd: Etcd) -> None:
    etcd.start()
    etcd.put("/k", "old")
    snapshot(etcd)
    etcd.put("/k", "new")
    etcd.stop()  # no wipe: the data dir still holds newer data than the snapshot
    res = etcd.run_script("etcd-restore")
    assert res.returncode == 0 and "not empty" in res.stderr
    etcd.start()
    assert etcd.get("/k") == "new"


def _corrupt(snap: Path, how: str) -> None:
    data = bytearray(snap.read_bytes())
    if how == "flipped-bytes":
        mid = len(data) // 2
        data[mid : mid + 64] = bytes(b ^ 0xFF for b in data[mid : mid + 64])
        snap.write_bytes(bytes(data))
    elif how == "truncated":
        snap.write_bytes(bytes(data[: len(data) // 3]))
    elif how == "truncated-sha-rewritten":
        # an attacker-proof .info is not the point: this proves `snapshot status`/restore reject it too
        import hashlib

        cut = bytes(data[: len(data) // 3])
        snap.write_bytes(cut)
        meta = Path(f"{snap}.info")
        lines = [
            f"sha256={hashlib.sha256(cut).hexdigest()}" if ln.startswith("sha256=") else ln
            for ln in meta.read_text().splitlines()
        ]
        meta.write_text("\n".join(lines) + "\n")
    elif how == "info-missing":
        Path(f"{snap}.info").unlink()


@pytest.mark.parametrize("how", ["flipped-bytes", "truncated", "truncated-sha-rewritten", "info-missing"])
def test_corrupt_newest_snapshot_is_rejected_and_previous_used(etcd: Etcd, how: str) -> None:
    etcd.start()
    etcd.put("/k", "good")
    snapshot(etcd)
    etcd.put("/k", "newer")
    snapshot(etcd)
    older, newest = etcd.snapshots()
    _corrupt(newest, how)
    res = reboot_and_restore(etcd)
    assert res.returncode == 0, res.stderr
    assert f"rejecting {newest}" in res.stderr or f"restore of {newest} failed" in res.stderr
    assert f"restoring {older}" in res.stderr
    etcd.start()
    assert etcd.get("/k") == "good"


def test_all_snapshots_corrupt_refuses_a_fresh_start(etcd: Etcd) -> None:
    etcd.start()
    etcd.put("/k", "v")
    snapshot(etcd)
    [snap] = etcd.snapshots()
    _corrupt(snap, "truncated")
    res = reboot_and_restore(etcd)
    assert res.returncode == 1
    assert "refusing a fresh start" in res.stderr
    assert list(etcd.data.iterdir()) == []


def test_snapshot_of_another_cluster_is_not_restored(etcd: Etcd) -> None:
    etcd.start()
    etcd.put("/k", "v")
    snapshot(etcd)
    [snap] = etcd.snapshots()
    meta = Path(f"{snap}.info")
    meta.write_text(meta.read_text().replace(f"ca_sha256={info(snap)['ca_sha256']}", "ca_sha256=" + "0" * 64))
    res = reboot_and_restore(etcd)
    assert res.returncode == 0 and "another cluster" in res.stderr
    assert list(etcd.data.iterdir()) == []


def test_multi_member_snapshot_is_refused(etcd: Etcd) -> None:
    etcd.start()
    etcd.put("/k", "v")
    snapshot(etcd)
    [snap] = etcd.snapshots()
    meta = Path(f"{snap}.info")
    meta.write_text(meta.read_text().replace("members=1", "members=3"))
    res = reboot_and_restore(etcd)
    assert res.returncode == 1 and "3-member cluster" in res.stderr
    assert list(etcd.data.iterdir()) == []


def test_keep_prunes_only_after_a_new_snapshot(etcd: Etcd) -> None:
    etcd.start()
    for i in range(4):
        etcd.put("/k", str(i))
        snapshot(etcd, ETCD_TMPFS_KEEP="2")
    names = [p.name for p in etcd.snapshots()]
    assert names == ["snapshot-0000000003.db", "snapshot-0000000004.db"]
    assert sorted(p.name for p in etcd.backup.glob("*.info")) == [n + ".info" for n in names]
    assert not list(etcd.backup.glob(".tmp-*"))


def test_unreachable_etcd_fails_without_touching_snapshots(etcd: Etcd) -> None:
    etcd.start()
    etcd.put("/k", "v")
    snapshot(etcd)
    before = {p: p.read_bytes() for p in etcd.backup.glob("snapshot-*")}
    etcd.stop()
    res = etcd.run_script("etcd-snapshot")  # timer mode: no offline copy
    assert res.returncode == 1
    assert {p: p.read_bytes() for p in etcd.backup.glob("snapshot-*")} == before
    assert not list(etcd.backup.glob(".tmp-*"))


def test_shutdown_snapshot_after_etcd_stopped_copies_the_closed_db(etcd: Etcd) -> None:
    etcd.start()
    etcd.put("/k", "online")
    snapshot(etcd)
    etcd.put("/k", "written-just-before-shutdown")
    etcd.stop()  # at shutdown etcd's container may be stopped first: SIGTERM, clean close
    res = etcd.run_script("etcd-snapshot", "--shutdown")
    assert res.returncode == 0, res.stderr
    newest = etcd.snapshots()[-1]
    assert info(newest)["kind"] == "offline" and info(newest)["members"] == "1"
    etcd.wipe()
    res = etcd.run_script("etcd-restore")
    assert res.returncode == 0, res.stderr
    etcd.start()
    assert etcd.get("/k") == "written-just-before-shutdown"


def test_shutdown_snapshot_live_path(etcd: Etcd) -> None:
    etcd.start()
    etcd.put("/k", "v")
    snapshot(etcd, "--shutdown")
    assert info(etcd.snapshots()[-1])["kind"] == "online"


def test_shutdown_never_copies_a_db_etcd_still_holds(etcd: Etcd) -> None:
    """etcd running but unreachable (wrong endpoint): bbolt's flock keeps the copy from happening."""
    etcd.start()
    etcd.put("/k", "v")
    res = etcd.run_script(
        "etcd-snapshot", "--shutdown", ETCD_TMPFS_ENDPOINT="https://127.0.0.1:1", ETCD_TMPFS_LOCK_TIMEOUT="2"
    )
    assert res.returncode == 1
    assert "still holds" in res.stderr
    assert etcd.snapshots() == []


def _mount_tmpfs(path: Path, size: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:  # e.g. a container without CAP_SYS_ADMIN
        pytest.skip(f"skipped: cannot mount a size-limited tmpfs here: {res.stderr.strip()}")


@pytest.fixture
def small_disk(etcd: Etcd):
    """The backup dir on a size-limited tmpfs (a real ENOSPC), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("skipped: mounting a size-limited tmpfs needs root")
    mounted: list[Path] = []

    def mount(size: int) -> None:
        _mount_tmpfs(etcd.backup, size)
        mounted.append(etcd.backup)

    yield mount
    for p in mounted:
        subprocess.run(["umount", str(p)], check=False)


def _load(etcd: Etcd, prefix: str, kib: int) -> None:
    blob = "x" * 1024
    for i in range(kib):
        etcd.put(f"/{prefix}/{i}", blob)


def _snapshot_size(etcd: Etcd) -> int:
    probe = etcd.root / "probe.db"
    etcd.ctl("snapshot", "save", str(probe))
    size = probe.stat().st_size
    probe.unlink()
    return size


def _page(n: float) -> int:
    return (int(n) + 4095) // 4096 * 4096


def test_full_backup_disk_keeps_the_last_good_snapshot(etcd: Etcd, small_disk) -> None:
    etcd.start()
    _load(etcd, "a", 100)
    size = _snapshot_size(etcd)
    small_disk(_page(size * 1.5))
    snapshot(etcd)
    [good] = etcd.snapshots()
    good_bytes = good.read_bytes()
    _load(etcd, "b", 200)  # the next snapshot cannot fit beside the first
    res = etcd.run_script("etcd-snapshot")
    assert res.returncode == 1, res.stderr
    assert "kept the newest good snapshot" in res.stderr or "left untouched" in res.stderr
    assert etcd.snapshots() == [good] and good.read_bytes() == good_bytes
    assert not list(etcd.backup.glob(".tmp-*"))
    res = reboot_and_restore(etcd)
    assert res.returncode == 0, res.stderr
    etcd.start()
    assert etcd.get("/a/99") == "x" * 1024 and etcd.get("/b/0") is None


def test_full_backup_disk_drops_older_snapshots_to_make_room(etcd: Etcd, small_disk) -> None:
    etcd.start()
    _load(etcd, "a", 150)
    size = _snapshot_size(etcd)
    small_disk(_page(size * 2.7))
    snapshot(etcd)
    snapshot(etcd)
    first, second = etcd.snapshots()
    _load(etcd, "b", 60)  # ~1.4x: fits only once the older snapshot is gone
    res = etcd.run_script("etcd-snapshot")
    assert res.returncode == 0, res.stderr
    assert "retrying once" in res.stderr
    names = [p.name for p in etcd.snapshots()]
    assert names == [second.name, "snapshot-0000000004.db"] or names == [
        second.name,
        "snapshot-0000000003.db",
    ]
    res = reboot_and_restore(etcd)
    assert res.returncode == 0, res.stderr
    etcd.start()
    assert etcd.get("/b/59") == "x" * 1024


def _backup_state(etcd: Etcd) -> list[tuple[str, int, int]]:
    """Names, sizes and mtimes in the backup dir (and of the dir): any write shows."""
    return [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in [etcd.backup, *etcd.backup.iterdir()]]


def test_members_check_single_member(etcd: Etcd) -> None:
    """--if-members-changed on one control plane: the first run (no snapshot yet) takes one; then,
    membership unchanged, nothing in the backup dir is written; etcd down: nothing, exit 0."""
    etcd.start()
    etcd.put("/registry/a", "1")
    first = etcd.run_script("etcd-snapshot", "--if-members-changed")
    assert first.returncode == 0, first.stderr
    assert "membership changed (no snapshot yet)" in first.stderr
    assert len(etcd.snapshots()) == 1
    state = _backup_state(etcd)
    again = etcd.run_script("etcd-snapshot", "--if-members-changed")
    assert again.returncode == 0 and again.stderr == "", again.stderr
    etcd.stop()
    down = etcd.run_script("etcd-snapshot", "--if-members-changed", ETCD_TMPFS_PROBE_TIMEOUT="2s")
    assert down.returncode == 0 and down.stderr == "", down.stderr
    assert [
        (p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in [etcd.backup, *etcd.backup.iterdir()]
    ] == state


def test_snapshot_rejects_unknown_option(etcd: Etcd) -> None:
    res = etcd.run_script("etcd-snapshot", "--if-member-changed")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "etcd-snapshot: error: unknown option '--if-member-changed' "
        "(usage: etcd-snapshot [--shutdown | --if-members-changed])"
    ]
    assert etcd.snapshots() == []
