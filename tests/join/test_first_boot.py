"""First-boot join/init scripts of the k8s-join recipe, run for real with bash.

kubeadm is not packaged for Debian 12 (see shared/tools/qemu-standin.md), so a recording
stand-in executable plays kubeadm; everything the scripts do themselves (finding and validating
the join file, rendering the JoinConfiguration, TCP probes with backoff against a real local
listener, scrubbing the token, status files) runs unmodified.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

FILES = REPO / "meta-rcar-k8s" / "recipes-kubernetes" / "k8s-join" / "files"
TOKEN = "abcdef.0123456789abcdef"
HASH = "sha256:" + "0f" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeApiServer:
    """A TCP listener on 127.0.0.1 standing in for the API server's port (the script only connects)."""

    def __init__(self, port: int, delay: float = 0.0) -> None:
        self.port, self.delay = port, delay
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        time.sleep(self.delay)
        with socket.socket() as srv:
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("127.0.0.1", self.port))
            srv.listen()
            srv.settimeout(0.2)
            while not self._stop.is_set():
                try:
                    conn, _ = srv.accept()
                except TimeoutError:
                    continue
                self.connections += 1
                conn.close()

    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture
def node(tmp_path: Path) -> dict[str, Path]:
    dirs = {k: tmp_path / k for k in ("boot", "state", "run", "bin", "kube")}
    for d in dirs.values():
        d.mkdir()
    (dirs["boot"] / "rcar-k8s").mkdir()
    kubeadm = dirs["bin"] / "kubeadm"
    kubeadm.write_text(
        "#!/bin/bash\n"
        'echo "$@" >> "$KUBEADM_LOG"\n'
        'cfg=""; while [ $# -gt 0 ]; do [ "$1" = --config ] && cfg=$2; shift; done\n'
        '[ -n "$cfg" ] && cp "$cfg" "$KUBEADM_LOG.config"\n'
        'exit "${KUBEADM_RC:-0}"\n'
    )
    kubeadm.chmod(0o755)
    systemctl = dirs["bin"] / "systemctl"  # records what k8s-init asks of systemd
    systemctl.write_text('#!/bin/bash\necho "$@" >> "$KUBEADM_LOG.systemctl"\n')
    systemctl.chmod(0o755)
    return dirs


