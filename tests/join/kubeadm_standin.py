"""A stand-in for kubeadm that leaves behind what the real one leaves (kubeadm is not packaged in Debian 12).

The first-boot scripts are only as good as their handling of a *failed* kubeadm run, so this
stand-in reproduces the side effects that decide whether a retry can work on a board:

* ``join``/``init`` run kubeadm's preflight first and refuse, like kubeadm, when an earlier run's
  state is still there: ``/etc/kubernetes/pki/ca.crt`` (check ``FileAvailable--etc-kubernetes-pki-ca.crt``)
  and the kubelet's port (check ``Port-10250``; kubernetes/kubernetes cmd/kubeadm/app/preflight/checks.go
  ``FileAvailableCheck``/``PortOpenCheck``). The port is a real TCP listener: ``$KUBELET_PORT``
  stands for 10250 so tests can run side by side.
* After preflight they write ``pki/ca.crt`` and start the "kubelet": a detached process holding the
  port until ``reset`` stops it (``kubeadm reset`` stops the kubelet service and deletes
  ``/etc/kubernetes/pki`` and the kubeconfig files, cmd/kubeadm/app/cmd/phases/reset/cleanupnode.go).
* The first ``$KUBEADM_FAIL_FIRST`` join/init runs then fail the way a slow board does (the kubelet
  health check or TLS bootstrap times out), leaving that state behind.
* ``init`` prints kubeadm's closing text, bootstrap token and certificate key included, so a test
  can see where the secrets end up.

Every call is appended to ``$KUBEADM_LOG``; the last ``--config`` file is copied to ``$KUBEADM_LOG.config``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

TOKEN = "abcdef.0123456789abcdef"
CA_HASH = "sha256:" + "0f" * 32
CERT_KEY = "9f" * 32
HOLD_PORT = (
    "import socket,sys,time\n"
    "s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
    "while True: time.sleep(3600)\n"
)


def env_path(name: str) -> Path:
    return Path(os.environ[name])


def kube() -> Path:
    return env_path("KUBE_DIR")


def state() -> Path:
    """Where the stand-in keeps its own bookkeeping (attempt counter, kubelet pid)."""
    d = kube() / ".standin"
    d.mkdir(parents=True, exist_ok=True)
    return d


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def preflight(extra: list[tuple[str, bool, str]]) -> None:
    port = int(os.environ["KUBELET_PORT"])
    ca = kube() / "pki" / "ca.crt"
    checks = [
        ("FileAvailable--etc-kubernetes-pki-ca.crt", ca.exists(), f"{ca} already exists"),
        ("Port-10250", port_in_use(port), f"Port 10250 is in use (stand-in port {port})"),
        *extra,
    ]
    errors = [f"\t[ERROR {name}]: {why}" for name, bad, why in checks if bad]
    if errors:
        print("[preflight] Running pre-flight checks", file=sys.stderr)
        print(
            "error execution phase preflight: [preflight] Some fatal errors occurred:\n"
            + "\n".join(errors)
            + "\n[preflight] If you know what you are doing, you can make a check non-fatal with "
            "`--ignore-preflight-errors=...`",
            file=sys.stderr,
        )
        sys.exit(1)


def start_kubelet() -> None:
    port = os.environ["KUBELET_PORT"]
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_PORT, port],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (state() / "kubelet.pid").write_text(str(proc.pid))
    # Wait until it really holds the port, as a running kubelet would.
    for _ in range(200):
        if port_in_use(int(port)):
            return
        import time

        time.sleep(0.01)


def stop_kubelet() -> None:
    pid_file = state() / "kubelet.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
            os.waitpid(int(pid_file.read_text()), 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        pid_file.unlink()


def should_fail() -> bool:
    if os.environ.get("KUBEADM_RC", "0") != "0":
        return True
    counter = state() / "attempts"
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    return n < int(os.environ.get("KUBEADM_FAIL_FIRST", "0"))


def write_pki() -> None:
    (kube() / "pki").mkdir(parents=True, exist_ok=True)
    (kube() / "pki" / "ca.crt").write_text(
        "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n"
    )


def join() -> int:
    preflight([])
    write_pki()
    (kube() / "bootstrap-kubelet.conf").write_text("stand-in bootstrap kubeconfig\n")
    start_kubelet()
    if should_fail():
        print(
            "error execution phase kubelet-start: timed out waiting for the condition\n"
            "To see the stack trace of this error execute with --v=5 or higher",
            file=sys.stderr,
        )
        return 1
    (kube() / "kubelet.conf").write_text("stand-in kubeconfig\n")
    print("This node has joined the cluster:")
    return 0


def init(args: list[str]) -> int:
    apiserver = kube() / "manifests" / "kube-apiserver.yaml"
    preflight(
        [
            (
                "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml",
                apiserver.exists(),
                f"{apiserver} already exists",
            )
        ]
    )
    write_pki()
    apiserver.parent.mkdir(parents=True, exist_ok=True)
    apiserver.write_text("stand-in static pod\n")
    for conf in ("admin.conf", "super-admin.conf", "kubelet.conf"):
        (kube() / conf).write_text(f"stand-in {conf}\n")
    start_kubelet()
    print("[init] Using Kubernetes version: v1.36.4")
    if should_fail():
        print(
            "[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods\n"
            "error execution phase wait-control-plane: could not initialize a Kubernetes cluster",
            file=sys.stderr,
        )
        return 1
    endpoint = os.environ.get("KUBEADM_ENDPOINT", "192.0.2.10:6443")
    print("Your Kubernetes control-plane has initialized successfully!\n")
    print(
        "You can now join any number of control-plane nodes running the following command on each as root:\n"
    )
    print(f"  kubeadm join {endpoint} --token {TOKEN} \\")
    print(f"\t--discovery-token-ca-cert-hash {CA_HASH} \\")
    print(f"\t--control-plane --certificate-key {CERT_KEY}\n")
    if "--upload-certs" in args:
        print("Please note that the certificate-key gives access to cluster sensitive data, keep it secret!")
    print("Then you can join any number of worker nodes by running the following on each as root:\n")
    print(f"kubeadm join {endpoint} --token {TOKEN} \\")
    print(f"\t--discovery-token-ca-cert-hash {CA_HASH}")
    return 0


def reset(args: list[str]) -> int:
    if "-f" not in args and "--force" not in args:
        print("[reset] Are you sure you want to proceed? [y/N]: aborted", file=sys.stderr)
        return 1
    stop_kubelet()
    shutil.rmtree(kube() / "pki", ignore_errors=True)
    shutil.rmtree(kube() / "manifests", ignore_errors=True)
    for conf in ("admin.conf", "super-admin.conf", "kubelet.conf", "bootstrap-kubelet.conf"):
        (kube() / conf).unlink(missing_ok=True)
    print("[reset] Stopping the kubelet service")
    return 0


def main(argv: list[str]) -> int:
    log = env_path("KUBEADM_LOG")
    with log.open("a") as f:
        f.write(" ".join(argv) + "\n")
    if "--config" in argv:
        shutil.copyfile(argv[argv.index("--config") + 1], f"{log}.config")
    cmd = argv[0] if argv else ""
    if cmd == "join":
        return join()
    if cmd == "init":
        return init(argv)
    if cmd == "reset":
        return reset(argv)
    print(f"kubeadm stand-in: unsupported command {argv}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
