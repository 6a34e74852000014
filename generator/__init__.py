"""rcar-k8s: proven-compatible Kubernetes node stacks for Renesas R-Car, as a Yocto layer."""

__version__ = "0.1.0"
