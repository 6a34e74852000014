SUMMARY = "Kubernetes control-plane node stack of meta-rcar-k8s"
DESCRIPTION = "The worker stack plus what a control-plane node needs for kubeadm init and etcd \
               operations (etcdctl, etcdutl); etcd and the API server run as kubeadm static pods."
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile - a packagegroup has no sources
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

inherit packagegroup features_check rcar_k8s_arm64

REQUIRED_DISTRO_FEATURES = "systemd seccomp"

RDEPENDS:${PN} = " \
    etcdctl \
    etcdutl \
    packagegroup-rcar-k8s-node \
"
# >>> other meta-rcar-k8s recipes for control-plane nodes go here (etcd-tmpfs, kubeadm-config):
#     RDEPENDS:${PN} += "<package>"  -- one line per recipe, with a comment why
# etcd-tmpfs: etcd's data on tmpfs, restored before kubelet, snapshots on a timer and at shutdown;
# kubeadm-config: /etc/kubernetes/kubeadm/init.yaml (k8s-init's --config, etcd tuned) and join.yaml.in
# nooelint: oelint.vars.dependsordered - appended in this block, one group per owner
RDEPENDS:${PN} += "etcd-tmpfs kubeadm-config"
# etcd-tmpfs's README, named by its units' Documentation= (${docdir} goes to ${PN}-doc)
# nooelint: oelint.vars.dependsordered - appended in this block, one group per owner
RDEPENDS:${PN} += "etcd-tmpfs-doc"
# k8s-join-init: first-boot `kubeadm init --config` when the config partition's cluster.env says so
# nooelint: oelint.vars.dependsordered - appended in this block, one group per owner
RDEPENDS:${PN} += "k8s-join-init"
# flannel-manifest: the pod network k8s-init applies after kubeadm init (matrix-pinned, air-gapped);
# RCAR_K8S_CNI = "none" leaves the pod network to the user
# nooelint: oelint.vars.mispell.unknown - this layer's own variable (classes/rcar_k8s_kernel.bbclass)
RCAR_K8S_CNI ??= "flannel"
# nooelint: oelint.vars.dependsordered - appended in this block, one group per owner
RDEPENDS:${PN} += "${@'flannel-manifest' if d.getVar('RCAR_K8S_CNI') == 'flannel' else ''}"
# nooelint: oelint.vars.mispell.unknown - this layer's own variable (docs/first-boot.md)
RCAR_K8S_AIRGAP ??= "0"
# nooelint: oelint.vars.dependsordered - appended in this block, one group per owner
RDEPENDS:${PN} += "${@'k8s-airgap-images-control-plane' if d.getVar('RCAR_K8S_AIRGAP') == '1' else ''}"
# <<<
