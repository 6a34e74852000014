SUMMARY = "Kubernetes worker node image: boots ready for kubeadm join"
DESCRIPTION = "Kubernetes worker node for Renesas R-Car H3 (h3ulcb) or qemuarm64 with the \
meta-rcar-k8s stack selected by RCAR_K8S_VERSION."

RCAR_K8S_PACKAGEGROUP = "packagegroup-rcar-k8s-node"
RCAR_K8S_QEMU_MEM = "2048"

require rcar-k8s-image.inc
