"""Render meta-rcar-k8s/ and kas/ from the matrix and the templates.

  rcar-k8s generate            write the layer and kas files (only files that changed)
  rcar-k8s generate --check    write nothing; exit 1 listing every drifted file

Output is deterministic: a rerun on the same matrix is byte-identical. CI runs --check so the
committed layer never drifts from the lock file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator import paths
from generator.matrix.model import load_matrix
from generator.render.engine import drift, render_tree, write_tree

NAME = "generate"
HELP = "render meta-rcar-k8s/ and kas/ from the matrix (--check: report drift)"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if committed files drifted"
    )
    parser.add_argument(
        "--matrix", type=Path, default=None, help="matrix file (default: the committed lock file)"
    )
    parser.add_argument("--root", type=Path, default=None, help="checkout to write into (default: this repo)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    matrix = load_matrix(args.matrix)
    root = (args.root or paths.repo_root()).resolve()
    rendered = render_tree(matrix)  # renders everything before touching disk: nothing half-written
    if args.check:
        problems = drift(rendered, root)
        if problems:
            print(
                f"rcar-k8s generate --check: {len(problems)} file(s) drifted from the matrix:",
                file=sys.stderr,
            )
            for p in problems:
                print(f"  {p}", file=sys.stderr)
            print("run `rcar-k8s generate` and commit the result", file=sys.stderr)
            return 1
        print(f"generate --check: {len(rendered)} files up to date")
        return 0
    changed = write_tree(rendered, root)
    print(f"generate: {len(rendered)} files, {len(changed)} changed")
    for rel in changed:
        print(f"  {rel}")
    return 0
