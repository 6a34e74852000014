"""Values the kubeadm-config templates take from a matrix row (one place, so tests check the same).

kubeadm's config API: v1beta4 from Kubernetes 1.31 (``extraArgs`` is a list of ``{name, value}``,
timeouts live in ``InitConfiguration.timeouts``); v1beta3 before (``extraArgs`` is a map).
"""

from __future__ import annotations

from generator.etcd import tuning
from generator.matrix.model import Row
from generator.version import parse

V1BETA4_FROM = parse("1.31")


def api_version(row: Row) -> str:
    return "kubeadm.k8s.io/v1beta4" if parse(row.minor) >= V1BETA4_FROM else "kubeadm.k8s.io/v1beta3"


def uses_arg_list(row: Row) -> bool:
    return api_version(row).endswith("v1beta4")


def kubernetes_version(row: Row) -> str:
    return "v" + row.kubernetes


def split_image(image: str) -> tuple[str, str]:
    """``registry.k8s.io/etcd:3.6.8-0`` -> (``registry.k8s.io``, ``3.6.8-0``)."""
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        raise ValueError(f"image '{image}' has no tag")
    repo = name.rpartition("/")[0]
    return repo, tag


def image_repository(row: Row) -> str:
    """Where kubeadm pulls kube-* images: the repository of the row's kube-apiserver image."""
    images = row.comp("kubernetes").get("images") or {}
    api = (images.get("kube-apiserver") or {}).get("image")
    return split_image(api)[0] if api else "registry.k8s.io"


def etcd_image(row: Row) -> tuple[str, str]:
    return split_image(row.comp("etcd")["image"])


def etcd_args() -> tuple[tuning.EtcdArg, ...]:
    return tuning.EXTRA_ARGS
