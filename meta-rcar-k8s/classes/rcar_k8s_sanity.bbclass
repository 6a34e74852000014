# Parse-time guard of the rcar-k8s distro: the Kubernetes stack must be one matrix row.
#
# Runs once when the configuration is parsed (before any recipe), so a broken selection stops the
# build with a plain message instead of a confusing failure hours later on the board.
# The allowed release lines come from conf/rcar-k8s/k8s-<minor>.inc, generated from the matrix.

addhandler rcar_k8s_check_selection
rcar_k8s_check_selection[eventmask] = "bb.event.ConfigParsed"

python rcar_k8s_check_selection() {
    d = e.data
    minor = d.getVar('RCAR_K8S_VERSION') or ''
    supported = (d.getVar('RCAR_K8S_SUPPORTED') or '').split()
    if minor not in supported or d.getVar('RCAR_K8S_ROW') != minor:
        bb.fatal('rcar-k8s: RCAR_K8S_VERSION = "%s" is not a supported Kubernetes minor; '
                 'set it to one of: %s (each is a tested row of the version matrix)'
                 % (minor, ', '.join(supported)))

    problems = []
    mode = d.getVar('RCAR_K8S_BUILD')
    if mode not in ('binary', 'source'):
        problems.append('RCAR_K8S_BUILD = "%s": use "binary" (upstream release artifacts) or "source"' % mode)
    cri = d.getVar('RCAR_K8S_CRI')
    if cri not in ('containerd', 'docker'):
        problems.append('RCAR_K8S_CRI = "%s": use "containerd" or "docker"' % cri)

    lines = {k: v for k, v in (d.getVarFlags('RCAR_K8S_ALLOWED_LINES') or {}).items() if not k.startswith('_')}
    for pn in sorted(lines):
        allowed = d.expand(lines[pn]).split()
        pref = (d.getVar('PREFERRED_VERSION_' + pn) or '').strip()
        ver = pref.rstrip('%').lstrip('v')
        if not ver:
            problems.append('PREFERRED_VERSION_%s is empty: the matrix pins it for Kubernetes %s' % (pn, minor))
        elif not any(ver == line or ver.startswith(line + '.') for line in allowed):
            problems.append('%s %s cannot be used with Kubernetes %s: the matrix allows %s %s '
                            '(remove the PREFERRED_VERSION_%s pin, or pick another RCAR_K8S_VERSION)'
                            % (pn, pref, minor, pn, ' or '.join(l + '.x' for l in allowed), pn))

    providers = {k: v for k, v in (d.getVarFlags('RCAR_K8S_ALLOWED_PROVIDERS') or {}).items() if not k.startswith('_')}
    for name in sorted(providers):
        virt = 'virtual/' + name
        want = providers[name].split()
        got = d.getVar('PREFERRED_PROVIDER_' + virt) or ''
        if got not in want:
            problems.append('PREFERRED_PROVIDER_%s = "%s": the Kubernetes %s stack is pinned in %s '
                            '(its version is checked against the matrix; other providers are not)'
                            % (virt, got, minor, ' or '.join(want)))

    if problems:
        bb.fatal('rcar-k8s: the selected versions break the version matrix:\n  - ' + '\n  - '.join(problems))
}
