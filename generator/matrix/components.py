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
