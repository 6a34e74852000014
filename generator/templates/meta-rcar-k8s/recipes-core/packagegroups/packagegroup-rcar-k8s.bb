SUMMARY = "Kubernetes node stacks of meta-rcar-k8s: worker and control plane"
DESCRIPTION = "packagegroup-rcar-k8s-node: everything a board needs to boot ready for kubeadm join. \
packagegroup-rcar-k8s-control-plane: the node plus what kubeadm init needs."
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile - a packagegroup has no sources
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

inherit packagegroup features_check

# kubelet needs systemd (cgroup driver) and containers need seccomp
REQUIRED_DISTRO_FEATURES = "systemd seccomp"

PACKAGES = "${PN}-node ${PN}-control-plane"

# Container runtime profile, from RCAR_K8S_CRI in conf/distro/rcar-k8s.conf
# nooelint: oelint.vars.mispell.unknown - this layer's own variable (conf/distro/rcar-k8s.conf)
RCAR_K8S_CRI ??= "containerd"
RCAR_K8S_CRI_PACKAGES = "${@ 'docker cri-dockerd-bin' if d.getVar('RCAR_K8S_CRI') == 'docker' else 'virtual-containerd'}"

RDEPENDS:${PN}-node = " \
    ${RCAR_K8S_CRI_PACKAGES} \
    ca-certificates \
    cni-plugins \
    conntrack-tools \
    crictl \
    ebtables \
    ethtool \
    iproute2 \
    iproute2-tc \
    ipset \
    iptables \
    k8s-node-config \
    kmod \
    kubeadm \
    kubectl \
    kubelet \
    socat \
    util-linux-mount \
    util-linux-nsenter \
    virtual-runc \
"
# >>> other meta-rcar-k8s recipes for every node go here (k8s-join, k8s-airgap-images):
#     RDEPENDS:${PN}-node += "<package>"  -- one line per recipe, with a comment why
# <<<

RDEPENDS:${PN}-control-plane = " \
    ${PN}-node \
    etcdctl \
    etcdutl \
"
# >>> other meta-rcar-k8s recipes for control-plane nodes go here (etcd-tmpfs, kubeadm-config):
#     RDEPENDS:${PN}-control-plane += "<package>"  -- one line per recipe, with a comment why
# <<<

# kernel modules kubelet, kube-proxy and CNI plugins load (built-in is fine too)
RRECOMMENDS:${PN}-node = " \
    kernel-modules \
"
