# Shared by the Kubernetes stack recipes (kubernetes-bin, containerd-bin, runc-bin, ...).
#
# Binary build (default): SRC_URI holds the upstream arm64 release artifacts with the matrix's
# sha256; do_compile only stages them into ${B}/bin and do_install copies from there.
# Source build (RCAR_K8S_BUILD = "source" -> override :rcar-k8s-source): the pinned git commit,
# built offline with the vendored Go modules by the Yocto Go toolchain.
#
# A recipe that cannot be built as configured refuses at parse time: the selected version (the
# PREFERRED_VERSION) stops the build with the reason; other versions are skipped with it
# (`bitbake <recipe>` shows it).

RCAR_K8S_BUILD ??= "binary"
# matrix artifacts whose sha256 is unconfirmed (null): no unpinned download, ever
RCAR_K8S_UNCONFIRMED ??= ""
RCAR_K8S_GIT_URI ??= ""
RCAR_K8S_GIT_TAG ??= ""
RCAR_K8S_GIT_COMMIT ??= ""
RCAR_K8S_GO_MIN ??= ""
RCAR_K8S_GO_PACKAGES ??= ""
RCAR_K8S_NO_SOURCE_WHY ??= ""

# upstream publishes these for linux/arm64 only
COMPATIBLE_HOST = "aarch64.*-linux"

# do_compile stages into ${B}/bin, so ${B} must not be ${S} (poky's default, base.bbclass
# B = "${S}"): containerd's release archive unpacks to ${S}/bin, and staging it there would install
# each file onto itself, which GNU install refuses ("are the same file"). go.bbclass uses the same B.
B = "${WORKDIR}/build"

inherit_defer ${@'go' if d.getVar('RCAR_K8S_BUILD') == 'source' else ''}

# Prebuilt upstream Go binaries are installed byte-identical to the sha256-checked download:
# stripping or splitting debug info would change them, and they were linked by upstream's
# toolchain, not with our LDFLAGS (hence no GNU_HASH: "ldflags"; upstream strips: "already-stripped").
INHIBIT_PACKAGE_STRIP = "1"
INHIBIT_PACKAGE_DEBUG_SPLIT = "1"
INHIBIT_SYSROOT_STRIP = "1"

# ---- source build -------------------------------------------------------------------------------
# rcar-k8s-source is a DISTROOVERRIDES entry of conf/distro/rcar-k8s.conf (RCAR_K8S_BUILD = "source")
# nooelint: oelint.vars.specific - rcar-k8s-source is this layer's distro override
SRC_URI:rcar-k8s-source = "${RCAR_K8S_GIT_URI};rev=${RCAR_K8S_GIT_COMMIT};destsuffix=${BP}/src"
# nooelint: oelint.vars.specific, oelint.func.specific - this layer's distro override
S:rcar-k8s-source = "${WORKDIR}/${BP}/src"
# nooelint: oelint.vars.specific, oelint.func.specific - this layer's distro override
GO_IMPORT:rcar-k8s-source = "${BPN}"
# nooelint: oelint.vars.specific, oelint.func.specific - this layer's distro override
GOBUILDFLAGS:rcar-k8s-source = "-trimpath -mod=vendor"

# nooelint: oelint.vars.specific, oelint.func.specific - this layer's distro override
do_compile:rcar-k8s-source() {
    install -d ${B}/bin
    cd ${S}
    export GOTOOLCHAIN="local"
    export GOFLAGS="-mod=vendor -trimpath"
    ${GO} build ${GO_LINKSHARED} -ldflags="${GO_RPATH} ${GO_LINKMODE} -extldflags '${GO_EXTLDFLAGS}'" \
        -o ${B}/bin/ ${RCAR_K8S_GO_PACKAGES}
}

# nooelint: oelint.task.noanonpython - a parse-time refusal can only be decided in anonymous python
python __anonymous() {
    pn = d.getVar('PN')
    pv = d.getVar('PV')
    pref = (d.getVar('PREFERRED_VERSION_' + pn) or '').strip()
    selected = bool(pref) and (pref == pv or (pref.endswith('%') and pv.startswith(pref[:-1])))
    mode = d.getVar('RCAR_K8S_BUILD')
    why = None
    if mode == 'binary':
        unconfirmed = (d.getVar('RCAR_K8S_UNCONFIRMED') or '').split()
        if unconfirmed:
            why = ('%s %s: the version matrix has no confirmed sha256 for %s, and an unpinned download '
                   'is never allowed. Run `rcar-k8s matrix update` (it fetches the published hashes), '
                   'then `rcar-k8s generate`, or select another RCAR_K8S_VERSION'
                   % (pn, pv, ', '.join(unconfirmed)))
    elif mode == 'source':
        have = (d.getVar('GOVERSION') or '').rstrip('%')
        need = d.getVar('RCAR_K8S_GO_MIN')

        def parts(v):
            return [int(x) if x.isdigit() else 0 for x in v.split('.')[:3]]

        if d.getVar('RCAR_K8S_NO_SOURCE_WHY'):
            why = '%s %s: no source build: %s; use RCAR_K8S_BUILD = "binary"' % (
                pn, pv, d.getVar('RCAR_K8S_NO_SOURCE_WHY'))
        elif not d.getVar('RCAR_K8S_GIT_COMMIT'):
            why = ('%s %s: the version matrix has no confirmed commit for tag %s, and AUTOREV or a floating '
                   'tag is never used. Run `rcar-k8s matrix update`, then `rcar-k8s generate`, or use '
                   'RCAR_K8S_BUILD = "binary"' % (pn, pv, d.getVar('RCAR_K8S_GIT_TAG')))
        elif need and (not have or parts(have) + [99] < parts(need)):
            why = ('%s %s: building from source needs Go >= %s, but this Yocto release provides Go %s '
                   '(GOVERSION). Use RCAR_K8S_BUILD = "binary", or add a layer with a newer Go and set '
                   'GOVERSION' % (pn, pv, need, have or 'none'))
    if why:
        if selected:
            bb.fatal('rcar-k8s: ' + why)
        raise bb.parse.SkipRecipe(why)
}
