# The node stack is upstream's linux/arm64 release binaries (kubernetes-bin, containerd-bin, ...;
# COMPATIBLE_HOST in rcar_k8s_component.bbclass). Recipes that only make sense with that stack
# inherit this class so they are skipped on other architectures too, instead of leaving a world
# build (yocto-check-layer's test_world) with runtime dependencies nothing provides.
# TUNE_ARCH, not TARGET_ARCH: allarch recipes (scripts, configuration) reset TARGET_ARCH.

# nooelint: oelint.task.noanonpython - a parse-time skip can only be decided in anonymous python
python __anonymous() {
    arch = d.getVar('TUNE_ARCH')
    if arch != 'aarch64':
        raise bb.parse.SkipRecipe('meta-rcar-k8s node stack is linux/arm64 only (TUNE_ARCH is %s)' % arch)
}
