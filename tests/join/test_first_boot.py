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
    kubectl = dirs["bin"] / "kubectl"  # records what k8s-init applies; fails the first $KUBECTL_FAIL_FIRST
    kubectl.write_text(
        "#!/bin/bash\n"
        'echo "$@" >> "$KUBEADM_LOG.kubectl"\n'
        'n=$(cat "$KUBEADM_LOG.kubectl.n" 2>/dev/null || echo 0)\n'
        'echo $((n + 1)) > "$KUBEADM_LOG.kubectl.n"\n'
        '[ "$n" -lt "${KUBECTL_FAIL_FIRST:-0}" ] && { echo "connection refused" >&2; exit 1; }\n'
        'while [ $# -gt 0 ]; do [ "$1" = -f ] && cp "$2" "$KUBEADM_LOG.kubectl.applied"; shift; done\n'
    )
    kubectl.chmod(0o755)
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
        KUBEADM_API="kubeadm.k8s.io/v1beta4",
        KUBELET_PORT=str(node.setdefault("kubelet_port", free_port())),  # type: ignore[arg-type]
        KUBECTL=str(node["bin"] / "kubectl"),
        CNI_MANIFEST=str(node["root"] / "no-cni.yml"),  # RCAR_K8S_CNI = none unless a test installs one
        JOIN_MATERIAL=str(node["root"] / "rcar-k8s" / "join.env"),
        CNI_DELAY="0",
        # a worker image unless a test installs the control-plane package's file
        CONTROL_PLANE_MARK=str(node["root"] / "usr/libexec/rcar-k8s/k8s-init"),
        # the layer's own template, as k8s-join-init installs it (used only where a VIP is set)
        KUBE_VIP_TEMPLATE=str(FILES / "kube-vip.yaml.in"),
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
    res = run("k8s-init", node, INIT_CONFIG=str(_init_config(node)))
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
    assert (
        "sed -e 's|@CRI_SOCKET@|${RCAR_K8S_CRI_SOCKET}|g' -e 's|@KUBEADM_API@|${RCAR_K8S_KUBEADM_API}|g'"
        in recipe
    )
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
        res = run("k8s-join", node)
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


# ---- issue 19: kubeadm's config API is decided once (generator/etcd/kubeadm.py) ---------------


def test_kubeadm_api_is_decided_once_and_rendered_for_k8s_join() -> None:
    from generator.etcd import kubeadm
    from generator.matrix.model import load_matrix

    assert "KUBEADM_API=${KUBEADM_API:-@KUBEADM_API@}" in (FILES / "k8s-join").read_text()
    for row in load_matrix().rows:
        api = kubeadm.api_version(row)
        inc = (REPO / f"meta-rcar-k8s/conf/rcar-k8s/k8s-{row.minor}.inc").read_text()
        assert f'RCAR_K8S_KUBEADM_API = "{api}"' in inc, row.minor
        join_in = REPO / f"meta-rcar-k8s/recipes-kubernetes/kubeadm-config/files/join-{row.minor}.yaml.in"
        assert yaml.safe_load(join_in.read_text())["apiVersion"] == api, row.minor


def test_join_env_renders_the_v1beta3_form_when_the_row_says_so(node) -> None:
    port = free_port()
    write_env(node, port, K8S_NODE_LABELS="rcar.example/board=h3ulcb")
    with FakeApiServer(port):
        res = run("k8s-join", node, KUBEADM_API="kubeadm.k8s.io/v1beta3")
    assert res.returncode == 0, res.stderr
    rendered = yaml.safe_load((node["state"] / "kubeadm.log.config").read_text())
    assert rendered["apiVersion"] == "kubeadm.k8s.io/v1beta3"
    assert rendered["nodeRegistration"]["kubeletExtraArgs"] == {"node-labels": "rcar.example/board=h3ulcb"}
    assert rendered["discovery"]["timeout"] == "10m0s" and "timeouts" not in rendered


def test_an_unrendered_kubeadm_api_is_refused_not_guessed(node) -> None:
    port = free_port()
    write_env(node, port)
    with FakeApiServer(port):
        res = run("k8s-join", node, KUBEADM_API="@KUBEADM_API@")
    assert res.returncode == 1
    assert status(node)["state"] == "invalid" and "RCAR_K8S_KUBEADM_API" in status(node)["message"]


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


