"""First-boot join/init scripts of the k8s-join recipe, run for real with bash.

kubeadm is not packaged for Debian 12 (see shared/tools/qemu-standin.md), so a stand-in plays
kubeadm (tests/join/kubeadm_standin.py) and leaves behind what the real one leaves: pki/ca.crt and
a "kubelet" really holding a TCP port, which its preflight refuses on the next run. Everything the
scripts do themselves (finding and validating the join file, rendering the JoinConfiguration, TCP
probes with backoff against a real local listener, resets, scrubbing the token, status files)
runs unmodified.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
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


STANDIN = Path(__file__).with_name("kubeadm_standin.py")


@pytest.fixture
def node(tmp_path: Path):
    dirs = {k: tmp_path / k for k in ("boot", "state", "run", "bin", "kube", "root")}
    for d in dirs.values():
        d.mkdir()
    (dirs["boot"] / "rcar-k8s").mkdir()
    kubeadm = dirs["bin"] / "kubeadm"
    kubeadm.write_text(f'#!/bin/bash\nexec {sys.executable} {STANDIN} "$@"\n')
    kubeadm.chmod(0o755)
    systemctl = dirs["bin"] / "systemctl"  # records what k8s-init asks of systemd
    systemctl.write_text('#!/bin/bash\necho "$@" >> "$KUBEADM_LOG.systemctl"\n')
    systemctl.chmod(0o755)
    yield dirs
    pid = dirs["kube"] / ".standin" / "kubelet.pid"  # the stand-in's "kubelet" still holding its port
    if pid.exists():
        try:
            os.kill(int(pid.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass


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
        KUBELET_PORT=str(node.setdefault("kubelet_port", free_port())),  # type: ignore[arg-type]
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


# ---- issue 16: a failed join can be retried (kubeadm's leftovers are reset first) ------------


def _calls(node) -> list[str]:
    return [line.split(" --")[0] for line in (node["state"] / "kubeadm.log").read_text().splitlines()]


def test_standin_refuses_a_join_over_a_failed_one_like_kubeadm(node) -> None:
    """The stand-in is only worth something if a retry without reset fails, as on a board."""
    port = free_port()
    cfg = node["run"] / "join.yaml"
    cfg.write_text("kind: JoinConfiguration\n")
    env = dict(
        os.environ,
        KUBE_DIR=str(node["kube"]),
        KUBELET_PORT=str(node.setdefault("kubelet_port", port)),
        KUBEADM_LOG=str(node["state"] / "kubeadm.log"),
        KUBEADM_FAIL_FIRST="1",
    )
    kubeadm = [str(node["bin"] / "kubeadm"), "join", "--config", str(cfg)]
    first = subprocess.run(kubeadm, env=env, capture_output=True, text=True)
    assert first.returncode == 1 and "timed out" in first.stderr
    second = subprocess.run(kubeadm, env=env, capture_output=True, text=True)
    assert second.returncode == 1
    assert "[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]" in second.stderr
    assert "[ERROR Port-10250]" in second.stderr
    subprocess.run([*kubeadm[:1], "reset", "-f"], env=env, check=True, capture_output=True)
    third = subprocess.run(kubeadm, env=env, capture_output=True, text=True)
    assert third.returncode == 0, third.stderr


def test_failed_join_is_reset_before_the_retry(node) -> None:
    port = free_port()
    src = write_env(node, port)
    with FakeApiServer(port):
        res = run("k8s-join", node, KUBEADM_FAIL_FIRST="1", JOIN_ATTEMPTS="3")
    assert res.returncode == 0, res.stderr
    assert _calls(node) == ["join", "reset -f", "join"]
    assert "--cri-socket unix:///run/cri-dockerd.sock" in (node["state"] / "kubeadm.log").read_text()
    assert status(node)["state"] == "joined" and not src.exists()
    assert not (node["state"] / "join.attempted").exists()


def test_a_join_that_failed_on_the_previous_boot_is_reset_first(node) -> None:
    port = free_port()
    src = write_env(node, port)
    with FakeApiServer(port):
        first = run("k8s-join", node, KUBEADM_FAIL_FIRST="1", JOIN_ATTEMPTS="1")
        assert first.returncode == 1 and status(node)["state"] == "failed"
        assert src.exists()  # the join file stays for the next boot
        second = run("k8s-join", node, KUBEADM_FAIL_FIRST="1")
    assert second.returncode == 0, second.stderr
    assert _calls(node) == ["join", "reset -f", "join"]


def test_rendered_join_config_has_the_slow_board_timeouts_of_join_yaml_in(node) -> None:
    port = free_port()
    write_env(node, port)
    with FakeApiServer(port):
        assert run("k8s-join", node).returncode == 0
    rendered = yaml.safe_load((node["state"] / "kubeadm.log.config").read_text())
    templates = sorted(
        (REPO / "meta-rcar-k8s/recipes-kubernetes/kubeadm-config/files").glob("join-*.yaml.in")
    )
    assert templates
    for template in templates:
        doc = yaml.safe_load(template.read_text())
        assert rendered["apiVersion"] == doc["apiVersion"], template.name
        assert rendered["timeouts"] == doc["timeouts"], template.name
        assert rendered["nodeRegistration"]["imagePullPolicy"] == doc["nodeRegistration"]["imagePullPolicy"]


# ---- issue 16: node labels the kubelet refuses are refused here --------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        "node-role.kubernetes.io/worker=",  # kubelet: unknown 'kubernetes.io' labels
        "kubernetes.io/role=worker",
        "example.k8s.io/tier=edge",
        "rcar.example/board=h3ulcb,node-role.kubernetes.io/edge=true",
        "rcar.example/board=h3 ulcb",
        "Rcar.Example/board=h3ulcb",  # prefix must be a lower-case DNS subdomain
        "board=-h3ulcb",
        "=h3ulcb",
        "board",
        "a" * 64 + "=x",
    ],
)
def test_labels_the_kubelet_refuses_are_invalid(node, labels: str) -> None:
    write_env(node, free_port(), K8S_NODE_LABELS=labels)
    res = run("k8s-join", node)
    assert res.returncode == 2, res.stderr
    st = status(node)
    assert st["state"] == "invalid" and "K8S_NODE_LABELS" in st["message"]


@pytest.mark.parametrize(
    "labels",
    [
        "node.kubernetes.io/role=worker",
        "kubelet.kubernetes.io/pool=edge",
        "rack.node.kubernetes.io/row=a1",
        "topology.kubernetes.io/zone=lab,kubernetes.io/hostname=edge-01",
        "rcar.example/board=h3ulcb,zone=lab,empty=",
        "example.com/Board_Rev=v3.0",
    ],
)
def test_labels_the_kubelet_accepts_are_rendered(node, labels: str) -> None:
    port = free_port()
    write_env(node, port, K8S_NODE_LABELS=labels)
    with FakeApiServer(port):
        res = run("k8s-join", node)
    assert res.returncode == 0, res.stderr
    cfg = yaml.safe_load((node["state"] / "kubeadm.log.config").read_text())
    assert cfg["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-labels", "value": labels}]


# ---- issue 16: join.env as people write it: the docs' example, comments, quotes --------------

# Copied verbatim from docs/first-boot.md (the test below checks it is still there).
DOCS_JOIN_ENV = """\
         # from step 1: kubeadm join <endpoint> --token <token> --discovery-token-ca-cert-hash <hash>
         K8S_API_ENDPOINT=192.0.2.10:6443
         K8S_TOKEN=abcdef.0123456789abcdef
         K8S_CA_CERT_HASH=sha256:6f3c1a7e0f9d4b2c8a5e7d1f3b9c0a2e4d6f8b1c3e5a7d9f0b2c4e6a8d0f1b3c
         K8S_NODE_LABELS=rcar.example/board=h3ulcb,node.kubernetes.io/rack=r1  # optional, k=v[,k=v]
         K8S_NODE_NAME=edge-01                        # optional, default: the hostname