def run(script: str, node: dict[str, Path], **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(
        os.environ,
        JOIN_DIRS=f"{node['boot']}/rcar-k8s {node['boot']}",
        STATE_DIR=str(node["state"]),
        RUN_DIR=str(node["run"]),
        KUBEADM=str(node["bin"] / "kubeadm"),
        KUBEADM_LOG=str(node["state"] / "kubeadm.log"),
        BACKOFF_START="0.1",
        BACKOFF_MAX="0.4",
        KUBE_DIR=str(node["kube"]),
        MANIFESTS=str(node["kube"] / "manifests"),
        SYSTEMCTL=str(node["bin"] / "systemctl"),
        CRI_SOCKET="unix:///run/cri-dockerd.sock",
    )
    full.update(env)
    return subprocess.run(["bash", str(FILES / script)], env=full, capture_output=True, text=True, timeout=60)


def status(node: dict[str, Path], name: str = "join") -> dict[str, str]:
    return json.loads((node["state"] / f"{name}.status").read_text())


def write_env(node: dict[str, Path], port: int, **extra: str) -> Path:
    values = {"K8S_API_ENDPOINT": f"127.0.0.1:{port}", "K8S_TOKEN": TOKEN, "K8S_CA_CERT_HASH": HASH, **extra}
    path = node["boot"] / "rcar-k8s" / "join.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def test_no_join_file_waits_for_manual_join(node) -> None:
    res = run("k8s-join", node)
    assert res.returncode == 0
    assert status(node)["state"] == "waiting"
    assert not (node["state"] / "kubeadm.log").exists()


def test_env_join_renders_config_runs_kubeadm_and_scrubs_token(node) -> None:
    port = free_port()
    src = write_env(node, port, K8S_NODE_LABELS="rcar.example/board=h3ulcb,zone=lab")
    with FakeApiServer(port):
        res = run("k8s-join", node)
    assert res.returncode == 0, res.stderr
    assert status(node)["state"] == "joined"
    log = (node["state"] / "kubeadm.log").read_text()
    assert log.startswith("join --config ")
    cfg = yaml.safe_load((node["state"] / "kubeadm.log.config").read_text())
    assert cfg["kind"] == "JoinConfiguration" and cfg["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    boot = cfg["discovery"]["bootstrapToken"]
    assert boot == {"apiServerEndpoint": f"127.0.0.1:{port}", "token": TOKEN, "caCertHashes": [HASH]}
    # The socket comes from the image's RCAR_K8S_CRI_SOCKET (here: the docker profile's cri-dockerd).
    assert cfg["nodeRegistration"]["criSocket"] == "unix:///run/cri-dockerd.sock"
    assert cfg["nodeRegistration"]["kubeletExtraArgs"] == [
        {"name": "node-labels", "value": "rcar.example/board=h3ulcb,zone=lab"}
    ]
    # The token is gone from every place the script knows: the boot file and the rendered config.
    assert not src.exists()
    assert not any(TOKEN in p.read_text() for p in node["run"].rglob("*") if p.is_file())
    assert not any(TOKEN in p.read_text(errors="ignore") for p in node["boot"].rglob("*") if p.is_file())
    # Second boot: the marker keeps it from joining twice.
    again = run("k8s-join", node)
    assert again.returncode == 0 and (node["state"] / "kubeadm.log").read_text() == log


def test_full_join_configuration_is_used_as_is(node) -> None:
    port = free_port()
    doc = (
        f"apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n"
        f'    apiServerEndpoint: "127.0.0.1:{port}"\n    token: {TOKEN}\n    caCertHashes: ["{HASH}"]\n'
    )
    (node["boot"] / "join.yaml").write_text(doc)
    with FakeApiServer(port):
        res = run("k8s-join", node)
    assert res.returncode == 0, res.stderr
    assert (node["state"] / "kubeadm.log.config").read_text() == doc
    assert not (node["boot"] / "join.yaml").exists()


def test_retries_with_backoff_until_the_api_server_answers(node) -> None:
    port = free_port()
    write_env(node, port)
    start = time.monotonic()
    with FakeApiServer(port, delay=1.5) as api:
        res = run("k8s-join", node)
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - start >= 1.5
    assert res.stderr.count("unreachable; retrying") >= 2
    assert api.connections >= 1
    assert status(node)["state"] == "joined"


def test_unreachable_api_server_gives_up_at_deadline_and_scrubs_rendered_config(node) -> None:
    src = write_env(node, free_port())
    res = run("k8s-join", node, DEADLINE="1")
    assert res.returncode == 1
    st = status(node)
    assert st["state"] == "failed" and "unreachable" in st["message"]
    assert not (node["state"] / "kubeadm.log").exists()
    assert not (node["run"] / "join.yaml").exists()
    assert src.exists()  # the user's file stays so the next boot can retry


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("K8S_TOKEN", "not-a-token", "K8S_TOKEN"),
        ("K8S_CA_CERT_HASH", "md5:abc", "K8S_CA_CERT_HASH"),
        ("K8S_API_ENDPOINT", "no-port", "K8S_API_ENDPOINT"),
        ("K8S_NODE_LABELS", "bad label", "K8S_NODE_LABELS"),
    ],
)
def test_invalid_join_file_gives_a_clear_status(node, field, value, needle) -> None:
    write_env(node, free_port(), **{field: value})
    res = run("k8s-join", node)
    assert res.returncode == 2
    st = status(node)
    assert st["state"] == "invalid" and needle in st["message"]
    assert not (node["state"] / "kubeadm.log").exists()


def test_yaml_that_is_not_a_join_configuration_is_refused(node) -> None:
    (node["boot"] / "join.yaml").write_text("kind: InitConfiguration\n")
    res = run("k8s-join", node)
    assert res.returncode == 2 and status(node)["state"] == "invalid"