# ---- issue 16: k8s-init keeps secrets out of the journal, retries a failed init ----------------

STANDIN_CERT_KEY = "9f" * 32  # what tests/join/kubeadm_standin.py prints as the certificate key


def _cluster_env(node, text: str = "K8S_INIT=1\nK8S_CONTROL_PLANE_ENDPOINT=192.0.2.100:6443\n") -> None:
    (node["boot"] / "rcar-k8s" / "cluster.env").write_text(text)


def test_init_output_goes_to_a_root_only_file_and_join_material_to_roots_home(node) -> None:
    _cluster_env(node)
    port = free_port()
    res = run("k8s-init", node, INIT_CONFIG=str(_init_config(node)), KUBEADM_ENDPOINT=f"127.0.0.1:{port}")
    assert res.returncode == 0, res.stderr
    journal = res.stdout + res.stderr  # what systemd would put in the journal
    assert TOKEN not in journal and STANDIN_CERT_KEY not in journal and "kubeadm join" not in journal
    log = node["run"] / "kubeadm-init.log"
    assert TOKEN in log.read_text() and log.stat().st_mode & 0o777 == 0o600
    assert node["run"].stat().st_mode & 0o777 == 0o700
    material = node["root"] / "rcar-k8s" / "join.env"
    assert material.stat().st_mode & 0o777 == 0o600
    assert material.parent.stat().st_mode & 0o777 == 0o700
    text = material.read_text()
    assert f"K8S_TOKEN={TOKEN}" in text and f"K8S_CERTIFICATE_KEY={STANDIN_CERT_KEY}" in text
    # The material is a join.env k8s-join reads as is, and shreds after the join.
    other = {k: node["root"] / "other" / k for k in ("boot", "state", "run", "kube")}
    for d in other.values():
        d.mkdir(parents=True)
    (other["boot"] / "join.env").write_bytes(material.read_bytes())
    worker = dict(node, **other, kubelet_port=free_port())
    with FakeApiServer(port):
        joined = run("k8s-join", worker)
    assert joined.returncode == 0, joined.stderr
    assert not (other["boot"] / "join.env").exists()
    cfg = yaml.safe_load((other["state"] / "kubeadm.log.config").read_text())
    assert cfg["discovery"]["bootstrapToken"]["token"] == TOKEN


def test_failed_init_is_reset_and_the_next_boot_retries(node) -> None:
    _cluster_env(node, "K8S_INIT=1\n")
    init = str(_init_config(node))
    first = run("k8s-init", node, INIT_CONFIG=init, KUBEADM_FAIL_FIRST="1")
    assert first.returncode == 1
    st = status(node, "init")
    assert st["state"] == "failed" and "next boot retries" in st["message"]
    assert "wait-control-plane" in first.stderr  # kubeadm's error line reaches the journal, redacted
    assert not (node["kube"] / "admin.conf").exists() and not (node["kube"] / "pki").exists()
    assert not (node["root"] / "rcar-k8s" / "join.env").exists()
    second = run("k8s-init", node, INIT_CONFIG=init, KUBEADM_FAIL_FIRST="1")
    assert second.returncode == 0, second.stderr
    assert status(node, "init")["state"] == "initialized"
    assert _calls(node) == ["init", "reset -f", "init"]
    # nothing in the unit skips the retry before the script can decide
    assert "ConditionPathExists=" not in (FILES / "k8s-init.service").read_text()


def test_an_interrupted_init_is_reset_before_the_next_one(node) -> None:
    _cluster_env(node, "K8S_INIT=1\n")
    init = str(_init_config(node))
    env = dict(os.environ, KUBE_DIR=str(node["kube"]), KUBEADM_LOG=str(node["state"] / "kubeadm.log"))
    env.update(KUBELET_PORT=str(node.setdefault("kubelet_port", free_port())), KUBEADM_FAIL_FIRST="1")
    # power cut during init: kubeadm's state is there, k8s-init's status still says "initializing"
    subprocess.run([str(node["bin"] / "kubeadm"), "init", "--config", init], env=env, capture_output=True)
    (node["state"] / "init.status").write_text('{"state": "initializing", "message": "", "time": ""}\n')
    res = run("k8s-init", node, INIT_CONFIG=init)
    assert res.returncode == 0, res.stderr
    assert _calls(node) == ["init", "reset -f", "init"]


