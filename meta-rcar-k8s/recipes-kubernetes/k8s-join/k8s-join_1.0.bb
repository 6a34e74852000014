SUMMARY = "First-boot kubeadm join/init from a file on the config partition"
DESCRIPTION = "k8s-join.service runs kubeadm join once from join.env/join.yaml on the config \
partition (FAT, label RCAR-K8S), waits for the API server with backoff and deletes the token \
afterwards. k8s-init.service runs kubeadm init --config on a control plane whose cluster.env says \
K8S_INIT=1, optionally behind a kube-vip VIP. No token or key is part of the image."
HOMEPAGE = "https://github.com/rcar-k8s/meta-rcar-k8s"
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile - scripts of this layer, MIT like the layer (COPYING.MIT)
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

SRC_URI = " \
    file://k8s-join \
    file://k8s-join.service \
    file://k8s-init \
    file://k8s-init.service \
    file://kube-vip.yaml.in \
    file://join.env.example \
    file://cluster.env.example \
    file://README \
"

S = "${WORKDIR}"

inherit systemd allarch rcar_k8s_arm64

# nooelint: oelint.vars.mispell.unknown - the runtime profile's socket, decided in conf/distro/rcar-k8s.conf
RCAR_K8S_CRI_SOCKET ??= "unix:///run/containerd/containerd.sock"

# Where k8s-join looks for join.yaml/join.env and k8s-init for cluster.env, first match wins; one
# list for both scripts. The top level of the FAT config partition (generator/layer/disk_layout.py)
# is where the docs tell users to write; a rcar-k8s folder on it is still read because older
# instructions told users to make one for the files; /boot (root's, the single-partition layout)
# and /etc/rcar-k8s (files built into the image) come last.
# nooelint: oelint.vars.mispell.unknown - this layer's own variable
RCAR_K8S_JOIN_DIRS = "/boot/rcar-k8s /boot/rcar-k8s/rcar-k8s /boot ${sysconfdir}/rcar-k8s"

PACKAGES =+ "${PN}-init"

SYSTEMD_PACKAGES = "${PN} ${PN}-init"
SYSTEMD_SERVICE:${PN} = "k8s-join.service"
SYSTEMD_SERVICE:${PN}-init = "k8s-init.service"

do_install() {
    install -d ${D}${libexecdir}/rcar-k8s ${D}${systemd_system_unitdir} \
        ${D}${docdir}/${PN} ${D}${datadir}/rcar-k8s
    sed -e 's|@CRI_SOCKET@|${RCAR_K8S_CRI_SOCKET}|g' -e 's|@KUBEADM_API@|${RCAR_K8S_KUBEADM_API}|g' \
        -e 's|@JOIN_DIRS@|"${RCAR_K8S_JOIN_DIRS}"|g' \
        ${S}/k8s-join > ${D}${libexecdir}/rcar-k8s/k8s-join
    sed -e 's|@JOIN_DIRS@|"${RCAR_K8S_JOIN_DIRS}"|g' ${S}/k8s-init > ${D}${libexecdir}/rcar-k8s/k8s-init
    chmod 0755 ${D}${libexecdir}/rcar-k8s/k8s-join ${D}${libexecdir}/rcar-k8s/k8s-init
    install -m 0644 ${S}/k8s-join.service ${S}/k8s-init.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${S}/kube-vip.yaml.in ${D}${datadir}/rcar-k8s/
    install -m 0644 ${S}/README ${S}/join.env.example ${S}/cluster.env.example ${D}${docdir}/${PN}/
    # the examples on the FAT config partition too, where the user writes join.env (wic copies
    # /boot/rcar-k8s of the rootfs into it: wic/rcar-k8s-node.wks)
    install -d ${D}/boot/rcar-k8s
    install -m 0644 ${S}/join.env.example ${S}/cluster.env.example ${D}/boot/rcar-k8s/
}

FILES:${PN} += "${libexecdir}/rcar-k8s/k8s-join ${systemd_system_unitdir}/k8s-join.service /boot/rcar-k8s"
FILES:${PN}-init += "${libexecdir}/rcar-k8s/k8s-init ${systemd_system_unitdir}/k8s-init.service \
                     ${datadir}/rcar-k8s/kube-vip.yaml.in"

# kubeadm runs the join/init; bash for /dev/tcp probes; coreutils for shred, timeout and sha256sum.
RDEPENDS:${PN} = "bash coreutils gawk grep kubeadm sed"
# kubectl applies the pod network (flannel-manifest) after init
RDEPENDS:${PN}-init = "bash coreutils grep kubeadm kubectl sed"