"""


def test_the_docs_join_env_example_parses(node) -> None:
    assert DOCS_JOIN_ENV in (REPO / "docs/first-boot.md").read_text()
    port = free_port()
    text = DOCS_JOIN_ENV.replace("192.0.2.10:6443", f"127.0.0.1:{port}")  # a listener the test owns
    (node["boot"] / "rcar-k8s" / "join.env").write_text(text)
    with FakeApiServer(port):
        res = run("k8s-join", node)
    assert res.returncode == 0, res.stderr
    cfg = yaml.safe_load((node["state"] / "kubeadm.log.config").read_text())
    assert cfg["nodeRegistration"]["name"] == "edge-01"
    assert cfg["discovery"]["bootstrapToken"]["token"] == "abcdef.0123456789abcdef"
    assert cfg["discovery"]["bootstrapToken"]["caCertHashes"] == [
        "sha256:6f3c1a7e0f9d4b2c8a5e7d1f3b9c0a2e4d6f8b1c3e5a7d9f0b2c4e6a8d0f1b3c"
    ]
    assert cfg["nodeRegistration"]["kubeletExtraArgs"] == [
        {"name": "node-labels", "value": "rcar.example/board=h3ulcb,node.kubernetes.io/rack=r1"}
    ]


def test_the_shipped_join_env_example_with_values_filled_in_parses(node) -> None:
    port = free_port()
    example = (FILES / "join.env.example").read_text()
    filled = (
        example.replace("K8S_API_ENDPOINT=", f"K8S_API_ENDPOINT=127.0.0.1:{port}")
        .replace("K8S_TOKEN=", f'K8S_TOKEN="{TOKEN}"   # quoted, with a comment')
        .replace("K8S_CA_CERT_HASH=", f"K8S_CA_CERT_HASH={HASH}\r")  # edited on Windows
    )
    (node["boot"] / "rcar-k8s" / "join.env").write_text(filled)
    with FakeApiServer(port):
        res = run("k8s-join", node)
    assert res.returncode == 0, res.stderr
    cfg = yaml.safe_load((node["state"] / "kubeadm.log.config").read_text())
    assert cfg["discovery"]["bootstrapToken"]["token"] == TOKEN
    assert "name" not in cfg["nodeRegistration"] and "kubeletExtraArgs" not in cfg["nodeRegistration"]


@pytest.mark.parametrize("name", ["Edge-01", "edge_01", "-edge", "edge-", "edge..01", "a" * 254])
def test_node_name_must_be_a_dns_1123_subdomain(node, name: str) -> None:
    write_env(node, free_port(), K8S_NODE_NAME=f"{name}   # comment")
    res = run("k8s-join", node)
    assert res.returncode == 2
    st = status(node)
    assert st["state"] == "invalid" and "K8S_NODE_NAME" in st["message"]
