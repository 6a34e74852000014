"""The HA recovery contract (docs/etcd.md, "HA control planes") with three REAL etcd members.

Each member runs on 127.0.0.1 with its own ports, its data dir on its own real tmpfs mount and its
snapshots on disk; the layer's own etcd-snapshot/etcd-restore drive it, and a process runner plays
kubelet (etcd started from the static pod manifest, after etcd-restore exited 0). Both etcd
generations the suite has: Debian's 3.4 and upstream 3.5 (etcdutl). Each test prints a
``RECOVERY <scenario> <etcd> <seconds>`` line (run with -s to collect them for docs/etcd.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.etcd.cluster import Member, boot_all, form_cluster, join, unmount
from tests.etcd.etcdlab import SCRIPTS

pytestmark = pytest.mark.slow

NAMES = ["cp-a", "cp-b", "cp-c"]  # cp-a sorts first: the restorer after a site-wide power loss


@pytest.fixture
def cluster(etcd_tools, pki, tmp_path: Path) -> Iterator[list[Member]]:
    if os.geteuid() != 0:
        pytest.skip("skipped: real tmpfs mounts need root (CI runs as root: .ci/run)")
    members: list[Member] = []
    try:
        members = form_cluster(etcd_tools, tmp_path, pki, NAMES)
        yield members
    finally:
        for m in members:
            m.kill()
        for name in NAMES:
            unmount(tmp_path / name / "var-lib-etcd")


def put_keys(m: Member, prefix: str, n: int) -> dict[str, str]:
    keys = {f"/registry/{prefix}/k{i:03d}": f"{prefix}-{i}" for i in range(n)}
    for k, v in keys.items():
        m.ctl("put", k, v)
    return keys


def snapshot_all(members: list[Member], *args: str) -> None:
    for m in members:
        res = m.run_script("etcd-snapshot", *args)
        assert res.returncode == 0, res.stderr


def wait_all_healthy(members: list[Member]) -> None:
    for m in members:
        m.wait_healthy(timeout=90)


def assert_one_cluster_of(members: list[Member], names: list[str]) -> None:
    """Every member reports the same cluster ID and the same started member set."""
    ids = {m.name: m.status()["header"]["cluster_id"] for m in members}
    assert len(set(ids.values())) == 1, ids
    for m in members:
        rows = m.members()
        assert sorted(r[2] for r in rows) == sorted(names), rows
        assert all(r[1] == "started" for r in rows), rows


def wait_local(m: Member, prefix: str, want: dict[str, str], timeout: float = 30) -> dict[str, str]:
    """The member's OWN store (serializable read) once it caught up."""
    deadline = time.monotonic() + timeout
    have: dict[str, str] = {}
    while time.monotonic() < deadline:
        have = m.local_values(prefix)
        if have == want:
            break
        time.sleep(0.3)
    return have


def recovery(scenario: str, m: Member, seconds: float) -> None:
    print(f"RECOVERY {scenario} {m.tools.label} {seconds:.1f}")


@pytest.mark.parametrize("with_snapshot", [True, False], ids=["after-snapshots", "before-first-snapshot"])
def test_one_member_wiped_rejoins_with_every_key(cluster: list[Member], with_snapshot: bool) -> None:
    a, b, c = cluster
    keys = put_keys(a, "cm", 40)
    if with_snapshot:
        snapshot_all(cluster)
    later = put_keys(c, "later", 10)  # after the snapshots: must survive too (the peers hold it)
    old_id = next(r[0] for r in a.members() if r[2] == "cp-b")
    b.kill()
    b.lose_ram()
    t0 = time.monotonic()
    extra = {} if with_snapshot else {"ETCD_TMPFS_PEER_CLIENT_URLS": f"{a.client_url} {c.client_url}"}
    res = b.run_script("etcd-restore", **extra)
    assert res.returncode == 0, res.stderr
    assert f"removing this member's old ID {old_id}" in res.stderr
    assert "rejoined" in res.stderr
    assert b.flag("initial-cluster-state") == "existing"
    assert sorted(b.flag("initial-cluster").split(",")) == sorted(f"{m.name}={m.peer_url}" for m in cluster)
    assert list(b.data.iterdir()) == []  # etcd's way: an empty data dir, filled by the leader
    b.start()
    recovery(f"one-member-rejoin-{'with' if with_snapshot else 'without'}-snapshot", b, time.monotonic() - t0)
    assert wait_local(b, "/registry/cm/", keys) == keys
    assert wait_local(b, "/registry/later/", later) == later
    assert_one_cluster_of(cluster, NAMES)
    assert old_id not in {r[0] for r in a.members()}
    b.ctl("put", "/after", "writable")
    assert a.ctl("get", "/after", "--print-value-only").stdout.strip() == "writable"


