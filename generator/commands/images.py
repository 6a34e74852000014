"""Container images a node needs, pinned by digest from the matrix.

  rcar-k8s images list --k8s 1.36 --role worker --cni flannel
  rcar-k8s images list --k8s 1.36 --role control-plane --ha --format json

These are the images an air-gapped image build bundles and imports into containerd's
``k8s.io`` namespace before the kubelet first starts, so `kubeadm join`/`init` pull nothing.
An image whose digest is not yet recorded is listed as UNCONFIRMED; `rcar-k8s matrix update`
fills digests from the registries. Exit status: 0, or 1 with --strict when any digest is missing.
"""

from __future__ import annotations

import argparse
import json

from generator.images.catalog import CNIS, node_images, unconfirmed
from generator.kasfiles import ROLES
from generator.matrix.model import load_matrix

NAME = "images"
HELP = "list the container images a node role needs (pinned by digest)"


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    lst = sub.add_parser(
        "list",
        help="print the image list for a minor, role and CNI",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lst.add_argument("--k8s", default=None, help="Kubernetes minor, e.g. 1.36 (default: the matrix default)")
    lst.add_argument("--role", choices=ROLES, default="worker")
    lst.add_argument("--cni", choices=CNIS, default="flannel")
    lst.add_argument("--ha", action="store_true", help="control plane behind a kube-vip VIP")
    lst.add_argument("--format", choices=("text", "json"), default="text")
    lst.add_argument("--strict", action="store_true", help="exit 1 when a digest is not confirmed")
    lst.add_argument("--matrix", default=None, help="matrix file (default: the committed lock file)")
    lst.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    matrix = load_matrix(args.matrix)
    row = matrix.row(args.k8s) if args.k8s else matrix.default_row
    images = node_images(matrix, row, args.role, args.cni, ha=args.ha)
    missing = unconfirmed(images)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "k8s": row.minor,
                    "kubernetes": row.kubernetes,
                    "role": args.role,
                    "cni": args.cni,
                    "images": [i.to_json() for i in images],
                },
                indent=2,
            )
        )
    else:
        print(f"# Kubernetes {row.kubernetes}, role {args.role}, CNI {args.cni}: {len(images)} images")
        for img in images:
            print(f"{img.ref}@{img.digest}" if img.digest else f"{img.ref}  UNCONFIRMED digest")
        if missing:
            print(f"# {len(missing)} digest(s) unconfirmed: run `rcar-k8s matrix update` on a connected host")
    return 1 if (args.strict and missing) else 0
