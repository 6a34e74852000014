SUMMARY = "Preloaded container images for Kubernetes 1.35.8 nodes"
DESCRIPTION = "OCI archives of the images kubeadm and the flannel CNI need (pinned by digest in the \
meta-rcar-k8s matrix), fetched blob by blob from the registries and imported into containerd's \
k8s.io namespace by k8s-images-import.service before the kubelet first starts."
HOMEPAGE = "https://github.com/rcar-k8s/meta-rcar-k8s"
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile - scripts of this layer, MIT like the layer (COPYING.MIT)
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Generated from the matrix by `rcar-k8s generate`; the image list is `rcar-k8s images list --k8s 1.35`.
SRC_URI = "file://k8s-images-import file://k8s-images-import.service file://k8s-images-required.conf \
           file://oci-archive-from-blobs"

# Not buildable yet: these image digests are unconfirmed in the matrix, and an image fetched by
# tag is not reproducible. Run `rcar-k8s matrix update` on a connected host, then `rcar-k8s generate`.
# nooelint: oelint.task.noanonpython - refusing at parse time is the point: no unpinned fetch
python __anonymous() {
    raise bb.parse.SkipRecipe("air-gapped images for Kubernetes 1.35.8 are not pinned: digest unconfirmed for registry.k8s.io/pause:3.10.1, registry.k8s.io/kube-proxy:v1.35.8, registry.k8s.io/coredns/coredns:v1.12.4, ghcr.io/flannel-io/flannel:v0.28.9, ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3, registry.k8s.io/etcd:3.6.6-0, registry.k8s.io/kube-apiserver:v1.35.8, registry.k8s.io/kube-controller-manager:v1.35.8, registry.k8s.io/kube-scheduler:v1.35.8, ghcr.io/kube-vip/kube-vip:v1.2.3; run 'rcar-k8s matrix update' then 'rcar-k8s generate'")
}

S = "${WORKDIR}"

inherit systemd allarch rcar_k8s_arm64

PACKAGES = "${PN}-worker ${PN}-control-plane ${PN}"
SYSTEMD_PACKAGES = "${PN}"
SYSTEMD_SERVICE:${PN} = "k8s-images-import.service"

# Each role package carries its own lock: a worker lists only the archives it installs.
FILES:${PN}-worker += "${datadir}/rcar-k8s/images/images-worker.lock ${datadir}/rcar-k8s/images/pause.oci.tar ${datadir}/rcar-k8s/images/kube-proxy.oci.tar ${datadir}/rcar-k8s/images/coredns.oci.tar ${datadir}/rcar-k8s/images/flannel.oci.tar ${datadir}/rcar-k8s/images/flannel-cni-plugin.oci.tar "
FILES:${PN}-control-plane += "${datadir}/rcar-k8s/images/images-control-plane.lock ${datadir}/rcar-k8s/images/etcd.oci.tar ${datadir}/rcar-k8s/images/kube-apiserver.oci.tar ${datadir}/rcar-k8s/images/kube-controller-manager.oci.tar ${datadir}/rcar-k8s/images/kube-scheduler.oci.tar ${datadir}/rcar-k8s/images/kube-vip.oci.tar "
FILES:${PN} += "${libexecdir}/rcar-k8s/k8s-images-import ${systemd_system_unitdir}/k8s-images-import.service \
                ${systemd_system_unitdir}/*.service.d/30-rcar-k8s-images.conf"
RDEPENDS:${PN} = "bash coreutils virtual-containerd"
RDEPENDS:${PN}-worker = "${PN}"
RDEPENDS:${PN}-control-plane = "${PN} ${PN}-worker"
