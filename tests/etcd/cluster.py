"""Three real etcd members on 127.0.0.1, each with its data dir on its own real tmpfs mount.

The kubelet is replaced by a process runner that starts etcd with exactly the ``command:`` of the
member's kubeadm-style static pod manifest, read fresh at every start, so the manifest rewrites
``etcd-restore`` makes (``--initial-cluster``, ``--initial-cluster-state``) are what etcd runs with.
The cluster is built the way ``kubeadm init`` / ``kubeadm join --control-plane`` build it: the first
member alone, every further one ``member add``-ed and started with ``--initial-cluster-state=existing``.
A power cut is SIGKILL plus an unmount/remount of the tmpfs (RAM gone); the backup dir stays on disk.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.etcd.etcdlab import SCRIPTS, Etcd, EtcdTools


def mount_tmpfs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256m,mode=0700", "tmpfs", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )


def unmount(path: Path) -> None:
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@dataclass
class Member(Etcd):
    """A control-plane member: its data dir on its own real tmpfs, its manifest written by
    form_cluster/join the way kubeadm init/join write it, power cuts and lost RAM."""

    def make_data_dir(self) -> None:
        mount_tmpfs(self.data)  # form_cluster/join then write the manifest kubeadm init/join would

    def kill(self) -> None:
        """Power cut: SIGKILL, no clean close."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def lose_ram(self) -> None:
        """The tmpfs after a reboot: unmounted and mounted again, empty."""
        subprocess.run(["umount", str(self.data)], check=True, capture_output=True)
        mount_tmpfs(self.data)

    def status(self) -> dict:
        out = self.ctl("endpoint", "status", "-w", "json").stdout
        return json.loads(out)[0]["Status"]

    def members(self) -> list[list[str]]:
        return [ln.split(", ") for ln in self.ctl("member", "list").stdout.splitlines() if ln.strip()]

    def local_values(self, prefix: str) -> dict[str, str]:
        """Keys under prefix as THIS member's own store has them (serializable read, no leader)."""
        out = self.ctl("get", prefix, "--prefix", "--consistency=s").stdout.splitlines()
        return dict(zip(out[0::2], out[1::2], strict=True))

    def script_env(self, **extra: str) -> dict[str, str]:
        # test pacing (production: 30 s settle, 5 s poll)
        pacing = {
            "ETCD_TMPFS_RESTORE_SETTLE": "2",
            "ETCD_TMPFS_POLL_INTERVAL": "1",
            "ETCD_TMPFS_REJOIN_TIMEOUT": "90",
        }
        return super().script_env(**{**pacing, **extra})

    def spawn_restore(self, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(SCRIPTS / "etcd-restore")],
            env=self.script_env(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def form_cluster(tools: EtcdTools, root: Path, pki: dict[str, Path], names: list[str]) -> list[Member]:
    """kubeadm init on the first, kubeadm join --control-plane on the others (member add, existing)."""
    members: list[Member] = []
    for name in names:
        members.append(join(tools, root, pki, name, members))
    return members


def join(tools: EtcdTools, root: Path, pki: dict[str, Path], name: str, members: list[Member]) -> Member:
    """One more control plane: alone (kubeadm init) when ``members`` is empty, else added through the
    first member and started with --initial-cluster-state=existing (kubeadm join); started."""
    m = Member(tools, root / name, pki, name)
    if not members:
        m.write_manifest(f"{name}={m.peer_url}", existing=False)
    else:
        # kubeadm retries too: a member counts as started only once it published its name
        for _ in range(50):
            res = members[0].ctl("member", "add", name, f"--peer-urls={m.peer_url}", check=False)
            if res.returncode == 0:
                break
            time.sleep(0.3)
        assert res.returncode == 0, res.stderr
        out = res.stdout
        cluster = re.search(r'^ETCD_INITIAL_CLUSTER="(.*)"$', out, re.M)
        assert cluster, out
        m.write_manifest(cluster.group(1), existing=True)
    m.start()
    return m


def boot_all(members: list[Member], **env: str) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every node boots at the same instant: etcd-restore runs on all at once, and the runner starts
    each node's etcd as soon as its etcd-restore exits 0 (kubelet's Requires=/After=)."""
    procs = {m.name: (m, m.spawn_restore(**env)) for m in members}
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    deadline = time.monotonic() + 170
    while len(results) < len(procs):
        if time.monotonic() > deadline:
            for _, p in procs.values():
                p.kill()
            raise AssertionError(f"etcd-restore still running: {sorted(set(procs) - set(results))}")
        for name, (m, p) in procs.items():
            if name in results or p.poll() is None:
                continue
            out, err = p.communicate()
            results[name] = subprocess.CompletedProcess(p.args, p.returncode, out, err)
            if p.returncode == 0:
                m.launch()  # healthy-wait later: a joining member needs the others
        time.sleep(0.1)
    return results