def test_kubeadm_failure_is_retried_then_reported(node) -> None:
    port = free_port()
    write_env(node, port)
    with FakeApiServer(port):
        res = run("k8s-join", node, KUBEADM_RC="1", JOIN_ATTEMPTS="2")
    assert res.returncode == 1
    assert (node["state"] / "kubeadm.log").read_text().count("join --config") == 2
    assert status(node)["state"] == "failed"
    assert not (node["run"] / "join.yaml").exists()


def _init_config(node) -> Path:
    cfg = node["kube"] / "init.yaml"
    cfg.write_text(
        'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: ""\n'
    )
    return cfg


def test_init_is_opt_in(node) -> None:
    res = run("k8s-init", node, INIT_CONFIG=str(_init_config(node)))
    assert res.returncode == 0 and status(node, "init")["state"] == "waiting"
    assert not (node["state"] / "kubeadm.log").exists()


def test_init_with_ha_endpoint_renders_kube_vip_and_endpoint(node) -> None:
    (node["boot"] / "rcar-k8s" / "cluster.env").write_text(
        "K8S_INIT=1\nK8S_CONTROL_PLANE_ENDPOINT=192.0.2.100:6443\nK8S_VIP=192.0.2.100\nK8S_VIP_INTERFACE=eth0\n"
    )
    res = run(
        "k8s-init",
        node,
        INIT_CONFIG=str(_init_config(node)),
        KUBE_VIP_TEMPLATE=str(FILES / "kube-vip.yaml.in"),
    )
    assert res.returncode == 0, res.stderr
    assert (node["state"] / "kubeadm.log").read_text().split()[:3] == [
        "init",
        "--config",
        str(node["run"] / "init.yaml"),
    ]
    cfg = yaml.safe_load((node["state"] / "kubeadm.log.config").read_text())
    assert cfg["controlPlaneEndpoint"] == "192.0.2.100:6443"
    pod = yaml.safe_load((node["kube"] / "manifests" / "kube-vip.yaml").read_text())
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["address"] == "192.0.2.100" and env["vip_interface"] == "eth0"
    # After init the VIP pod uses admin.conf again (super-admin.conf only for the bootstrap).
    assert pod["spec"]["volumes"][0]["hostPath"]["path"] == f"{node['kube']}/admin.conf"
    assert status(node, "init")["state"] == "initialized"
    # The first etcd snapshot is taken right after init, not 15 minutes later.
    calls = (node["state"] / "kubeadm.log.systemctl").read_text().splitlines()
    assert calls == ["cat etcd-snapshot.service", "--no-block start etcd-snapshot.service"]


def test_kube_vip_image_comes_from_the_matrix() -> None:
    from generator.images.catalog import addon_ref
    from generator.matrix.model import load_matrix

    pod = (FILES / "kube-vip.yaml.in").read_text()
    assert f"image: {addon_ref(load_matrix(), 'kube-vip')}" in pod