def test_a_cluster_initialised_by_hand_is_left_alone(node) -> None:
    _cluster_env(node, "K8S_INIT=1\n")
    (node["kube"] / "admin.conf").write_text("made by a person running kubeadm init\n")
    res = run("k8s-init", node, INIT_CONFIG=str(_init_config(node)))
    assert res.returncode == 0 and status(node, "init")["state"] == "initialized"
    assert not (node["state"] / "kubeadm.log").exists()


# ---- issue 16: the pod network is applied after init, air-gapped, with the cluster's podSubnet ----

MIRROR_ROOT = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror"))
FLANNEL_GIT = MIRROR_ROOT / "flannel-io+flannel" / "repo"
PREPARE_FLANNEL = f"git clone --mirror https://github.com/flannel-io/flannel {FLANNEL_GIT}"


def flannel_manifest(minor: str = "1.36") -> bytes:
    """kube-flannel.yml exactly as the matrix pins it (read from flannel's git at the tag)."""
    from generator.images.catalog import cni_manifest
    from generator.matrix.model import load_matrix

    row = load_matrix().row(minor)
    m = cni_manifest(row)
    assert m is not None
    if not FLANNEL_GIT.is_dir():
        pytest.skip(f"skipped: no flannel mirror at {FLANNEL_GIT} (prepare with: {PREPARE_FLANNEL})")
    tag = f"v{row.version('flannel')}"
    res = subprocess.run(
        ["git", f"--git-dir={FLANNEL_GIT}", "show", f"{tag}:{m['path']}"], capture_output=True, check=True
    )
    return res.stdout


def _generated_init_config(node, pod_subnet: str) -> Path:
    """The layer's init.yaml as the kubeadm-config recipe installs it (its sed, our values)."""
    text = (REPO / "meta-rcar-k8s/recipes-kubernetes/kubeadm-config/files/init-1.36.yaml").read_text()
    text = text.replace("@CRI_SOCKET@", "unix:///run/containerd/containerd.sock")
    text = text.replace("@POD_SUBNET@", pod_subnet).replace("@SERVICE_SUBNET@", "10.96.0.0/12")
    cfg = node["kube"] / "init.yaml"
    cfg.write_text(text)
    return cfg


def _net_conf(applied: Path) -> dict:
    docs = [d for d in yaml.safe_load_all(applied.read_text()) if d]
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    return json.loads(cm["data"]["net-conf.json"])


@pytest.mark.parametrize(
    ("pod_subnet", "want"),
    [
        ("10.85.0.0/16", {"Network": "10.85.0.0/16"}),
        (
            "10.244.0.0/16,fd00:10:244::/56",
            {"Network": "10.244.0.0/16", "EnableIPv6": True, "IPv6Network": "fd00:10:244::/56"},
        ),
    ],
)
def test_flannel_is_applied_after_init_with_the_pod_subnet(node, pod_subnet: str, want: dict) -> None:
    manifest = node["root"] / "kube-flannel.yml"
    manifest.write_bytes(flannel_manifest())
    _cluster_env(node, "K8S_INIT=1\n")
    init = _generated_init_config(node, pod_subnet)
    res = run("k8s-init", node, INIT_CONFIG=str(init), CNI_MANIFEST=str(manifest), KUBECTL_FAIL_FIRST="1")
    assert res.returncode == 0, res.stderr
    calls = (node["state"] / "kubeadm.log.kubectl").read_text().splitlines()
    assert len(calls) == 2  # the API server refused once right after init; applied on the retry
    assert calls[-1] == f"--kubeconfig {node['kube']}/admin.conf apply -f {node['run']}/cni.yaml"
    assert _calls(node) == ["init"]  # applied after kubeadm init
    applied = node["state"] / "kubeadm.log.kubectl.applied"
    conf = _net_conf(applied)
    assert {k: conf[k] for k in want} == want
    cluster = [d for d in yaml.safe_load_all(init.read_text()) if d["kind"] == "ClusterConfiguration"][0]
    assert conf["Network"] == cluster["networking"]["podSubnet"].split(",")[0]
    # nothing else in flannel's manifest changed
    original = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    rendered = [d for d in yaml.safe_load_all(applied.read_text()) if d]
    assert [d["kind"] for d in rendered] == [d["kind"] for d in original]
    assert [d for d in rendered if d["kind"] == "DaemonSet"] == [
        d for d in original if d["kind"] == "DaemonSet"
    ]
    # Next boot: already applied, not applied again; the state stays "initialized".
    again = run("k8s-init", node, INIT_CONFIG=str(init), CNI_MANIFEST=str(manifest))
    assert again.returncode == 0, again.stderr
    assert len((node["state"] / "kubeadm.log.kubectl").read_text().splitlines()) == 2
    assert status(node, "init")["state"] == "initialized"


