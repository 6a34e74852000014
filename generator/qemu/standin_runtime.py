"""The pinned runtime in the stand-in: Debian's containerd/runc out, the row's test builds and layer files in.

``rcar-k8s runtime-build`` makes containerd, runc, the CNI plugins and crictl from their tags (test
builds, never shipped). This module lays them into the stand-in at the paths the layer's recipes
install them (containerd-bin, runc-bin: ${bindir}; cni-plugins-bin: /opt/cni/bin; cri-tools-bin:
${bindir}), with the layer's own containerd.service and the k8s-airgap-images recipe's
k8s-images-import script + unit. The layer's config.toml and crictl.yaml come with the node files.

What the layer does not ship, and what stands in for it (reported as notes):
- the CNI configuration: on a cluster flannel's DaemonSet writes 10-flannel.conflist, and the
  flannel CNI plugin (flannel-io/cni-plugin, not mirrored here, so not built) hands bridge +
  host-local a delegate config derived from flanneld's /run/flannel/subnet.env. The stand-in writes
  that delegate config directly (``FLANNEL_DELEGATE`` for a subnet.env of 10.244.0.1/24, MTU 1450,
  FLANNEL_IPMASQ=true), so the CNI plugins we ship give the pod its address;
- the images: our own test pause (tagged with the row's real pause ref) and a busybox test image,
  packed by the layer's oci-archive-from-blobs (``generator.qemu.airgap``);
- /usr/share/rcar-k8s-test/{pod,container}.json: the sandbox/container configs crictl uses.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from generator import paths
from generator.matrix.model import Row
from generator.qemu import airgap
from generator.runtime import build as rb

CONTAINERD_UNIT = "meta-rcar-k8s/recipes-containers/containerd-bin/files/containerd.service"
UNITDIR = "/usr/lib/systemd/system"
TEST_DIR = "/usr/share/rcar-k8s-test"
POD_SLICE = "kubepods-besteffort-podrcark8stest.slice"  # the shape of kubelet's pod cgroup parent
# Debian's containerd 1.6 and runc 1.1 (bookworm packages): removed so that only the test builds run
DEBIAN_RUNTIME = (
    "/usr/bin/containerd",
    "/usr/bin/containerd-shim",
    "/usr/bin/containerd-shim-runc-v1",
    "/usr/bin/containerd-shim-runc-v2",
    "/usr/bin/ctr",
    "/usr/sbin/runc",
)
# What flannel's CNI plugin delegates to bridge for subnet.env FLANNEL_SUBNET=10.244.0.1/24,
# FLANNEL_NETWORK=10.244.0.0/16, FLANNEL_MTU=1450, FLANNEL_IPMASQ=true (flannel-io/cni-plugin
# flannel_linux.go: isDefaultGateway/hairpinMode from kube-flannel.yml's cni-conf.json, ipMasq = !IPMASQ)
FLANNEL_DELEGATE = {
    "name": "cbr0",
    "cniVersion": "0.3.1",
    "plugins": [
        {
            "type": "bridge",
            "name": "cni0",
            "mtu": 1450,
            "hairpinMode": True,
            "isDefaultGateway": True,
            "ipMasq": False,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "10.244.0.0/24"}]],
                "routes": [{"dst": "10.244.0.0/16"}],
            },
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}
CNI_CONF = "/etc/cni/net.d/10-flannel.conflist"


@dataclass
class RuntimeOverlay:
    files: dict[str, bytes] = field(default_factory=dict)  # the layer's files (checked byte for byte)
    payload: dict[str, bytes] = field(default_factory=dict)  # test builds and stand-ins
    modes: dict[str, int] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    enable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    info: dict[str, object] = field(default_factory=dict)


def _members(archive: Path) -> dict[str, bytes]:
    if not tarfile.is_tarfile(archive):
        return {archive.name.split(".")[0]: archive.read_bytes()}  # runc.arm64
    out = {}
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() else None
            if f is not None:
                out[m.name.removeprefix("./")] = f.read()
    return out


def binaries(builds: dict[str, rb.Built]) -> dict[str, bytes]:
    """Every binary at the path its recipe's do_install puts it."""
    out: dict[str, bytes] = {}
    for name, b in builds.items():
        for member, data in _members(b.archive).items():
            base = member.rsplit("/", 1)[-1]
            out[f"/opt/cni/bin/{base}" if name == "cni-plugins" else f"/usr/bin/{base}"] = data
    return out


