SUMMARY = "Kubernetes control-plane node image: boots ready for kubeadm init"
DESCRIPTION = "Kubernetes control-plane node for Renesas R-Car H3 (h3ulcb) or qemuarm64 with the \
meta-rcar-k8s stack selected by RCAR_K8S_VERSION (etcd, apiserver, scheduler run as kubeadm static pods)."

RCAR_K8S_PACKAGEGROUP = "packagegroup-rcar-k8s-control-plane"
RCAR_K8S_QEMU_MEM = "4096"

require rcar-k8s-image.inc
