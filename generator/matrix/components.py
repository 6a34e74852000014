"""The components a matrix row may hold: the one list model, schema and the image code ask.

It sits below both ``model`` and ``schema`` so neither has to import the other for it.
"""

from __future__ import annotations

# Every component a row may hold, in display order.
COMPONENTS = (
    "kubernetes",
    "cri-tools",
    "containerd",
    "runc",
    "cni-plugins",
    "flannel",
    "etcd",
    "pause",
    "coredns",
    "docker",
    "cri-dockerd",
)

# The docker runtime profile (docker, cri-dockerd) is optional: R19 judges what is missing.
OPTIONAL_COMPONENTS = ("docker", "cri-dockerd")
REQUIRED_COMPONENTS = tuple(c for c in COMPONENTS if c not in OPTIONAL_COMPONENTS)

# Components that are container images the cluster pulls (never built by BitBake), in the order the
# registry step of `matrix update` visits them. The images a node preloads per role: images/catalog.py.
IMAGE_COMPONENTS = ("pause", "coredns", "etcd", "flannel")

# The kube-* images kubeadm deploys, recorded under kubernetes.images (kube-proxy on every node).
KUBE_IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