def _power_cut(cluster: list[Member]) -> None:
    for m in cluster:
        m.kill()
    for m in cluster:
        m.lose_ram()


def test_site_power_cut_restores_newest_snapshot_once(cluster: list[Member]) -> None:
    a, b, c = cluster
    kept = put_keys(b, "kept", 40)
    snapshot_all(cluster)
    lost = put_keys(b, "lost", 5)  # after the newest snapshot: the bounded loss
    assert lost
    _power_cut(cluster)
    t0 = time.monotonic()
    results = boot_all(cluster)
    for name, res in results.items():
        assert res.returncode == 0, f"{name}: {res.stderr}"
    wait_all_healthy(cluster)
    recovery("site-power-cut", a, time.monotonic() - t0)
    assert "restoring a new cluster here" in results["cp-a"].stderr
    for name in ("cp-b", "cp-c"):
        assert "restoring" not in results[name].stderr and "rejoined" in results[name].stderr
    assert_one_cluster_of(cluster, NAMES)
    for m in cluster:
        assert wait_local(m, "/registry/kept/", kept) == kept
        assert m.local_values("/registry/lost/") == {}


def test_two_nodes_booting_at_the_same_instant_make_one_cluster(cluster: list[Member]) -> None:
    """cp-c stays dead; cp-a and cp-b boot together after the power cut: one cluster, not two."""
    a, b, c = cluster
    kept = put_keys(a, "kept", 20)
    snapshot_all(cluster)
    _power_cut(cluster)
    t0 = time.monotonic()
    results = boot_all([b, a])  # order of spawning does not matter
    assert all(r.returncode == 0 for r in results.values()), {n: r.stderr for n, r in results.items()}
    wait_all_healthy([a, b])
    recovery("two-nodes-same-instant", a, time.monotonic() - t0)
    restorers = [n for n, r in results.items() if "restoring a new cluster here" in r.stderr]
    assert restorers == ["cp-a"]
    assert_one_cluster_of([a, b], ["cp-a", "cp-b"])
    for m in (a, b):
        assert wait_local(m, "/registry/kept/", kept) == kept
    # and the third, booting late, joins that same cluster
    res = c.run_script("etcd-restore")
    assert res.returncode == 0 and "rejoined" in res.stderr, res.stderr
    c.start()
    assert_one_cluster_of(cluster, NAMES)


def test_restorer_gone_waits_and_force_file_elects_one(cluster: list[Member]) -> None:
    """cp-a (the restorer) never comes back: the others wait, never restore on their own; the
    operator's restore-here file on ONE of them makes it the restorer."""
    a, b, c = cluster
    kept = put_keys(b, "kept", 10)
    snapshot_all(cluster)
    _power_cut(cluster)
    waiting = boot_all([b, c], ETCD_TMPFS_REJOIN_TIMEOUT="6")
    for r in waiting.values():
        assert r.returncode == 1 and "waiting for cp-a to restore" in r.stderr, r.stderr
        assert "restoring" not in r.stderr
    assert list(b.data.iterdir()) == [] and list(c.data.iterdir()) == []
    (b.backup / "restore-here").touch()
    results = boot_all([b, c])
    assert all(r.returncode == 0 for r in results.values()), {n: r.stderr for n, r in results.items()}
    assert "restoring a new cluster here" in results["cp-b"].stderr
    assert not (b.backup / "restore-here").exists()
    wait_all_healthy([b, c])
    assert_one_cluster_of([b, c], ["cp-b", "cp-c"])
    assert wait_local(c, "/registry/kept/", kept) == kept


