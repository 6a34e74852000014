"""Upstream facts the rules check the matrix against, each table with its source.

These are not pins (the lock file ``generator/data/matrix.yml`` holds those); they are what upstream
publishes about compatibility and lifecycle: containerd's Kubernetes support table, which Go each
line needs, which pause image kubeadm expects, which Go each Yocto series ships, end-of-life dates.
The researched reference is ``/work/shared/reference/versions.md``; section numbers below point there.
When upstream moves (a new containerd table row, a new Yocto series), this file and the matrix change
together and ``rcar-k8s matrix check`` proves they agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

D = dt.date.fromisoformat


@dataclass(frozen=True)
class Table:
    """A fact table and where it comes from."""

    data: Any
    source: str


# --- Kubernetes (versions.md §1, §2) -------------------------------------------------------------

K8S_LIFECYCLE = Table(
    {  # minor: (released, maintenance mode, end of life)
        "1.33": (D("2025-04-23"), D("2026-04-28"), D("2026-06-28")),
        "1.34": (D("2025-08-27"), D("2026-08-27"), D("2026-10-27")),
        "1.35": (D("2025-12-17"), D("2026-12-28"), D("2027-02-28")),
        "1.36": (D("2026-04-22"), D("2027-04-28"), D("2027-06-28")),
        "1.37": (D("2026-08-26"), D("2027-08-28"), D("2027-10-28")),
    },
    "https://kubernetes.io/releases/ (per-minor pages); kubernetes/website data/releases/eol.yaml",
)

K8S_SKEW = Table(
    {
        "kubelet_older": 3,  # kubelet may be up to 3 minors older than kube-apiserver (kubelet >= 1.25)
        "kubelet_older_pre_1_25": 2,
        "proxy_older": 3,
        "proxy_kubelet": 3,  # kube-proxy within +-3 minors of its kubelet
        "cm_sched_older": 1,  # controller-manager / scheduler: apiserver or one older
        "kubectl": 1,  # kubectl within +-1 of kube-apiserver
        "kubeadm_cp_older": 1,  # control plane at kubeadm's minor or one older
        "kubeadm_kubelet_older": 3,
    },
    "https://kubernetes.io/releases/version-skew-policy/ ; "
    "https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/create-cluster-kubeadm/#version-skew-policy",
)

# The Go minor each Kubernetes minor is built with (the toolchain a source build needs).
K8S_GO = Table(
    {
        "1.32": "1.23",
        "1.33": "1.24",
        "1.34": "1.24",
        "1.35": "1.25",
        "1.36": "1.26",
        # 1.37: not stated in the draft notes; a minor never goes back to an older Go, so at least 1.36's.
        "1.37": "1.26",
    },
    "kubernetes/sig-release releases/release-1.NN/release-notes/release-notes-draft.md",
)

# kubeadm's default sandbox (pause) image per minor (versions.md §2, pitfall 6).
PAUSE = Table(
    {
        "1.28": "3.9",
        "1.29": "3.9",
        "1.30": "3.9",
        "1.31": "3.10",
        "1.32": "3.10",
        "1.33": "3.10",
        "1.34": "3.10.1",
        "1.35": "3.10.1",
        "1.36": "3.10.2",
        "1.37": "3.10.2",
    },
    "kubernetes/sig-release releases/release-1.NN/release-notes/release-notes-draft.md; "
    "kubernetes/kubernetes build/dependencies.yaml",
)

# Both etcd facts are kubeadm's own constants (the authority: kubeadm refuses or warns by them).
# kubernetes/kubernetes has no local mirror here; what was read is named after "read:". With a mirror
# at $MIRROR_ROOT/kubernetes+kubernetes/repo, tests/matrix/test_matrix_sources.py checks them per tag.
KUBEADM_CONSTANTS = "cmd/kubeadm/app/constants/constants.go"

# etcd line kubeadm deploys per minor: SupportedEtcdVersion[minor] (3.x.y-0 -> "3.x").
ETCD_LINE = Table(
    {"1.31": "3.5", "1.32": "3.5", "1.33": "3.5", "1.34": "3.6", "1.35": "3.6", "1.36": "3.6", "1.37": "3.7"},
    f"kubernetes/kubernetes@v1.35.8, @v1.36.4, @v1.37.1 {KUBEADM_CONSTANTS} SupportedEtcdVersion "
    "(entry for the tag's own minor). read: that file's SupportedEtcdVersion hunk "
    '{34,35,36: "3.6.8-0"} as quoted in etcd-io/etcd Documentation/contributor-guide/'
    "bump_etcd_version_k8s.md (code-index copy newer than etcd-io/etcd@c34dc7ee main 2026-08-20); "
    '{29,30,31,32: "3.5.24-0"} in kubernetes/kubernetes constants.go@00886ac0 (code index); 1.37: '
    "kubernetes/sig-release release-1.37 release-notes-draft.md (kubeadm default etcd 3.7.0)",
)
# MinExternalEtcdVersion "3.5.24-0": the oldest external etcd kubeadm accepts.
ETCD_MIN_EXTERNAL = Table(
    "3.5.24",
    f"kubernetes/kubernetes@v1.36.4 {KUBEADM_CONSTANTS} MinExternalEtcdVersion. read: "
    'MinExternalEtcdVersion = "3.5.24-0" in the same constants.go hunk quoted by etcd-io/etcd '
    "bump_etcd_version_k8s.md (code-index copy) and in kubernetes/kubernetes constants.go@00886ac0 "
    "(code index)",
)

# kubeadm's CoreDNSVersion per minor (the CoreDNS image `kubeadm init` deploys).
COREDNS = Table(
    {"1.35": "v1.12.4", "1.36": "v1.14.2", "1.37": "v1.14.6"},
    f"kubernetes/kubernetes@v1.NN.x {KUBEADM_CONSTANTS} CoreDNSVersion; read: kubernetes/sig-release "
    "releases/release-1.NN/release-notes/release-notes-draft.md (dependencies: CoreDNS)",
)

# cri-tools minors that have a release (no v1.37.0 tag on master as of 2026-08-13).
CRI_TOOLS_NEWEST = Table("1.36", "kubernetes-sigs/cri-tools tags; README.md compatibility matrix")
CRI_TOOLS_MIN = Table("1.27", "kubernetes-sigs/cri-tools README.md: cri-tools >= 1.27 for Kubernetes >= 1.27")

# --- containerd (versions.md §3) -------------------------------------------------------------------

CONTAINERD_SOURCE = "containerd/containerd RELEASES.md (main@617944ba 'Kubernetes Support' table)"
# Kubernetes minor -> minimum patch of each containerd line containerd recommends for it.
CONTAINERD_K8S = Table(
    {
        "1.29": ["1.7.11", "1.6.27"],
        "1.30": ["2.0.0", "1.7.13", "1.6.28"],
        "1.31": ["2.1.0", "2.0.0", "1.7.20", "1.6.34"],
        "1.32": ["2.1.0", "2.0.1", "1.7.24", "1.6.36"],
        "1.33": ["2.1.0", "2.0.4", "1.7.24", "1.6.36"],
        "1.34": ["2.1.3", "2.0.6", "1.7.28", "1.6.39"],
        "1.35": ["2.2.0", "2.1.5", "1.7.28"],
        "1.36": ["2.3.0", "2.2.0"],
    },
    "https://github.com/containerd/containerd/blob/main/RELEASES.md#kubernetes-support",
)

# containerd line -> end of support. 1.7 "Sep 2026" and 2.0 "Mar 2027" are month-precise upstream:
# the last day of that month is used.
CONTAINERD_EOL = Table(
    {
        "1.6": D("2025-08-23"),
        "1.7": D("2026-09-30"),
        "2.0": D("2027-03-31"),
        "2.1": D("2026-07-03"),
        "2.2": D("2026-11-06"),
        "2.3": D("2028-04-30"),
        "2.4": D("2027-04-26"),
    },
    "https://github.com/containerd/containerd/blob/main/RELEASES.md#support-horizon",
)

# CRI v1 is required from Kubernetes 1.26; first containerd patch of each line that serves it.
CRI_V1_FROM_K8S = "1.26"
CONTAINERD_CRI_V1 = Table(
    {"1.6": "1.6.15", "1.7": "1.7.0", "2": "2.0.0"},
    "containerd/containerd RELEASES.md 'Deprecated containerd and kubernetes versions'; "
    "docs/containerd-2.0.md",
)
CONTAINERD_MIN_FOR_K8S = Table(
    {"1.36": "2.2.0"},  # containerd 1.x support ends with Kubernetes 1.35
    "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions-standard.html (1.35: last with "
    "containerd 1.x); containerd RELEASES.md lists only 2.3.0+ and 2.2.0+ for 1.36",
)

# Config file version -> [first containerd that reads it, first containerd that no longer reads it).
CONTAINERD_CONFIG_VERSIONS = Table(
    {1: ("1.0.0", "2.0.0"), 2: ("1.3.0", None), 3: ("2.0.0", None), 4: ("2.3.0", None)},
    "https://github.com/containerd/containerd/blob/main/docs/cri/config.md (config versions); RELEASES.md",
)

# Config version each containerd line writes and reads without migrating (`containerd config default`).
# A lower version still loads, but containerd migrates it in memory at every start and logs
# "Configuration migrated from version N" (cmd/containerd/server/config/config.go, MigrateConfigTo).
CONTAINERD_NATIVE_CONFIG = Table(
    {"1.6": 2, "1.7": 2, "2.0": 3, "2.1": 3, "2.2": 3, "2.3": 4, "2.4": 4},
    "containerd/containerd version/version.go ConfigVersion at v2.0.7, v2.1.5, v2.2.7 (3), v2.3.0, "
    "v2.3.4, v2.4.0-beta.0 (4); v1.7.34 cmd/containerd/command/config.go (Version = 2)",
)

# Where CRI settings live per config version (TOML table paths, exactly as written in config.toml).
CONTAINERD_CONFIG_PATHS = Table(
    {
        2: {
            "systemd_cgroup_table": 'plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options',
            "sandbox_image_table": 'plugins."io.containerd.grpc.v1.cri"',
            "sandbox_image_key": "sandbox_image",
            "cni_table": 'plugins."io.containerd.grpc.v1.cri".cni',
        },
        3: {
            "systemd_cgroup_table": "plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options",
            "sandbox_image_table": "plugins.'io.containerd.cri.v1.images'.pinned_images",
            "sandbox_image_key": "sandbox",
            "cni_table": "plugins.'io.containerd.cri.v1.runtime'.cni",
        },
        # v4 (containerd >= 2.3) keeps the v3 CRI tables.
        4: {
            "systemd_cgroup_table": "plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options",
            "sandbox_image_table": "plugins.'io.containerd.cri.v1.images'.pinned_images",
            "sandbox_image_key": "sandbox",
            "cni_table": "plugins.'io.containerd.cri.v1.runtime'.cni",
        },
    },
    "https://github.com/containerd/containerd/blob/main/docs/cri/config.md "
    "(Cgroup Driver; Full configuration)",
)

# runc line each containerd line ships (script/setup/runc-version, first and latest patch).
CONTAINERD_RUNC = Table(
    {
        "1.6": ("1.1", "1.3"),
        "1.7": ("1.1", "1.3"),
        "2.0": ("1.2", "1.3"),
        "2.1": ("1.3", "1.3"),
        "2.2": ("1.3", "1.3"),
        "2.3": ("1.4", "1.4"),
    },
    "containerd/containerd script/setup/runc-version per tag",
)

# Kubelet gets the cgroup driver from the CRI (KubeletCgroupDriverFromCRI, on by default) from these.
DRIVER_FROM_CRI = Table(
    {"k8s": "1.31", "containerd": "2.0.0"},
    "kubernetes/sig-release release-1.31 notes (beta, on); "
    "containerd docs/cri/config.md (supported from 2.0)",
)

# --- runc (versions.md §4) -------------------------------------------------------------------------

RUNC_RELEASED = Table(
    {
        "1.1": D("2022-01-17"),
        "1.2": D("2024-10-22"),
        "1.3": D("2025-04-30"),
        "1.4": D("2025-11-27"),
        "1.5": D("2026-06-19"),
    },
    "opencontainers/runc RELEASES.md, tags",
)
RUNC_SUPPORTED_LINES = 3  # latest, latest-1 (security + significant bugs), latest-2 (CVSS >= 7 only)

# --- Go requirements per component line (versions.md §2-§6): the go.mod `go` line -------------------

GO_MIN = Table(
    {
        "containerd": {
            "1.6": "1.23.0",
            "1.7": "1.19",
            "2.0": "1.22.0",
            "2.1": "1.23.0",
            "2.2": "1.24.3",
            "2.3": "1.26.2",
        },
        "runc": {"1.1": "1.16", "1.2": "1.22", "1.3": "1.23.0", "1.4": "1.24.0", "1.5": "1.25.0"},
        "cri-tools": {
            "1.32": "1.23.0",
            "1.33": "1.24.1",
            "1.34": "1.24.1",
            "1.35": "1.25.0",
            "1.36": "1.26.2",
        },
        "cni-plugins": {"1.8": "1.24.2", "1.9": "1.24.2"},
        "cri-dockerd": {"0.3": "1.24.9", "0.4": "1.23.7"},
    },
    "go.mod of each tag: containerd/containerd, opencontainers/runc, kubernetes-sigs/cri-tools, "
    "containernetworking/plugins, Mirantis/cri-dockerd",
)

# Components that become node binaries (built from source in a source build). Images (etcd, pause,
# CoreDNS, flannel) are pulled by the cluster and never built by BitBake.
BUILT = ("kubernetes", "cri-tools", "containerd", "runc", "cni-plugins")
BUILT_DOCKER = ("docker", "cri-dockerd")

# --- Yocto (versions.md §7, §8) --------------------------------------------------------------------

YOCTO = Table(
    # series: (version, Go in OE-core meta/recipes-devtools/go, end of support). Ends are derived from the
    # documented policy (stable: 7 months, LTS: 4 years) and month-precise: the last day of that month.
    {
        "kirkstone": ("4.0", "1.17.13", D("2026-04-30")),
        "scarthgap": ("5.0", "1.22.12", D("2028-04-30")),
        "styhead": ("5.1", "1.22.12", D("2025-04-30")),
        "walnascar": ("5.2", "1.24.6", D("2025-11-30")),
        "whinlatter": ("5.3", "1.25.9", D("2026-06-30")),
        "wrynose": ("6.0", "1.26.5", D("2030-04-30")),
        "master": ("next", "1.26.6", None),  # development branch (next: "blacksail")
    },
    "openembedded/openembedded-core branch heads meta/recipes-devtools/go/; "
    "yocto-docs documentation/ref-manual/release-process.rst",
)

# LAYERSERIES_COMPAT of each layer branch the matrix may pin.
LAYER_COMPAT = Table(
    {
        "poky": {s: [s] for s in ("kirkstone", "scarthgap", "styhead", "walnascar")},
        # From whinlatter on, meta-openembedded also declares the previous series (every sub-layer:
        # meta-oe, meta-python, meta-networking, meta-filesystems alike).
        "meta-openembedded": {
            **{s: [s] for s in ("kirkstone", "scarthgap", "styhead", "walnascar")},
            "whinlatter": ["walnascar", "whinlatter"],
            "wrynose": ["whinlatter", "wrynose"],
            "master": ["whinlatter", "wrynose"],
        },
        "meta-virtualization": {
            "kirkstone": ["kirkstone"],
            "scarthgap": ["nanbield", "scarthgap"],
            "styhead": ["styhead"],
            "walnascar": ["styhead", "walnascar"],
            "whinlatter": ["whinlatter"],
            "wrynose": ["wrynose"],
            "master": ["wrynose"],
        },
        "meta-renesas": {
            "scarthgap": ["scarthgap"],
            "scarthgap-dev": ["scarthgap"],
            "styhead-dev": ["scarthgap"],
            "kirkstone-dev": ["kirkstone"],
            "dunfell": ["dunfell"],
        },
    },
    "conf/layer.conf LAYERSERIES_COMPAT_* of: yoctoproject/poky, openembedded/meta-openembedded "
    "(meta-oe/conf/layer.conf at whinlatter f52f3295, wrynose 6bf0d8ad, master 43fd2c88), "
    "git.yoctoproject.org/meta-virtualization (lmp-mirrors mirror), renesas-rcar/meta-renesas",
)

# cgroup v2 host requirements.
CGROUP_V2 = Table(
    {"from_k8s": "1.35", "kernel": "5.8", "systemd": "244"},
    "kubernetes/sig-release release-1.35 notes (failCgroupV1 true by default); "
    "https://kubernetes.io/docs/concepts/architecture/cgroups/ (kernel >= 5.8); "
    "opencontainers/runc docs/cgroup-v2.md (systemd >= 244 recommended)",
)

DOCKERSHIM_REMOVED = Table(
    "1.24",
    "https://github.com/kubernetes/enhancements/blob/master/keps/sig-node/2221-remove-dockershim/kep.yaml",
)


# --- what a new Kubernetes minor needs before `matrix update` may add its row -----------------------

# Without these entries no rule can check the new row's containerd (R7), pause and CoreDNS (R17) or
# etcd (R18); `matrix update` refuses the minor and names what is missing.
PER_MINOR: dict[str, tuple[Table, str]] = {
    "CONTAINERD_K8S": (CONTAINERD_K8S, "containerd's Kubernetes support table"),
    "PAUSE": (PAUSE, "kubeadm's pause image (PauseVersion)"),
    "COREDNS": (COREDNS, "kubeadm's CoreDNSVersion"),
    "ETCD_LINE": (ETCD_LINE, "kubeadm's SupportedEtcdVersion line"),
}


def missing_for_minor(minor: str) -> list[str]:
    """The per-minor fact tables with no entry for ``minor``, as "NAME (what it is)"."""
    return [f"{name} ({what})" for name, (table, what) in PER_MINOR.items() if minor not in table.data]
