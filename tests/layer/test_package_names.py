"""Our binary packages never share a name with a package of meta-virtualization's recipes.

Two recipes emitting one package name collide in pkgdata (a `bitbake world` or any build that
parses both fails). meta-virtualization scarthgap's recipes-containers/kubernetes/kubernetes_git.bb
has `PACKAGES =+ "kubeadm kubectl kubelet kube-proxy ${PN}-misc ${PN}-host"`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import LAYER

MV = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror")) / "lmp-mirrors+meta-virtualization/repo"
PREPARE = "/work/.mirror/fetch.sh lmp-mirrors/meta-virtualization (a bare clone with branch scarthgap)"
MV_RECIPES = (
    "recipes-containers/kubernetes/kubernetes_git.bb",
    "recipes-containers/cri-tools/cri-tools_git.bb",
    "recipes-containers/containerd/containerd-opencontainers_git.bb",
    "recipes-containers/runc/runc-opencontainers_git.bb",
    "recipes-networking/cni/cni_git.bb",
)


def package_names(text: str, pn: str) -> set[str]:
    """PN plus every name a `PACKAGES =+`/`+=`/`=` line adds, ${PN} expanded."""
    names = {pn}
    joined = text.replace("\\\n", " ")
    for m in re.finditer(r'^PACKAGES\s*(?:=\+|\+=|=|:prepend\s*=|:append\s*=)\s*"([^"]*)"', joined, re.M):
        names.update(n.replace("${PN}", pn) for n in m.group(1).split())
    return {n for n in names if "$" not in n}


def ours() -> dict[str, set[str]]:
    out = {}
    for bb in LAYER.rglob("*.bb"):
        pn = bb.name.split("_")[0].removesuffix(".bb")
        out[str(bb.relative_to(LAYER))] = package_names(bb.read_text(), pn)
    return out


def test_kubernetes_bin_packages_have_names_of_their_own_and_provide_the_tools():
    for bb in sorted(LAYER.glob("recipes-kubernetes/kubernetes-bin/kubernetes-bin_*.bb")):
        text = bb.read_text()
        names = package_names(text, "kubernetes-bin")
        assert not names & {"kubeadm", "kubelet", "kubectl"}, names
        for tool in ("kubeadm", "kubelet", "kubectl"):
            assert f'RPROVIDES:${{PN}}-{tool} = "{tool}"' in text
        assert 'SYSTEMD_PACKAGES = "${PN}-kubelet"' in text
    for inc in sorted(LAYER.glob("conf/rcar-k8s/k8s-*.inc")):
        for tool in ("kubeadm", "kubelet", "kubectl"):
            assert f'PREFERRED_RPROVIDER_{tool} ?= "kubernetes-bin"' in inc.read_text()


def test_no_package_name_shared_with_meta_virtualization():
    if not (MV / "HEAD").is_file():
        pytest.skip(f"skipped: meta-virtualization mirror not at {MV} (prepare with: {PREPARE})")
    theirs: dict[str, set[str]] = {}
    for path in MV_RECIPES:
        text = subprocess.run(
            ["git", f"--git-dir={MV}", "show", f"scarthgap:{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        theirs[path] = package_names(text, Path(path).name.split("_")[0])
    assert {"kubeadm", "kubelet", "kubectl"} <= theirs["recipes-containers/kubernetes/kubernetes_git.bb"]
    clashes = [
        (mine, their, sorted(a & b)) for mine, a in ours().items() for their, b in theirs.items() if a & b
    ]
    assert not clashes, clashes
