"""kubeadm-config: the installed init.yaml/join.yaml.in per matrix row.

Field names are checked against kubeadm's v1beta4 Go types (json tags recorded below from
kubernetes/kubernetes@1329935739c3 cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go); etcd's extraArgs
are handed to a REAL etcd (3.4 and 3.5) as kubeadm would (--name=value) and it must start with them.
No kubeadm binary runs here (none for this host in any stored source): `kubeadm config validate`
is left to the image (docs/etcd.md).
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
import yaml

from generator.etcd import kubeadm, tuning
from generator.matrix.model import load_matrix
from tests.etcd.etcdlab import Etcd, EtcdTools
from tests.etcd.recipe import InstallError, install

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "meta-rcar-k8s" / "recipes-kubernetes" / "kubeadm-config" / "kubeadm-config_1.0.bb"
ROWS = load_matrix().rows

# json tags of kubeadm v1beta4 types (kubernetes/kubernetes@1329935739c3, types.go)
V1BETA4 = {
    "InitConfiguration": {
        "apiVersion",
        "kind",
        "bootstrapTokens",
        "dryRun",
        "nodeRegistration",
        "localAPIEndpoint",
        "certificateKey",
        "skipPhases",
        "patches",
        "timeouts",
    },
    "ClusterConfiguration": {
        "apiVersion",
        "kind",
        "etcd",
        "networking",
        "kubernetesVersion",
        "controlPlaneEndpoint",
        "apiServer",
        "controllerManager",
        "scheduler",
        "dns",
        "proxy",
        "certificatesDir",
        "imageRepository",
        "featureGates",
        "clusterName",
        "encryptionAlgorithm",
        "certificateValidityPeriod",
        "caCertificateValidityPeriod",
    },
    "JoinConfiguration": {
        "apiVersion",
        "kind",
        "dryRun",
        "nodeRegistration",
        "caCertPath",
        "discovery",
        "controlPlane",
        "skipPhases",
        "patches",
        "timeouts",
    },
    "NodeRegistrationOptions": {
        "name",
        "criSocket",
        "taints",
        "kubeletExtraArgs",
        "ignorePreflightErrors",
        "imagePullPolicy",
        "imagePullSerial",
    },
    "Timeouts": {
        "controlPlaneComponentHealthCheck",
        "kubeletHealthCheck",
        "kubernetesAPICall",
        "etcdAPICall",
        "tlsBootstrap",
        "discovery",
        "upgradeManifests",
    },
    "Networking": {"serviceSubnet", "podSubnet", "dnsDomain"},
    "Etcd": {"local", "external"},
    "LocalEtcd": {
        "imageRepository",
        "imageTag",
        "dataDir",
        "extraArgs",
        "extraEnvs",
        "serverCertSANs",
        "peerCertSANs",
    },
    "Arg": {"name", "value"},
    "Discovery": {"bootstrapToken", "file", "tlsBootstrapToken"},
    "BootstrapTokenDiscovery": {"token", "apiServerEndpoint", "caCertHashes", "unsafeSkipCAVerification"},
}
DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+s)?$")


def keys_ok(obj: dict, kind: str) -> None:
    unknown = set(obj) - V1BETA4[kind]
    assert not unknown, f"{kind}: fields kubeadm v1beta4 does not know: {sorted(unknown)}"


@pytest.fixture(scope="module", params=[r.minor for r in ROWS])
def installed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp(f"kubeadm-{request.param}")
    install(
        RECIPE,
        root,
        "kubeadm-config",
        {"RCAR_K8S_VERSION": request.param, "KUBEADM_CRI_SOCKET": "unix:///run/containerd/containerd.sock"},
    )
    return load_matrix().row(request.param), root / "etc/kubernetes/kubeadm"


def docs(path: Path) -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all(path.read_text()) if d}


def test_init_config_is_complete_v1beta4(installed) -> None:
    row, d = installed
    path = d / "init.yaml"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    text = path.read_text()
    assert "@" not in text.replace("# @CRI_SOCKET@, @POD_SUBNET@, @SERVICE_SUBNET@", "")
    kinds = docs(path)
    assert set(kinds) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    init, cluster, kubelet = (
        kinds["InitConfiguration"],
        kinds["ClusterConfiguration"],
        kinds["KubeletConfiguration"],
    )
    assert init["apiVersion"] == cluster["apiVersion"] == kubeadm.api_version(row) == "kubeadm.k8s.io/v1beta4"
    keys_ok(init, "InitConfiguration")
    keys_ok(cluster, "ClusterConfiguration")
    keys_ok(init["nodeRegistration"], "NodeRegistrationOptions")
    keys_ok(init["timeouts"], "Timeouts")
    assert all(DURATION.match(v) for v in init["timeouts"].values())
    assert init["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"
    keys_ok(cluster["networking"], "Networking")
    keys_ok(cluster["etcd"], "Etcd")
    keys_ok(cluster["etcd"]["local"], "LocalEtcd")
    assert kubelet["apiVersion"] == "kubelet.config.k8s.io/v1beta1" and kubelet["cgroupDriver"] == "systemd"


def test_versions_come_from_the_matrix_row(installed) -> None:
    row, d = installed
    cluster = docs(d / "init.yaml")["ClusterConfiguration"]
    assert cluster["kubernetesVersion"] == f"v{row.kubernetes}"
    local = cluster["etcd"]["local"]
    assert f"{local['imageRepository']}/etcd:{local['imageTag']}" == row.comp("etcd")["image"]
    api_image = row.comp("kubernetes")["images"]["kube-apiserver"]["image"]
    assert api_image == f"{cluster['imageRepository']}/kube-apiserver:v{row.kubernetes}"
    assert local["dataDir"] == "/var/lib/etcd"


def test_etcd_extra_args_are_a_name_value_list(installed) -> None:
    _, d = installed
    args = docs(d / "init.yaml")["ClusterConfiguration"]["etcd"]["local"]["extraArgs"]
    for a in args:
        keys_ok(a, "Arg")
        assert isinstance(a["value"], str)  # kubeadm's Arg.Value is a string: quoted in YAML
    assert {a["name"]: a["value"] for a in args} == {a.name: a.value for a in tuning.EXTRA_ARGS}
    assert {a["name"] for a in args} == {
        "heartbeat-interval",
        "election-timeout",
        "snapshot-count",
        "quota-backend-bytes",
    }
    assert int(tuning.ELECTION_MS) >= 10 * int(tuning.HEARTBEAT_MS)  # etcd tuning guide


def test_control_plane_endpoint_line_for_k8s_init(installed) -> None:
    """k8s-init sets the HA endpoint by rewriting the line `^controlPlaneEndpoint:`."""
    _, d = installed
    assert len(re.findall(r"^controlPlaneEndpoint:", (d / "init.yaml").read_text(), re.M)) == 1


def test_join_template(installed) -> None:
    row, d = installed
    path = d / "join.yaml.in"
    text = path.read_text()
    assert sorted(set(re.findall(r"@[A-Z0-9_]+@", text))) == [
        "@K8S_API_ENDPOINT@",
        "@K8S_CA_CERT_HASH@",
        "@K8S_TOKEN@",
    ]
    filled = (
        text.replace("@K8S_API_ENDPOINT@", "192.0.2.10:6443")
        .replace("@K8S_TOKEN@", "abcdef.0123456789abcdef")
        .replace("@K8S_CA_CERT_HASH@", "sha256:" + "0" * 64)
    )
    [join] = [x for x in yaml.safe_load_all(filled) if x]
    assert join["kind"] == "JoinConfiguration" and join["apiVersion"] == kubeadm.api_version(row)
    keys_ok(join, "JoinConfiguration")
    keys_ok(join["discovery"], "Discovery")
    keys_ok(join["discovery"]["bootstrapToken"], "BootstrapTokenDiscovery")
    keys_ok(join["nodeRegistration"], "NodeRegistrationOptions")
    keys_ok(join["timeouts"], "Timeouts")


def test_docker_profile_switches_the_cri_socket(tmp_path: Path) -> None:
    # The recipe takes the socket from the distro's RCAR_K8S_CRI_SOCKET (one place decides it).
    assert 'KUBEADM_CRI_SOCKET ?= "${RCAR_K8S_CRI_SOCKET}"' in RECIPE.read_text()
    text = (RECIPE.parents[2] / "conf/distro/rcar-k8s.conf").read_text()
    expr = re.search(r'^RCAR_K8S_CRI_SOCKET \?= "\$\{@ (.*)\}"$', text, re.M).group(1)

    class D:
        def __init__(self, cri: str) -> None:
            self.cri = cri

        def getVar(self, name: str) -> str:  # noqa: N802 - BitBake's datastore API
            return self.cri

    assert eval(expr, {"d": D("docker")}) == "unix:///run/cri-dockerd.sock"  # noqa: S307 - the recipe's own expr
    assert eval(expr, {"d": D("containerd")}) == "unix:///run/containerd/containerd.sock"  # noqa: S307


def test_tmpfs_holds_the_quota(installed) -> None:
    _, d = installed
    args = docs(d / "init.yaml")["ClusterConfiguration"]["etcd"]["local"]["extraArgs"]
    quota = int({a["name"]: a["value"] for a in args}["quota-backend-bytes"])
    bb = (REPO / "meta-rcar-k8s/recipes-kubernetes/etcd-tmpfs/etcd-tmpfs_1.0.bb").read_text()
    size = re.search(r'^ETCD_TMPFS_SIZE \?= "([^"]+)"', bb, re.M).group(1)
    assert tuning.size_bytes(size) >= quota + (tuning.DEFAULT_MAX_WALS + 1) * tuning.WAL_SEGMENT_BYTES


def _etcd_with(etcd_tools: EtcdTools, pki, root: Path, flags: list[str]) -> Etcd:
    server = Etcd(etcd_tools, root, pki)
    wrapper = root / "etcd-with-args"
    wrapper.write_text(f'#!/bin/sh\nexec {etcd_tools.etcd} "$@" {" ".join(flags)}\n')
    wrapper.chmod(0o755)
    server.tools = EtcdTools(etcd_tools.label, str(wrapper), etcd_tools.etcdctl, etcd_tools.etcdutl)
    return server


@pytest.mark.slow
def test_real_etcd_runs_with_the_extra_args(etcd_tools: EtcdTools, pki, tmp_path: Path) -> None:
    """kubeadm appends extraArgs as --name=value to etcd's command line: a real etcd must take them."""
    server = _etcd_with(etcd_tools, pki, tmp_path, [f"--{a.name}={a.value}" for a in tuning.EXTRA_ARGS])
    try:
        server.start()
        server.put("/k", "v")
        assert server.get("/k") == "v"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read()
        quota = re.search(rb"^etcd_server_quota_backend_bytes (\S+)$", metrics, re.M)
        assert quota and float(quota.group(1)) == tuning.QUOTA_BYTES
        log = server.log.read_text()
        # 3.4 logs "heartbeat = 500ms", 3.5+ logs JSON "heartbeat-interval":"500ms"
        assert (
            f"heartbeat = {tuning.HEARTBEAT_MS}ms" in log
            or f'"heartbeat-interval":"{tuning.HEARTBEAT_MS}ms"' in log
        )
    finally:
        server.stop()


@pytest.mark.slow
def test_real_etcd_rejects_a_bad_extra_arg(etcd_tools: EtcdTools, pki, tmp_path: Path) -> None:
    """The check above can fail: a flag etcd does not know stops it from starting."""
    server = _etcd_with(etcd_tools, pki, tmp_path, ["--heartbeat-intervall=500"])
    with pytest.raises(RuntimeError, match="etcd exited"):
        server.start()


def test_unknown_minor_fails_the_build_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match=r"RCAR_K8S_VERSION = '1\.20' has no kubeadm configuration"):
        install(RECIPE, tmp_path, "kubeadm-config", {"RCAR_K8S_VERSION": "1.20"})
