"""Node configuration: containerd config per version, the pause image, and one source of truth."""

from __future__ import annotations

import tomllib

import pytest

from generator.layer import node_files
from generator.matrix.model import load_matrix
from tests.layer.conftest import LAYER

ROWS = load_matrix().rows
NODE_CONFIG = LAYER / "recipes-kubernetes/k8s-node-config"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.minor)
def test_containerd_config_is_valid_toml_for_its_version(row):
    text = (NODE_CONFIG / f"k8s-node-config-{row.minor}/config.toml").read_text()
    assert text.encode() == node_files.node_files(row)["/etc/containerd/config.toml"]
    cfg = tomllib.loads(text)
    want = int(row.comp("containerd")["config_version"])
    assert cfg["version"] == want
    pause = row.comp("pause")["image"]
    if want in (3, 4):  # containerd 2.x: CRI split into images/runtime plugins, sandbox under pinned_images
        assert row.version("containerd").startswith("2.")
        # v4 moved only the server tables (grpc, ttrpc, debug, metrics) into plugins (containerd
        # v2.3.4 cmd/containerd/server/config/config.go serviceMigrate); the file sets none of them
        assert not {"grpc", "ttrpc", "debug", "metrics"} & set(cfg)
        plugins = cfg["plugins"]
        assert plugins["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == pause
        runc = plugins["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]
        assert "io.containerd.grpc.v1.cri" not in plugins
    else:  # containerd 1.7: one CRI plugin, sandbox_image
        assert want == 2
        cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
        assert cri["sandbox_image"] == pause
        runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is True


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.minor)
def test_selected_pause_and_pins_equal_the_matrix(row):
    inc = (LAYER / f"conf/rcar-k8s/k8s-{row.minor}.inc").read_text()
    assert f'RCAR_K8S_PAUSE_IMAGE = "{row.comp("pause")["image"]}"' in inc
    for pn, comp in (
        ("kubernetes-bin", "kubernetes"),
        ("containerd-bin", "containerd"),
        ("runc-bin", "runc"),
        ("cni-plugins-bin", "cni-plugins"),
        ("cri-tools-bin", "cri-tools"),
        ("etcd-bin", "etcd"),
    ):
        assert f'PREFERRED_VERSION_{pn} ?= "{row.version(comp)}"' in inc
        assert LAYER.glob(f"*/*/{pn}_{row.version(comp)}.bb"), pn
    assert f'PREFERRED_VERSION_k8s-node-config ?= "{row.minor}"' in inc


def test_layer_ships_exactly_the_node_files():
    """Every node file the QEMU stand-in installs is byte-identical to the file a recipe installs."""
    row = load_matrix().default_row
    where = {
        "/etc/crictl.yaml": NODE_CONFIG / "files/crictl.yaml",
        "/etc/modules-load.d/k8s.conf": NODE_CONFIG / "files/k8s-modules.conf",
        "/etc/sysctl.d/90-k8s.conf": NODE_CONFIG / "files/90-k8s.conf",
        "/usr/lib/systemd/system/kubelet.service.d/20-rcar-k8s.conf": NODE_CONFIG / "files/20-rcar-k8s.conf",
        "/usr/lib/systemd/system-preset/80-rcar-k8s.preset": NODE_CONFIG / "files/80-rcar-k8s.preset",
        "/usr/lib/systemd/system/rcar-k8s-hostname.service": NODE_CONFIG / "files/rcar-k8s-hostname.service",
        "/usr/libexec/rcar-k8s/first-boot-hostname": NODE_CONFIG / "files/first-boot-hostname",
        "/usr/lib/systemd/system/systemd-time-wait-sync.service.d/rcar-k8s.conf": NODE_CONFIG
        / "files/time-wait-sync-rcar-k8s.conf",
        "/usr/lib/systemd/journald.conf.d/50-rcar-k8s.conf": NODE_CONFIG / "files/journald-rcar-k8s.conf",
        "/usr/lib/systemd/system/rcar-k8s-grow-data.service": NODE_CONFIG
        / "files/rcar-k8s-grow-data.service",
        "/usr/libexec/rcar-k8s/grow-data": NODE_CONFIG / "files/grow-data",
        "/usr/lib/systemd/system/kubelet.service": LAYER
        / "recipes-kubernetes/kubernetes-bin/files/kubelet.service",
        "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": LAYER
        / "recipes-kubernetes/kubernetes-bin/files/10-kubeadm.conf",
        "/usr/lib/systemd/system/containerd.service": LAYER
        / "recipes-containers/containerd-bin/files/containerd.service",
        "/etc/containerd/config.toml": NODE_CONFIG / f"k8s-node-config-{row.minor}/config.toml",
    }
    files = node_files.node_files(row)
    assert set(files) == set(where)
    for path, shipped in where.items():
        assert shipped.read_bytes() == files[path], path
    assert (NODE_CONFIG / "files/first-boot-hostname").stat().st_mode & 0o111


def test_node_basics_present():
    files = node_files.node_files(load_matrix().default_row)
    assert files["/etc/modules-load.d/k8s.conf"].split()[-2:] == [b"overlay", b"br_netfilter"]
    sysctl = files["/etc/sysctl.d/90-k8s.conf"].decode()
    for key in (
        "net.bridge.bridge-nf-call-iptables = 1",
        "net.bridge.bridge-nf-call-ip6tables = 1",
        "net.ipv4.ip_forward = 1",
    ):
        assert key in sysctl
    dropin = files["/usr/lib/systemd/system/kubelet.service.d/20-rcar-k8s.conf"].decode()
    assert "After=time-sync.target" in dropin and "Wants=time-sync.target" in dropin
    assert (
        "enable systemd-time-wait-sync.service"
        in files["/usr/lib/systemd/system-preset/80-rcar-k8s.preset"].decode()
    )
    assert b"unix:///run/containerd/containerd.sock" in files["/etc/crictl.yaml"]
    with pytest.raises(ValueError):
        node_files.node_files(load_matrix().default_row, role="bogus")


# ---- issue 16: IPv6 forwarding only on a dual-stack cluster -------------------------------------


def test_ipv4_node_keeps_ipv6_router_advertisements():
    """net.ipv6.conf.all.forwarding=1 makes accept_ra=1 ignore RAs: not on an IPv4-only cluster."""
    files = node_files.node_files(load_matrix().default_row)
    assert b"net.ipv6.conf.all.forwarding" not in b"".join(files.values())
    dual = node_files.node_files(load_matrix().default_row, dual_stack=True)
    assert b"net.ipv6.conf.all.forwarding = 1" in dual[node_files.DUAL_STACK_SYSCTL_PATH]
    assert (NODE_CONFIG / "files/91-k8s-dual-stack.conf").read_bytes() == dual[
        node_files.DUAL_STACK_SYSCTL_PATH
    ]


@pytest.mark.parametrize(
    ("pod_subnet", "dual"),
    [("10.244.0.0/16", False), ("10.244.0.0/16,fd00:10:244::/56", True), ("fd00:10:244::/56", True)],
)
def test_recipe_installs_ipv6_forwarding_only_for_dual_stack(tmp_path, pod_subnet, dual):
    """The recipe's real do_install, run with bash, for each pod subnet."""
    from tests.etcd.recipe import install

    row = load_matrix().default_row
    import shutil

    root, workdir = tmp_path / "root", tmp_path / "workdir"  # WORKDIR as BitBake's FILESPATH fills it
    shutil.copytree(NODE_CONFIG / "files", workdir)
    shutil.copytree(NODE_CONFIG / f"k8s-node-config-{row.minor}", workdir, dirs_exist_ok=True)
    install(
        NODE_CONFIG / f"k8s-node-config_{row.minor}.bb",
        root,
        "k8s-node-config",
        {"RCAR_K8S_POD_SUBNET": pod_subnet, "WORKDIR": str(workdir)},
    )
    assert (root / "etc/sysctl.d/90-k8s.conf").is_file()
    assert (
        (root / "etc/sysctl.d/91-k8s-dual-stack.conf").is_file()
        == dual
        == node_files.is_dual_stack(pod_subnet)
    )
    if not dual:
        for f in (root / "etc/sysctl.d").iterdir():
            assert b"net.ipv6.conf.all.forwarding" not in f.read_bytes(), f


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.minor)
def test_recipe_fetches_and_installs_every_file_node_files_gives_it(row):
    """The recipe is generated from node_files: each file it owns is fetched (its files/ copy holds
    node_files' bytes) and written to its path in BitBake's usrmerge directory variables."""
    recipe = (NODE_CONFIG / f"k8s-node-config_{row.minor}.bb").read_text()
    src_uri = recipe.split('SRC_URI = "', 1)[1].split('"', 1)[0]
    install = recipe.split("do_install() {", 1)[1].split("\n}\n", 1)[0]
    unixy = {  # poky meta/conf/bitbake.conf with usrmerge, spelled out independently of node_files
        "${systemd_system_unitdir}": "/usr/lib/systemd/system",
        "${systemd_unitdir}": "/usr/lib/systemd",
        "${libexecdir}": "/usr/libexec",
        "${sysconfdir}": "/etc",
    }
    installed = set()
    for word in install.split():
        if word.startswith("${D}${"):
            var, rest = word[len("${D}") :].split("}", 1)
            if var + "}" in unixy:  # the rest: README in ${docdir}, swap.target masked
                installed.add(unixy[var + "}"] + rest)
    owned = {f.path: f for f in node_files.files(row, dual_stack=True) if f.owner == "k8s-node-config"}
    assert set(owned) <= installed
    for f in node_files.recipe_files(row):
        assert f"file://{f.src} " in src_uri
        where = NODE_CONFIG / ("files" if f.src != "config.toml" else f"k8s-node-config-{row.minor}")
        assert (where / f.src).read_bytes() == owned[f.path].content, f.src
        if f.path not in (node_files.CRICTL_PATH, node_files.TIME_WAIT_SYNC_PATH):  # sed-edited
            assert f"install -D -m {owned[f.path].mode:04o} ${{WORKDIR}}/{f.src} ${{D}}{f.dest}" in install


def test_recipe_sources_must_cover_every_owned_file(monkeypatch):
    row = load_matrix().default_row
    monkeypatch.setitem(node_files.OWNERS, "/etc/crictl.yaml", ("k8s-node-config", 0o644))
    monkeypatch.delitem(node_files.RECIPE_SOURCES, "/etc/sysctl.d/90-k8s.conf")
    with pytest.raises(ValueError, match="90-k8s.conf"):
        node_files.recipe_files(row)