def test_a_failed_apply_is_retried_on_the_next_boot(node) -> None:
    manifest = node["root"] / "kube-flannel.yml"
    manifest.write_bytes(flannel_manifest())
    _cluster_env(node, "K8S_INIT=1\n")
    init = str(_generated_init_config(node, "10.244.0.0/16"))
    first = run(
        "k8s-init",
        node,
        INIT_CONFIG=init,
        CNI_MANIFEST=str(manifest),
        KUBECTL_FAIL_FIRST="9",
        CNI_ATTEMPTS="2",
    )
    assert first.returncode == 1 and status(node, "init")["state"] == "cni-failed"
    second = run("k8s-init", node, INIT_CONFIG=init, CNI_MANIFEST=str(manifest))
    assert second.returncode == 0, second.stderr
    assert _calls(node) == ["init"]  # kubeadm init ran once; only the apply was retried
    assert (node["state"] / "kubeadm.log.kubectl.applied").exists()


def test_cni_none_leaves_the_pod_network_to_the_user(node) -> None:
    _cluster_env(node, "K8S_INIT=1\n")
    res = run("k8s-init", node, INIT_CONFIG=str(_generated_init_config(node, "10.244.0.0/16")))
    assert res.returncode == 0, res.stderr
    assert "apply a pod network yourself" in res.stderr
    assert not (node["state"] / "kubeadm.log.kubectl").exists()


