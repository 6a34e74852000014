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
from dataclasses import dataclass, field
from pathlib import Path

from tests.etcd.etcdlab import SCRIPTS, EtcdTools, free_port

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  labels:
    component: etcd
    tier: control-plane
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls={client}
    - --cert-file={pki}/server.crt
    - --client-cert-auth=true
    - --data-dir={data}
    - --initial-advertise-peer-urls={peer}
    - --initial-cluster={cluster}
{state}    - --key-file={pki}/server.key
    - --listen-client-urls={client}
    - --listen-metrics-urls=http://127.0.0.1:{metrics}
    - --listen-peer-urls={peer}
    - --name={name}
    - --peer-client-cert-auth=true
    - --snapshot-count=10000
    - --trusted-ca-file={pki}/ca.crt
    image: registry.k8s.io/etcd:3.6.8-0
    imagePullPolicy: IfNotPresent
    name: etcd
"""


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
class Member:
    tools: EtcdTools
    root: Path
    pki: dict[str, Path]
    name: str
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.data = self.root / "var-lib-etcd"
        self.backup = self.root / "var-lib-etcd-backup"
        self.manifest = self.root / "manifests" / "etcd.yaml"
        self.log = self.root / "etcd.log"
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        mount_tmpfs(self.data)

    @property
    def client_url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def write_manifest(self, cluster: str, existing: bool) -> None:
        self.manifest.write_text(
            MANIFEST.format(
                client=self.client_url,
                peer=self.peer_url,
                name=self.name,
                data=self.data,
                pki=self.pki["ca.crt"].parent,
                metrics=self.metrics_port,
                cluster=cluster,
                state="    - --initial-cluster-state=existing\n" if existing else "",
            )
        )

    def manifest_command(self) -> list[str]:
        """The static pod's command list, as kubelet would run it (first word: the etcd binary)."""
        lines = self.manifest.read_text().splitlines()
        start = lines.index("  - command:") + 1
        cmd = []
        for line in lines[start:]:
            m = re.match(r"^    - (.*)$", line)
            if not m:
                break
            cmd.append(m.group(1).strip("\"'"))
        assert cmd[0] == "etcd", cmd
        return [self.tools.etcd, *cmd[1:]]

    def flag(self, name: str) -> str | None:
        for arg in self.manifest_command():
            if arg.startswith(f"--{name}="):
                return arg.split("=", 1)[1]
        return None

    # -- the process runner (kubelet's part) --------------------------------------------------
    def launch(self) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.manifest_command(), stdout=log, stderr=subprocess.STDOUT, env=env
            )

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: etcd exited {self.proc.returncode}:\n{self.tail()}")
            if self.ctl("endpoint", "health", check=False).returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name}: etcd not healthy in {timeout} s:\n{self.tail()}")

    def start(self) -> None:
        self.launch()
        self.wait_healthy()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def kill(self) -> None:
        """Power cut: SIGKILL, no clean close."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """kubelet stopping the pod at shutdown: SIGTERM."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def lose_ram(self) -> None:
        """The tmpfs after a reboot: unmounted and mounted again, empty."""
        subprocess.run(["umount", str(self.data)], check=True, capture_output=True)
        mount_tmpfs(self.data)

    # -- clients ---------------------------------------------------------------------------------
    def ctl(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        cmd = [
            self.tools.etcdctl,
            f"--endpoints={self.client_url}",
            f"--cacert={self.pki['ca.crt']}",
            f"--cert={self.pki['healthcheck-client.crt']}",
            f"--key={self.pki['healthcheck-client.key']}",
            "--dial-timeout=2s",
            "--command-timeout=5s",
            *args,
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ETCDCTL_API": "3"}
        return subprocess.run(cmd, capture_output=True, text=True, env=env, check=check, timeout=timeout)

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
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ETCD_", "ETCDCTL_"))}
        env.update(self.tools.env())
        env.update(
            {
                "ETCD_TMPFS_DATA_DIR": str(self.data),
                "ETCD_TMPFS_BACKUP_DIR": str(self.backup),
                "ETCD_TMPFS_MANIFEST": str(self.manifest),
                "ETCD_TMPFS_ENDPOINT": self.client_url,
                "ETCD_TMPFS_CACERT": str(self.pki["ca.crt"]),
                "ETCD_TMPFS_CERT": str(self.pki["healthcheck-client.crt"]),
                "ETCD_TMPFS_KEY": str(self.pki["healthcheck-client.key"]),
                "ETCD_TMPFS_LOCK_TIMEOUT": "5",
                "ETCD_TMPFS_PROBE_TIMEOUT": "4s",
                # test pacing (production: 30 s settle, 5 s poll)
                "ETCD_TMPFS_RESTORE_SETTLE": "2",
                "ETCD_TMPFS_POLL_INTERVAL": "1",
                "ETCD_TMPFS_REJOIN_TIMEOUT": "90",
            }
        )
        env.update(extra)
        return env

    def script(self, name: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPTS / name), *args],
            env=self.script_env(**extra),
            capture_output=True,
            text=True,
            timeout=180,
        )

    def spawn_restore(self, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(SCRIPTS / "etcd-restore")],
            env=self.script_env(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def snapshots(self) -> list[Path]:
        return sorted(self.backup.glob("snapshot-*.db")) if self.backup.is_dir() else []


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
