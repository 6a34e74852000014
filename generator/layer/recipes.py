"""Facts the recipe templates need, computed from a matrix row (so templates stay declarative).

Recipe naming: every component recipe carries a ``-bin`` suffix (``kubernetes-bin``, ``containerd-bin``,
...), because meta-virtualization already owns the plain names (``kubernetes``, ``containerd-opencontainers``,
``runc-opencontainers``, ``cni``, ``cri-tools``) and a layer must not shadow another layer's recipes. The
suffix names the default build (upstream release artifacts); ``RCAR_K8S_BUILD = "source"`` rebuilds the same
recipe from the pinned git commit when the toolchain allows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generator.matrix.model import Row

APACHE_MD5 = "89aea4e17d99a7cacdbeed46a0096b10"  # poky scarthgap meta/files/common-licenses/Apache-2.0


@dataclass(frozen=True)
class Component:
    pn: str  # recipe name
    matrix: str  # matrix component
    summary: str
    homepage: str
    cve_product: str
    go_packages: str  # source build: what `go build` compiles (empty: source build not offered)
    no_source_why: str = ""


COMPONENTS: dict[str, Component] = {
    c.pn: c
    for c in (
        Component(
            "kubernetes-bin",
            "kubernetes",
            "Kubernetes node binaries: kubeadm, kubelet, kubectl",
            "https://kubernetes.io/",
            "kubernetes:kubernetes",
            "./cmd/kubeadm ./cmd/kubelet ./cmd/kubectl",
        ),
        Component(
            "containerd-bin",
            "containerd",
            "containerd container runtime",
            "https://containerd.io/",
            "linuxfoundation:containerd",
            "./cmd/containerd ./cmd/containerd-shim-runc-v2 ./cmd/ctr",
        ),
        Component(
            "runc-bin",
            "runc",
            "runc: the OCI container runtime containerd starts",
            "https://github.com/opencontainers/runc",
            "linuxfoundation:runc",
            ".",
        ),
        Component(
            "cni-plugins-bin",
            "cni-plugins",
            "CNI reference plugins (bridge, host-local, loopback, portmap...)",
            "https://www.cni.dev/",
            "linuxfoundation:cni_network_plugins",
            "./plugins/main/... ./plugins/ipam/... ./plugins/meta/...",
        ),
        Component(
            "cri-tools-bin",
            "cri-tools",
            "crictl: CLI for CRI runtimes (kubeadm preflight uses it)",
            "https://github.com/kubernetes-sigs/cri-tools",
            "kubernetes:cri-tools",
            "./cmd/crictl",
        ),
        Component(
            "etcd-bin",
            "etcd",
            "etcdctl and etcdutl: etcd client and offline tools",
            "https://etcd.io/",
            "etcd-io:etcd redhat:etcd",
            "",
            no_source_why="etcdctl and etcdutl are separate Go modules without a vendor directory; "
            "an offline source build is not offered",
        ),
        Component(
            "cri-dockerd-bin",
            "cri-dockerd",
            "cri-dockerd: CRI shim for Docker Engine (docker profile)",
            "https://mirantis.github.io/cri-dockerd/",
            "mirantis:cri-dockerd",
            "./",
        ),
    )
}


def comp(name: str) -> Component:
    return COMPONENTS[name]


def pv(row: Row, pn: str) -> str:
    return row.version(COMPONENTS[pn].matrix)


def artifacts(row: Row, pn: str) -> list[tuple[str, dict]]:
    """(artifact name, artifact dict) of a component, in matrix order."""
    c = row.comp(COMPONENTS[pn].matrix)
    return list((c.get("artifacts") or {}).items())


def unconfirmed(row: Row, pn: str) -> list[str]:
    """Artifacts of the component whose sha256 the matrix could not confirm (null)."""
    return [name for name, art in artifacts(row, pn) if not art.get("sha256")]


def download_name(url: str, version: str) -> str:
    """A DL_DIR name that is unique per version (dl.k8s.io serves every version as plain ``kubeadm``)."""
    base = url.rsplit("/", 1)[-1]
    return base if version in base else f"{base}-v{version}-linux-arm64"


def uri_version(url: str, version: str) -> str:
    """The URL with the version replaced by ${PV} (oelint: SRC_URI should not hard-code the version)."""
    return url.replace(version, "${PV}")


def git(row: Row, pn: str) -> dict:
    return row.comp(COMPONENTS[pn].matrix).get("git") or {}


def git_uri(row: Row, pn: str) -> str:
    repo = git(row, pn).get("repo", "")
    m = re.match(r"https://(.+?)(\.git)?$", repo)
    return f"git://{m.group(1)}.git;protocol=https;nobranch=1" if m else ""


def go_min(row: Row, pn: str) -> str:
    return str(row.comp(COMPONENTS[pn].matrix).get("go") or "")


def header(row: Row, pn: str, provides: str = "", files: tuple[str, ...] = ()) -> str:
    """The common, ordered head of a component recipe: metadata, sources, pins, refusals.

    An artifact whose sha256 the matrix could not confirm is left out of SRC_URI (and listed in
    RCAR_K8S_UNCONFIRMED, which makes the recipe refuse at parse time): nothing unpinned is fetched.
    """
    c = COMPONENTS[pn]
    version = pv(row, pn)
    g = git(row, pn)
    lines = [
        f'SUMMARY = "{c.summary}"',
        f'DESCRIPTION = "{c.summary}, version {version}: the upstream linux/arm64 release, checked by the \\',
        'sha256 recorded in the meta-rcar-k8s version matrix."',
        f'HOMEPAGE = "{c.homepage}"',
        'LICENSE = "Apache-2.0"',
        "# Raw release binaries carry no license text; the common Apache-2.0 text is the reference.",
        "# nooelint: oelint.var.licenseremotefile - prebuilt artifacts: no license file to point at",
        f'LIC_FILES_CHKSUM = "file://${{COMMON_LICENSE_DIR}}/Apache-2.0;md5={APACHE_MD5}"',
        "",
    ]
    if provides:
        lines += [
            f"# meta-virtualization's recipes provide {provides} too; conf/rcar-k8s/*.inc prefers this one",
            f'PROVIDES += "{provides}"',
            "",
        ]
    src, sums, missing = [], [], []
    for name, art in artifacts(row, pn):
        url = art["url"]
        dl = download_name(url, version)
        params = f";name={name};subdir=${{BP}}"
        if dl != url.rsplit("/", 1)[-1]:
            params += f";downloadfilename={uri_version(dl, version)}"
        if art.get("sha256"):
            src.append(f"{uri_version(url, version)}{params}")
            sums.append(f'SRC_URI[{name}.sha256sum] = "{art["sha256"]}"')
        else:
            missing.append(f"#   {url} (hash: {art.get('sha256_source', '?')})")
    src += [f"file://{f}" for f in files]
    if missing:
        lines += [
            "# Left out: the matrix has no confirmed sha256 for (the recipe refuses to parse):",
            *missing,
        ]
    if not src:
        lines.append('SRC_URI = ""')
    elif len(src) == 1:
        lines.append(f'SRC_URI = "{src[0]}"')
    else:
        lines.append('SRC_URI = "' + " \\\n           ".join(src) + ' \\\n"')
    lines += sums
    lines += [
        "",
        f'CVE_PRODUCT = "{c.cve_product}"',
        "",
        "# matrix facts the rcar_k8s_component class checks at parse time",
        f'RCAR_K8S_UNCONFIRMED = "{" ".join(unconfirmed(row, pn))}"',
        f'RCAR_K8S_GIT_URI = "{git_uri(row, pn)}"',
        f'RCAR_K8S_GIT_TAG = "{g.get("tag") or ""}"',
        f'RCAR_K8S_GIT_COMMIT = "{g.get("commit") or ""}"',
        f'RCAR_K8S_GO_MIN = "{go_min(row, pn)}"',
        f'RCAR_K8S_GO_PACKAGES = "{c.go_packages}"',
    ]
    if c.no_source_why:
        lines.append(f'RCAR_K8S_NO_SOURCE_WHY = "{c.no_source_why}"')
    lines += ["", "inherit rcar_k8s_component"]
    return "\n".join(lines)
