SUMMARY = "Kubernetes worker node stack of meta-rcar-k8s"
DESCRIPTION = "Everything a board needs to boot ready for kubeadm join: kubeadm, kubelet, the container \
               runtime selected by RCAR_K8S_CRI, CNI plugins, the node configuration and kubeadm's preflight tools."
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile - a packagegroup has no sources
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

inherit packagegroup features_check rcar_k8s_arm64

# kubelet needs systemd (cgroup driver) and containers need seccomp
REQUIRED_DISTRO_FEATURES = "systemd seccomp"

# Container runtime profile, from RCAR_K8S_CRI in conf/distro/rcar-k8s.conf
# nooelint: oelint.vars.mispell.unknown - this layer's own variable (conf/distro/rcar-k8s.conf)
RCAR_K8S_CRI ??= "containerd"
RCAR_K8S_CRI_PACKAGES = "${@ 'docker cri-dockerd-bin' if d.getVar('RCAR_K8S_CRI') == 'docker' else 'virtual-containerd'}"

RDEPENDS:${PN} = " \
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
#     RDEPENDS:${PN} += "<package>"  -- one line per recipe, with a comment why
# k8s-join: first-boot `kubeadm join` from the join file on the config partition (no token in the image)
# nooelint: oelint.vars.dependsordered - appended in this block, one group per owner
RDEPENDS:${PN} += "k8s-join"
# rcar-k8s-access: the admin user with SSH keys (build time or config partition) and sudo
# nooelint: oelint.vars.dependsordered - appended in this block, one group per owner
RDEPENDS:${PN} += "rcar-k8s-access"
# the READMEs the units name in Documentation= and join.env.example: ${docdir} goes to ${PN}-doc
# nooelint: oelint.vars.dependsordered - appended in this block, one group per owner
RDEPENDS:${PN} += "k8s-join-doc k8s-node-config-doc"
# RCAR_K8S_AIRGAP = "1": the images kubeadm and flannel need, imported before the kubelet starts
# (needs image digests in the matrix; until then the recipe refuses at parse time, saying why)
# nooelint: oelint.vars.mispell.unknown - this layer's own variable (docs/first-boot.md)
RCAR_K8S_AIRGAP ??= "0"
# nooelint: oelint.vars.dependsordered - appended in this block, one group per owner
RDEPENDS:${PN} += "${@'k8s-airgap-images-worker' if d.getVar('RCAR_K8S_AIRGAP') == '1' else ''}"
# <<<

# kernel modules kubelet, kube-proxy and CNI plugins load (built-in is fine too)
RRECOMMENDS:${PN} = "kernel-modules"
