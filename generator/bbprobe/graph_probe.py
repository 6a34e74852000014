#!/usr/bin/env python3
"""Does IMAGE pull in the Kubernetes node stack?  Run by `rcar-k8s check --bitbake` inside
`kas shell`, in the build dir, after `bitbake -g IMAGE` wrote task-depends.dot.

Standalone on purpose (host python3 + BitBake's own lib via tinfoil; no generator import).
For each item it walks the image's runtime closure (PACKAGE_INSTALL plus RDEPENDS/RRECOMMENDS,
resolved by BitBake's runtime providers) and checks the providing recipe is in the image's task
graph. Last line: ``PROBE {json}`` with ``found`` (item -> recipe) and ``missing`` (item -> why).
"""

import json
import os
import re
import shutil
import sys

# item -> runtime package names that satisfy it (first that the image installs wins)
ITEMS = {
    "kubeadm": ["kubeadm"],
    "kubelet": ["kubelet"],
    "containerd": ["containerd", "virtual-containerd", "containerd-opencontainers"],
    "runc": ["runc", "virtual-runc", "runc-opencontainers", "crun"],
    "cni": ["cni", "cni-plugins", "containernetworking-plugins"],
}


def graph_recipes(image):
    edges = {}
    edge = re.compile(r'^\s*"([^"]+)"\s*->\s*"([^"]+)"')
    with open("task-depends.dot") as f:
        for line in f:
            m = edge.match(line)
            if m:
                edges.setdefault(m.group(1), set()).add(m.group(2))
    seen, todo = set(), [image + ".do_build"]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return {n.rsplit(".", 1)[0] for n in seen}, len(seen)


def main(image):
    in_graph, ntasks = graph_recipes(image)
    sys.path.insert(0, os.path.join(os.path.dirname(shutil.which("bitbake")), "..", "lib"))
    import bb.tinfoil

    found, missing = {}, {}
    with bb.tinfoil.Tinfoil(tracking=False) as tf:
        tf.logger.setLevel("WARNING")
        tf.prepare(config_only=False, quiet=2)
        cd = tf.cooker_data
        d = tf.parse_recipe(image)
        bad = set((d.getVar("BAD_RECOMMENDATIONS") or "").split())
        norecs = d.getVar("NO_RECOMMENDATIONS") == "1"
        provider, todo = {}, list((d.getVar("PACKAGE_INSTALL") or "").split())
        while todo:
            name = re.split(r"[\s(]", todo.pop().strip())[0]
            if not name or name in provider:
                continue
            fns, best = tf.get_runtime_providers(name) or ([], None)
            fns = list(fns or [])
            inside = [f for f in ([best] if best else []) + fns if cd.pkg_fn.get(f) in in_graph]
            fn = (inside or ([best] if best else []) + fns or [None])[0]
            provider[name] = cd.pkg_fn.get(fn) if fn else None
            if fn:
                pkg = name if fn in cd.packages.get(name, []) else cd.pkg_fn[fn]
                todo += list(cd.rundeps.get(fn, {}).get(pkg, []))
                if not norecs:
                    todo += [r for r in cd.runrecs.get(fn, {}).get(pkg, []) if r not in bad]
        for item, names in ITEMS.items():
            hit = [n for n in names if provider.get(n)]
            if not hit:
                missing[item] = f"not installed by the image (none of {'/'.join(names)})"
            elif provider[hit[0]] not in in_graph:
                missing[item] = f"recipe {provider[hit[0]]} is not in the image's task graph"
            else:
                found[item] = provider[hit[0]]
        kernel = tf.find_best_provider("virtual/kernel")
        kpn = cd.pkg_fn.get(kernel[3]) if kernel and len(kernel) > 3 and kernel[3] else None
        if kpn and kpn in in_graph:
            found["kernel"] = kpn
        else:
            missing["kernel"] = f"virtual/kernel provider {kpn} not in the task graph"
    print(
        "PROBE "
        + json.dumps(
            {
                "image": image,
                "tasks": ntasks,
                "recipes": len(in_graph),
                "installed": len(provider),
                "found": found,
                "missing": missing,
            }
        )
    )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