def test_corrupt_newest_snapshot_on_the_restorer_uses_the_previous(cluster: list[Member]) -> None:
    a, b, c = cluster
    first = put_keys(a, "first", 20)
    snapshot_all(cluster)
    put_keys(a, "second", 20)
    snapshot_all(cluster)
    older, newest = a.snapshots()[-2:]
    data = bytearray(newest.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # bit rot on the eMMC
    newest.write_bytes(bytes(data))
    _power_cut(cluster)
    t0 = time.monotonic()
    results = boot_all(cluster)
    assert all(r.returncode == 0 for r in results.values()), {n: r.stderr for n, r in results.items()}
    wait_all_healthy(cluster)
    recovery("corrupt-newest-snapshot", a, time.monotonic() - t0)
    assert f"rejecting {newest}: sha256" in results["cp-a"].stderr
    assert f"restoring {older}" in results["cp-a"].stderr
    assert_one_cluster_of(cluster, NAMES)
    for m in cluster:
        assert wait_local(m, "/registry/first/", first) == first
        assert m.local_values("/registry/second/") == {}


def test_clean_shutdown_of_all_three_loses_nothing(cluster: list[Member]) -> None:
    a, b, c = cluster
    keys = put_keys(c, "cm", 30)
    snapshot_all(cluster)  # the timer's last tick...
    keys |= put_keys(c, "after-timer", 15)  # ...and writes after it, before the shutdown
    # shutdown: etcd-snapshot-shutdown.service stops before kubelet/etcd; the restorer cp-a first
    # (worst order: its snapshot is the one restored). cp-c's etcd is already gone when its unit
    # runs (offline copy of the closed db).
    for m in (a, b):
        res = m.run_script("etcd-snapshot", "--shutdown")
        assert res.returncode == 0, res.stderr
        m.stop()
    c.stop()
    res = c.run_script("etcd-snapshot", "--shutdown")
    assert res.returncode == 0, res.stderr
    for m in cluster:
        m.lose_ram()
    t0 = time.monotonic()
    results = boot_all(cluster)
    assert all(r.returncode == 0 for r in results.values()), {n: r.stderr for n, r in results.items()}
    wait_all_healthy(cluster)
    recovery("clean-shutdown-all", a, time.monotonic() - t0)
    assert_one_cluster_of(cluster, NAMES)
    for m in cluster:
        assert wait_local(m, "/registry/", keys) == keys


def test_peers_from_kubeadm_manifest_without_snapshot(etcd) -> None:
    """No snapshot yet: the peers are kubeadm's --initial-cluster peer URLs with 2380 -> 2379, and a
    member that is not the restorer waits (here: gives up after the timeout), never starts fresh."""
    text = etcd.manifest.read_text()
    mine = f"--initial-cluster={etcd.name}={etcd.peer_url}"
    others = "cp0=https://192.0.2.10:2380,cp2=https://192.0.2.12:2380"  # TEST-NET-1: nobody answers
    etcd.manifest.write_text(text.replace(mine, f"{mine},{others}"))
    res = etcd.run_script(
        "etcd-restore",
        ETCD_TMPFS_REJOIN_TIMEOUT="1",
        ETCD_TMPFS_POLL_INTERVAL="1",
        ETCD_TMPFS_PEER_TIMEOUT="1s",
    )
    assert res.returncode == 1, res.stderr
    assert "cluster members: cp1 cp0 cp2; restorer after a site-wide power loss: cp0" in res.stderr
    assert "no peer of https://192.0.2.10:2379,https://192.0.2.12:2379 has quorum" in res.stderr
    assert "waiting for cp0 to restore" in res.stderr
    assert list(etcd.data.iterdir()) == []


# -- the join window: a membership change reaches every node's newest snapshot within a minute ------

# kubeadm init ran on cp-m, cp-n joined, both snapshotted (a stable two-member cluster, restorer
# cp-m); then cp-a joins. cp-a sorts first: in its own snapshots it is the restorer, while the older
# snapshots of cp-m and cp-n name cp-m until their next timer snapshot (up to one interval).
WINDOW_NAMES = ["cp-m", "cp-n"]
JOINER = "cp-a"


@pytest.fixture
def grown(etcd_tools, pki, tmp_path: Path) -> Iterator[list[Member]]:
    if os.geteuid() != 0:
        pytest.skip("skipped: real tmpfs mounts need root (CI runs as root: .ci/run)")
    members: list[Member] = []
    try:
        members = form_cluster(etcd_tools, tmp_path, pki, WINDOW_NAMES)
        snapshot_all(members)
        members.append(join(etcd_tools, tmp_path, pki, JOINER, members))
        yield members
    finally:
        for m in members:
            m.kill()
        for name in [*WINDOW_NAMES, JOINER]:
            unmount(tmp_path / name / "var-lib-etcd")


def members_check(m: Member) -> subprocess.CompletedProcess[str]:
    """etcd-members-check.service's ExecStart, as the layer ships it, run on member m."""
    unit = (SCRIPTS / "etcd-members-check.service").read_text()
    cmd = re.search(r"^ExecStart=@ETCD_TMPFS_LIBEXECDIR@/(\S+)(.*)$", unit, re.M)
    assert cmd, unit
    return m.run_script(cmd.group(1), *cmd.group(2).split())


def backup_state(m: Member) -> dict[str, tuple[int, int]]:
    """Every entry of the backup dir (and the dir itself) with size and mtime: any write shows."""
    entries = [m.backup, *sorted(m.backup.iterdir())]
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in entries}