def pod_configs(images: list[airgap.Image]) -> dict[str, bytes]:
    test = next(i.ref for i in images if i.ref == airgap.TEST_IMAGE)
    pod = {
        "metadata": {"name": "rcar-k8s-test", "namespace": "default", "uid": "rcark8stest", "attempt": 0},
        "hostname": "rcar-k8s-test",
        "log_directory": "/var/log/pods/rcar-k8s-test",
        "linux": {"cgroup_parent": POD_SLICE},
    }
    ctr = {
        "metadata": {"name": "sh"},
        "image": {"image": test},
        "command": ["/bin/sh", "-c", "while true; do /bin/busybox sleep 1; done"],
        "log_path": "sh.log",
        "linux": {},
    }
    return {
        f"{TEST_DIR}/pod.json": json.dumps(pod, indent=1).encode() + b"\n",
        f"{TEST_DIR}/container.json": json.dumps(ctr, indent=1).encode() + b"\n",
    }


def overlay(row: Row, builds: dict[str, rb.Built], debs: Path) -> RuntimeOverlay:
    root = paths.repo_root()
    ov = RuntimeOverlay()
    ov.remove = list(DEBIAN_RUNTIME)
    bins = binaries(builds)
    ov.payload.update(bins)
    ov.modes.update({p: 0o755 for p in bins})
    ov.files[f"{UNITDIR}/containerd.service"] = (root / CONTAINERD_UNIT).read_bytes()
    air = root / airgap.AIRGAP_FILES
    ov.files["/usr/libexec/rcar-k8s/k8s-images-import"] = (air / "k8s-images-import").read_bytes()
    ov.modes["/usr/libexec/rcar-k8s/k8s-images-import"] = 0o755
    ov.files[f"{UNITDIR}/k8s-images-import.service"] = (air / "k8s-images-import.service").read_bytes()
    ov.enable = ["containerd.service", "k8s-images-import.service"]
    images = airgap.test_images(str(row.comp("pause")["image"]), debs)
    ov.payload.update(airgap.overlay_files(images))
    ov.payload.update(pod_configs(images))
    ov.payload[CNI_CONF] = json.dumps(FLANNEL_DELEGATE, indent=2).encode() + b"\n"
    versions = ", ".join(f"{n} {b.manifest['tag']}" for n, b in builds.items())
    ov.notes += [
        f"runtime: TEST builds from source ({versions}; rcar-k8s runtime-build, never shipped) installed "
        "at the layer's recipe paths; Debian's containerd 1.6 and runc removed "
        f"({', '.join(DEBIAN_RUNTIME)}); the layer's containerd.service, config.toml and crictl.yaml",
        *(
            f"{n}: {b.manifest['commit_check']}"
            for n, b in builds.items()
            if not b.manifest.get("matrix_commit")
        ),
        "images: our own static test pause tagged "
        f"{row.comp('pause')['image']} (OCI manifest) and {airgap.TEST_IMAGE} (Docker schema 2), blobs laid "
        "out as a registry serves them (compact JSON, mediaType first), packed by the layer's "
        "oci-archive-from-blobs, imported at boot by the layer's k8s-images-import.service",
        f"CNI: the layer ships no CNI configuration (flannel's DaemonSet writes it; the flannel CNI plugin "
        f"is not built here): {CNI_CONF} is the bridge/host-local delegate config flannel would hand "
        "over for subnet.env FLANNEL_SUBNET=10.244.0.1/24 (flanneld stand-in), run by the CNI plugins "
        "we build",
    ]
    ov.info = {
        "runtime": {
            n: {k: b.manifest[k] for k in ("tag", "commit", "archive", "sha256")} for n, b in builds.items()
        },
        "images": [{"ref": i.ref, "digest": i.digest, "mediaType": i.media_type} for i in images],
        "test_build_note": rb.TEST_BUILD,
    }
    return ov
