"""Which container images a node role needs for a Kubernetes minor, pinned by digest from the matrix.

kubeadm pulls pause, kube-proxy and CoreDNS for every node and etcd plus the three control-plane
images for `kubeadm init`; the CNI adds its DaemonSet images. Preloading exactly these into
containerd's ``k8s.io`` namespace is what makes join and init pull nothing (the 30-minute R-Car
deploys were mostly image pulls onto slow storage).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from generator.errors import UserError
from generator.kasfiles import check_role
from generator.matrix.components import KUBE_IMAGES
from generator.matrix.model import Matrix, Row

CNIS = ("flannel", "none")

_CONTROL_PLANE = tuple(n for n in KUBE_IMAGES if n != "kube-proxy")

# Why a node preloads each row component that is an image (the list: matrix/components.py).
_WHY = {
    "pause": "sandbox image of every pod (kubeadm's pause for this minor)",
    "coredns": "cluster DNS; kubeadm deploys it, it may schedule on any node",
    "etcd": "kubeadm's static-pod etcd for this minor",
    "flannel": "flannel DaemonSet (VXLAN pod network)",
}


@dataclass(frozen=True)
class Image:
    name: str  # short name, also the archive name on the node
    ref: str  # registry/repo:tag
    digest: str | None  # multi-arch index digest (sha256:…) or None when unconfirmed
    arm64: dict[str, Any] | None  # {manifest, config, layers[]} digests for linux/arm64, when recorded
    why: str
    unconfirmed: str | None

    @property
    def pinned_ref(self) -> str:
        return f"{self.ref}@{self.digest}" if self.digest else self.ref

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pinned_ref"] = self.pinned_ref
        return data


def _image(name: str, entry: dict[str, Any], why: str) -> Image:
    return Image(
        name=name,
        ref=str(entry["image"]),
        digest=entry.get("digest"),
        arm64=entry.get("arm64"),
        why=why,
        unconfirmed=None
        if entry.get("digest")
        else (
            entry.get("image_unconfirmed") or entry.get("unconfirmed") or "digest not recorded in the matrix"
        ),
    )


def _component(row: Row, name: str) -> Image:
    """The image a row component pins (one of IMAGE_COMPONENTS)."""
    return _image(name, row.comp(name), _WHY[name])


def node_images(matrix: Matrix, row: Row, role: str, cni: str = "flannel", ha: bool = False) -> list[Image]:
    """Images for ``role`` on Kubernetes ``row.minor`` with ``cni``; ``ha`` adds kube-vip (control plane)."""
    check_role(role)
    if cni not in CNIS:
        raise UserError(f"unknown CNI '{cni}'; images are pinned for: {', '.join(CNIS)}")
    k8s = row.comp("kubernetes")
    kimg = k8s.get("images") or {}
    images = [
        _component(row, "pause"),
        _image("kube-proxy", kimg["kube-proxy"], "kube-proxy DaemonSet, runs on every node"),
        _component(row, "coredns"),
    ]
    if role == "control-plane":
        images.append(_component(row, "etcd"))
        images += [_image(n, kimg[n], "static pod started by kubeadm init") for n in _CONTROL_PLANE]
        if ha:
            images.append(
                _image(
                    "kube-vip",
                    matrix.data["addons"]["kube-vip"],
                    "static pod holding the HA API endpoint (VIP)",
                )
            )
    if cni == "flannel":
        fl = row.comp("flannel")
        images.append(_component(row, "flannel"))
        images.append(
            _image("flannel-cni-plugin", fl["cni_plugin_image"], "flannel init container (CNI binary)")
        )
    return images


def cni_manifest(row: Row, cni: str = "flannel") -> dict[str, Any] | None:
    """The pinned manifest k8s-init applies for ``cni`` (None: ``none``, the user brings one)."""
    if cni == "none":
        return None
    return dict(row.comp(cni)["manifest"])


def manifest_image_mismatch(matrix: Matrix, row: Row, cni: str = "flannel") -> tuple[list[str], list[str]]:
    """(in the manifest but not preloaded, preloaded for the CNI but not in the manifest).

    Air-gapped means every image the manifest names is in the node's image archives, and every
    CNI image the archives carry is one the manifest uses; both lists empty is the only good answer.
    """
    manifest = cni_manifest(row, cni)
    if manifest is None:
        return [], []
    base = {i.ref for i in node_images(matrix, row, "worker", "none")}
    preloaded = {i.ref for i in node_images(matrix, row, "worker", cni)} - base
    named = {str(r) for r in manifest["images"]}
    return sorted(named - preloaded), sorted(preloaded - named)


def unconfirmed(images: list[Image]) -> list[Image]:
    return [i for i in images if i.digest is None]


def addon_ref(matrix: Matrix, name: str) -> str:
    """The pinned reference of a cluster add-on image (digest when recorded, else the tag)."""
    entry = matrix.data["addons"][name]
    return f"{entry['image']}@{entry['digest']}" if entry.get("digest") else str(entry["image"])


def blob_url(ref: str, digest: str, kind: str = "blobs") -> tuple[str, str]:
    """(host, path) of content by digest: ``/v2/<repo>/manifests/<d>`` or ``/v2/<repo>/blobs/<d>``."""
    name = ref.split("@", 1)[0].rsplit(":", 1)[0]
    host, repo = name.split("/", 1)
    return host, f"/v2/{repo}/{kind}/{digest}"


def archive_name(image: Image) -> str:
    return f"{image.name}.oci.tar"


def split_roles(matrix: Matrix, row: Row, cni: str = "flannel") -> dict[str, list[Image]]:
    """Images per package: what every node needs, and what only a control plane adds."""
    worker = node_images(matrix, row, "worker", cni)
    names = {i.name for i in worker}
    extra = [i for i in node_images(matrix, row, "control-plane", cni, ha=True) if i.name not in names]
    return {"worker": worker, "control-plane": extra}