@pytest.mark.parametrize("script", ["k8s-join", "k8s-init"])
def test_shellcheck(script: str) -> None:
    from tests.conftest import require_tool

    res = subprocess.run([require_tool("shellcheck"), str(FILES / script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout


def _verify_root(tmp_path: Path, executable: bool = True) -> Path:
    """A root with the host's systemd units plus ours, so `verify --root` resolves every dependency."""
    import shutil

    root = tmp_path / "root"
    shutil.copytree("/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/libexec/rcar-k8s").mkdir(parents=True)
    for script in ("k8s-join", "k8s-init"):
        target = root / "usr/libexec/rcar-k8s" / script
        target.write_bytes((FILES / script).read_bytes())
        target.chmod(0o755 if executable else 0o644)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in ("k8s-join.service", "k8s-init.service"):
        shutil.copyfile(FILES / unit, root / "etc/systemd/system" / unit)
    return root


def _verify(root: Path) -> subprocess.CompletedProcess[str]:
    from tests.conftest import require_tool

    return subprocess.run(
        [
            require_tool("systemd-analyze"),
            "verify",
            "--man=no",
            "--generators=no",
            f"--root={root}",
            "k8s-join.service",
            "k8s-init.service",
        ],
        capture_output=True,
        text=True,
    )


def test_units_verify(tmp_path: Path) -> None:
    res = _verify(_verify_root(tmp_path))
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr


def test_unit_verify_catches_a_broken_install(tmp_path: Path) -> None:
    res = _verify(_verify_root(tmp_path, executable=False))
    assert res.returncode != 0 and "not executable" in res.stderr


def test_recipe_sets_the_cri_socket_from_the_distro_variable() -> None:
    recipe = (FILES.parent / "k8s-join_1.0.bb").read_text()
    assert "sed -e 's|@CRI_SOCKET@|${RCAR_K8S_CRI_SOCKET}|g' ${S}/k8s-join" in recipe
    assert "CRI_SOCKET=${CRI_SOCKET:-@CRI_SOCKET@}" in (FILES / "k8s-join").read_text()
    distro = (REPO / "meta-rcar-k8s/conf/distro/rcar-k8s.conf").read_text()
    assert "RCAR_K8S_CRI_SOCKET ?=" in distro


CP_JOIN = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: "127.0.0.1:{port}"
    token: "abcdef.0123456789abcdef"
    caCertHashes: ["sha256:{hash}"]
controlPlane:
  certificateKey: "{key}"
nodeRegistration:
  criSocket: unix:///run/containerd/containerd.sock
"""


def _kubeadm_sees_manifests(node) -> None:
    """kubeadm stand-in that records what join's preflight (DirAvailable--etc-kubernetes-manifests) sees."""
    kubeadm = node["bin"] / "kubeadm"
    kubeadm.write_text(
        "#!/bin/bash\n"
        'echo "$@" >> "$KUBEADM_LOG"\n'
        'ls -A "$MANIFESTS" > "$KUBEADM_LOG.manifests" 2>/dev/null || true\n'
        'mkdir -p "$MANIFESTS" && touch "$MANIFESTS/kube-apiserver.yaml"\n'
    )


@pytest.mark.parametrize("role", ["control-plane", "worker"])
def test_joining_control_plane_gets_kube_vip_with_admin_conf(node, role: str) -> None:
    (node["boot"] / "rcar-k8s" / "cluster.env").write_text(
        "# the same file on every control plane; K8S_INIT only on the first\n"
        "K8S_CONTROL_PLANE_ENDPOINT=192.0.2.100:6443\nK8S_VIP=192.0.2.100\nK8S_VIP_INTERFACE=end0\n"
    )
    _kubeadm_sees_manifests(node)
    with FakeApiServer(free_port()) as api:
        if role == "control-plane":
            (node["boot"] / "rcar-k8s" / "join.yaml").write_text(
                CP_JOIN.format(port=api.port, hash="0f" * 32, key="ab" * 32)
            )
        else:
            write_env(node, api.port)
        res = run("k8s-join", node, KUBE_VIP_TEMPLATE=str(FILES / "kube-vip.yaml.in"))
    assert res.returncode == 0, res.stderr
    # kubeadm join ran against an empty manifests dir (its preflight refuses anything else)
    assert (node["state"] / "kubeadm.log.manifests").read_text() == ""
    vip = node["kube"] / "manifests" / "kube-vip.yaml"
    if role == "worker":
        assert not vip.exists()
        assert "worker join: no kube-vip" in status(node)["message"]
        return
    pod = yaml.safe_load(vip.read_text())
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["address"] == "192.0.2.100" and env["vip_interface"] == "end0"
    assert env["vip_leaderelection"] == "true"  # one holder at a time, the others take over
    assert pod["spec"]["volumes"][0]["hostPath"]["path"] == f"{node['kube']}/admin.conf"
    assert status(node)["state"] == "joined" and "kube-vip for 192.0.2.100" in status(node)["message"]
    assert not list((node["kube"] / "manifests").glob(".*"))