def test_the_pinned_manifest_is_flannels_file_at_the_tag_with_the_preloaded_images() -> None:
    """matrix.yml's sha256/images/network are what flannel's repository holds at the pinned tag."""
    import hashlib

    from generator.images.catalog import cni_manifest, node_images
    from generator.matrix.model import load_matrix

    matrix = load_matrix()
    for row in matrix.rows:
        data = flannel_manifest(row.minor)
        m = cni_manifest(row)
        assert m is not None
        assert hashlib.sha256(data).hexdigest() == m["sha256"], row.minor
        docs = [d for d in yaml.safe_load_all(data) if d]
        (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
        spec = ds["spec"]["template"]["spec"]
        images = {c["image"] for c in spec["containers"] + spec.get("initContainers", [])}
        assert images == set(m["images"]), row.minor
        preloaded = {i.ref for i in node_images(matrix, row, "worker", "flannel")}
        assert images <= preloaded, row.minor
        (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
        assert json.loads(cm["data"]["net-conf.json"])["Network"] == m["network"]
        # the recipe fetches exactly that file and checks exactly that hash
        recipes = REPO / "meta-rcar-k8s/recipes-kubernetes/flannel-manifest"
        recipe = (recipes / f"flannel-manifest_{row.version('flannel')}.bb").read_text()
        assert f'SRC_URI[sha256sum] = "{m["sha256"]}"' in recipe and m["url"] in recipe


# ---- issue 16: the boot finishes while the API server is unreachable ---------------------------


def _unit(name: str) -> dict[str, str]:
    """Key -> last value of a unit file (enough for the keys asserted here)."""
    out: dict[str, str] = {}
    for line in (FILES / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _seconds(value: str) -> float:
    """systemd time span -> seconds (infinity -> inf); enough of systemd.time(7) for unit files."""
    if value == "infinity":
        return float("inf")
    import re

    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)\s*([a-z]*)", value))


def test_k8s_join_does_not_hold_the_boot_while_the_api_server_is_away() -> None:
    """multi-user.target waits for the oneshots it wants (systemd.target(5): a target adds After= to
    its Wants=); k8s-join may wait for the API server for hours, so it must not be a oneshot with an
    unbounded start timeout, and a failed attempt must come back without a reboot."""
    u = _unit("k8s-join.service")
    kind = u.get("Type", "simple")
    bounded = kind not in ("oneshot", "forking", "notify") or _seconds(u.get("TimeoutStartSec", "90s")) < 3600
    assert bounded, f"Type={kind} TimeoutStartSec={u.get('TimeoutStartSec')} holds multi-user.target"
    assert u.get("Restart") in ("on-failure", "always") and _seconds(u.get("RestartSec", "0")) > 0
    assert u.get("StartLimitIntervalSec") == "0"  # retries are never rate-limited into "failed"
    assert "2" in u.get("RestartPreventExitStatus", "").split()  # a bad join file waits for the user


def test_k8s_join_gives_up_only_on_a_bad_file(node) -> None:
    """Exit codes the unit's Restart= logic relies on: 2 = invalid input (no restart), 1 = retry."""
    write_env(node, free_port(), K8S_TOKEN="nope")
    assert run("k8s-join", node).returncode == 2


# Copied verbatim from docs/first-boot.md (the test checks it is still there).
DOCS_CLUSTER_ENV = """\
    K8S_INIT=1
    K8S_CONTROL_PLANE_ENDPOINT=192.0.2.100:6443   # optional HA endpoint
    K8S_VIP=192.0.2.100                           # optional kube-vip VIP (ARP mode)
    K8S_VIP_INTERFACE=eth0
"""


def test_the_docs_cluster_env_example_parses(node) -> None:
    assert DOCS_CLUSTER_ENV in (REPO / "docs/first-boot.md").read_text()
    _cluster_env(node, DOCS_CLUSTER_ENV)
    res = run("k8s-init", node, INIT_CONFIG=str(_init_config(node)))
    assert res.returncode == 0, res.stderr
    cfg = yaml.safe_load((node["state"] / "kubeadm.log.config").read_text())
    assert cfg["controlPlaneEndpoint"] == "192.0.2.100:6443"
    pod = yaml.safe_load((node["kube"] / "manifests" / "kube-vip.yaml").read_text())
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["address"] == "192.0.2.100" and env["vip_interface"] == "eth0"


# ---- a control-plane image given the generated join.env joins as a control plane ----------------


def _join_material(node, port: int) -> Path:
    """The first control plane's /root/rcar-k8s/join.env, written by k8s-init after an HA init."""
    _cluster_env(node)
    res = run("k8s-init", node, INIT_CONFIG=str(_init_config(node)), KUBEADM_ENDPOINT=f"127.0.0.1:{port}")
    assert res.returncode == 0, res.stderr
    material = node["root"] / "rcar-k8s" / "join.env"
    assert f"K8S_CERTIFICATE_KEY={STANDIN_CERT_KEY}" in material.read_text()
    return material


def _second_node(node, material: Path, control_plane: bool) -> dict[str, Path]:
    """Another board: its config partition holds the material as join.env and the shared cluster.env."""
    other = {k: node["root"] / "other" / k for k in ("boot", "state", "run", "kube", "root")}
    for d in other.values():
        d.mkdir(parents=True)
    (other["boot"] / "join.env").write_bytes(material.read_bytes())
    (other["boot"] / "cluster.env").write_text(
        "K8S_CONTROL_PLANE_ENDPOINT=192.0.2.100:6443\nK8S_VIP=192.0.2.100\nK8S_VIP_INTERFACE=end0\n"
    )
    if control_plane:  # what package k8s-join-init installs on a control-plane image
        mark = other["root"] / "usr/libexec/rcar-k8s/k8s-init"
        mark.parent.mkdir(parents=True)
        mark.write_bytes((FILES / "k8s-init").read_bytes())
    return dict(node, **other, kubelet_port=free_port())


@pytest.mark.parametrize("api", ["kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta3"])
def test_control_plane_image_joins_as_control_plane_from_the_generated_join_env(node, api: str) -> None:
    port = free_port()
    second = _second_node(node, _join_material(node, port), control_plane=True)
    with FakeApiServer(port):
        res = run("k8s-join", second, KUBEADM_API=api)
    assert res.returncode == 0, res.stderr
    cfg = yaml.safe_load((second["state"] / "kubeadm.log.config").read_text())
    assert cfg["apiVersion"] == api
    assert cfg["controlPlane"] == {"certificateKey": STANDIN_CERT_KEY}
    # ... so it is treated as a control plane afterwards: kube-vip runs here too
    pod = yaml.safe_load((second["kube"] / "manifests" / "kube-vip.yaml").read_text())
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["address"] == "192.0.2.100" and env["vip_interface"] == "end0"
    assert "kube-vip for 192.0.2.100" in status(second)["message"]
    assert STANDIN_CERT_KEY not in res.stdout + res.stderr  # the key stays out of the journal
    assert not (second["boot"] / "join.env").exists()  # and is shredded with the token


def test_worker_image_ignores_the_certificate_key_and_says_so(node) -> None:
    port = free_port()
    second = _second_node(node, _join_material(node, port), control_plane=False)
    with FakeApiServer(port):
        res = run("k8s-join", second)
    assert res.returncode == 0, res.stderr
    cfg = yaml.safe_load((second["state"] / "kubeadm.log.config").read_text())
    assert "controlPlane" not in cfg
    assert "K8S_CERTIFICATE_KEY ignored: this is a worker image" in res.stderr
    assert STANDIN_CERT_KEY not in res.stdout + res.stderr
    assert not (second["kube"] / "manifests" / "kube-vip.yaml").exists()
    assert status(second)["state"] == "joined" and "worker join" in status(second)["message"]


@pytest.mark.parametrize(
    "key",
    [
        "9f" * 31,  # 31 bytes
        "9f" * 32 + "0",
        "9g" * 32,
        "sha256:" + "9f" * 32,
        "9f" * 16 + " " + "9f" * 16,
    ],
)
def test_an_invalid_certificate_key_is_refused_on_a_control_plane_image(node, key: str) -> None:
    port = free_port()
    second = _second_node(node, _join_material(node, port), control_plane=True)
    env_file = second["boot"] / "join.env"
    env_file.write_text(env_file.read_text().replace(STANDIN_CERT_KEY, f'"{key}"'))
    (second["state"] / "kubeadm.log").unlink(missing_ok=True)
    with FakeApiServer(port):
        res = run("k8s-join", second)
    assert res.returncode == 2, res.stderr
    st = status(second)
    assert st["state"] == "invalid" and "K8S_CERTIFICATE_KEY is not 64 hex" in st["message"]
    errors = [line for line in res.stderr.splitlines() if "K8S_CERTIFICATE_KEY" in line]
    assert len(errors) == 1 and "upload-certs" in errors[0]  # one line, saying how to get a new key
    assert not (second["state"] / "kubeadm.log").exists()  # kubeadm never ran
    assert env_file.exists()  # the user's file stays to be fixed


def test_an_upper_case_certificate_key_is_accepted(node) -> None:
    """Go's hex.DecodeString (kubeadm's copycerts) takes either case."""
    port = free_port()
    second = _second_node(node, _join_material(node, port), control_plane=True)
    env_file = second["boot"] / "join.env"
    env_file.write_text(env_file.read_text().replace(STANDIN_CERT_KEY, STANDIN_CERT_KEY.upper()))
    with FakeApiServer(port):
        res = run("k8s-join", second)
    assert res.returncode == 0, res.stderr
    cfg = yaml.safe_load((second["state"] / "kubeadm.log.config").read_text())
    assert cfg["controlPlane"]["certificateKey"] == STANDIN_CERT_KEY.upper()