def cluster_ids(members: list[Member]) -> dict[str, str]:
    return {m.name: m.status()["header"]["cluster_id"] for m in members}


def _boot_restorer_first(grown: list[Member]) -> dict[str, subprocess.CompletedProcess[str]]:
    """cp-a comes back first (its restore and etcd are up), then cp-m and cp-n together: the order
    in which a joiner's own snapshot, naming it the restorer, would make it restore alone."""
    m, n, a = grown
    results = boot_all([a])
    a.wait_healthy(timeout=90)
    results |= boot_all([m, n])
    return results


def test_membership_check_closes_the_join_window(grown: list[Member]) -> None:
    m, n, a = grown
    keys = put_keys(a, "joined", 30)
    for node in grown:
        assert any(JOINER in row for row in node.members() if row[1] == "started")
    before = {node.name: len(node.snapshots()) for node in grown}
    checks = {node.name: members_check(node) for node in grown}
    for name, res in checks.items():
        assert res.returncode == 0, f"{name}: {res.stderr}"
    # cp-m and cp-n: their newest snapshot lists two members, etcd three -> a snapshot at once
    for node in (m, n):
        assert "membership changed" in checks[node.name].stderr
        assert len(node.snapshots()) == before[node.name] + 1
        info = (node.snapshots()[-1].parent / (node.snapshots()[-1].name + ".info")).read_text()
        assert sorted(re.findall(r"^member=[^,]+, started, ([^,]+),", info, re.M)) == ["cp-a", "cp-m", "cp-n"]
    assert "no snapshot yet" in checks["cp-a"].stderr  # the joiner's first snapshot
    # nothing changed since: the check writes nothing at all (no snapshot, no lock, no mtime)
    state = {node.name: backup_state(node) for node in grown}
    for node in grown:
        res = members_check(node)
        assert res.returncode == 0 and res.stderr == "", res.stderr
        assert backup_state(node) == state[node.name]
    # power cut well inside what was the window (the interval timer has not ticked again)
    _power_cut(grown)
    t0 = time.monotonic()
    results = _boot_restorer_first(grown)
    assert all(r.returncode == 0 for r in results.values()), {k: r.stderr for k, r in results.items()}
    wait_all_healthy(grown)
    recovery("join-window-after-check", a, time.monotonic() - t0)
    restorers = [k for k, r in results.items() if "restoring" in r.stderr]
    assert restorers == ["cp-a"], {k: r.stderr for k, r in results.items()}
    assert len(set(cluster_ids(grown).values())) == 1, cluster_ids(grown)
    assert_one_cluster_of(grown, [*WINDOW_NAMES, JOINER])
    for node in grown:
        assert wait_local(node, "/registry/joined/", keys) == keys


def test_without_the_check_the_join_window_forks(grown: list[Member]) -> None:
    """Control: the same power cut with only the joiner's own timer snapshot taken after the join
    (no membership check) makes two clusters. This proves the scenario above exercises the gap."""
    m, n, a = grown
    put_keys(a, "joined", 5)
    snapshot_all([a])  # the joiner's timer ticked; cp-m's and cp-n's have not yet
    _power_cut(grown)
    results = _boot_restorer_first(grown)
    assert all(r.returncode == 0 for r in results.values()), {k: r.stderr for k, r in results.items()}
    wait_all_healthy(grown)
    restorers = sorted(k for k, r in results.items() if "restoring a new cluster here" in r.stderr)
    assert restorers == ["cp-a", "cp-m"]
    ids = cluster_ids(grown)
    assert ids["cp-a"] != ids["cp-m"] and ids["cp-n"] == ids["cp-m"], ids
