"""Fast pre-build check: does the stack parse, and does the image pull in the node stack?

  rcar-k8s check --bitbake [--board h3ulcb|qemuarm64] [--role worker|control-plane] [--k8s MINOR]

Runs, from the repository root, with the same kas file chain as `rcar-k8s build`:
  1. kas checkout            clone/update the pinned repos, write build/conf
  2. bitbake -p              parse every recipe (BB_NO_NETWORK=1: nothing is fetched)
  3. bitbake -g <image>      resolve the image's task graph
  4. graph probe             the image installs kubeadm, kubelet, containerd, runc and CNI plugins,
                             their recipes and the board's kernel are in that graph
Minutes instead of hours (a cold parse takes ~10 min on 2 cores). Nothing is compiled, so fetch
checksums and compile errors still show up only in a real build.

Offline/local mirrors: kas honours KAS_PREMIRRORS (lines of "regex replacement-url"), e.g.
  KAS_PREMIRRORS='^https://git.yoctoproject.org/poky$ file:///srv/mirror/poky.git' rcar-k8s check --bitbake
KAS_WORK_DIR/KAS_BUILD_DIR choose where repos and the build dir go. BitBake refuses to run as root.
Logs: <build dir>/rcar-k8s-check-{checkout,parse,graph}.log. Exit 0 = OK, 1 = a step failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path

from rich.console import Console

from generator import kasrun, paths
from generator.bbprobe import GRAPH_PROBE
from generator.commands.build import add_target_options, build_dir, kas_files
from generator.errors import UserError
from generator.host.probe import Host

NAME = "check"
HELP = "pre-build checks; --bitbake: kas checkout + bitbake -p + bitbake -g, node stack in the image"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bitbake", action="store_true",
                        help="parse the stack with real BitBake and check the image's task graph")
    add_target_options(parser)
    parser.add_argument("--kas", default="kas", help="kas executable (default: kas on PATH)")
    parser.add_argument("--build-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def _step(err: Console, title: str, argv: list[str], root: Path, log: Path) -> kasrun.BuildState:
    err.print(f"check: {title}  ({shlex.join(argv)}; log: {log})", markup=False, highlight=False,
              soft_wrap=True)
    rc, state = kasrun.follow(argv, cwd=root, log=log)
    if rc != 0:
        why = state.telling_error or f"exit status {rc}"
        raise _StepFailed(f"{title}: {why} (log: {log})")
    return state


class _StepFailed(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    if not args.bitbake:
        raise UserError("nothing to check: add --bitbake (kas checkout + bitbake -p/-g of the image)")
    if Host.from_env().uid == 0:
        raise UserError("BitBake refuses to run as root: run `rcar-k8s check --bitbake` as a normal user")
    root = paths.repo_root()
    target, extra = kas_files(args)
    chain = [target.kas_file, *extra]
    bdir = build_dir(args, root)
    bdir.mkdir(parents=True, exist_ok=True)
    err = Console(stderr=True)
    if os.environ.get("KAS_PREMIRRORS"):
        n = len(os.environ["KAS_PREMIRRORS"].split("\n"))
        err.print(f"check: KAS_PREMIRRORS set ({n} rule(s)): repos come from the mirrors", soft_wrap=True)

    def shell(cmd: str) -> list[str]:
        return kasrun.kas_command(args.kas, "shell", target.kas_file, extra, ["-c", cmd])

    try:
        _step(err, "kas checkout", kasrun.kas_command(args.kas, "checkout", target.kas_file, extra), root,
              bdir / "rcar-k8s-check-checkout.log")
        parse = _step(err, "bitbake -p", shell("BB_NO_NETWORK=1 bitbake -p"), root,
                      bdir / "rcar-k8s-check-parse.log")
        if parse.parsed_recipes is not None:
            what = f"{parse.parsed_recipes} recipes"
        elif parse.cached_entries:
            what = f"{parse.cached_entries} recipes from BitBake's cache, nothing changed"
        else:
            what = "recipe count not reported"
        print(f"check: parse OK ({what}) for {':'.join(chain)}")
        graph_cmd = f"BB_NO_NETWORK=1 bitbake -g {target.image} && python3 {shlex.quote(str(GRAPH_PROBE))} " \
                    f"{target.image}"
        graph_log = bdir / "rcar-k8s-check-graph.log"
        try:
            _step(err, f"bitbake -g {target.image} + node-stack probe", shell(graph_cmd), root, graph_log)
        except _StepFailed:
            if not _probe_result(graph_log):
                raise
        result = _probe_result(graph_log)
        if result is None:
            raise _StepFailed(f"the graph probe printed no result (log: {graph_log})")
    except _StepFailed as exc:
        print(f"check --bitbake: FAIL: {exc}")
        return 1
    found = " ".join(f"{k}({v})" for k, v in result["found"].items())
    if result["missing"]:
        why = "; ".join(f"{k}: {v}" for k, v in result["missing"].items())
        print(f"check --bitbake: FAIL: {target.image} lacks the node stack: {why} "
              f"(found: {found or 'nothing'})")
        return 1
    print(f"check --bitbake: OK: {target.image} ({target.board}) graph has {result['tasks']} tasks and "
          f"includes {found}")
    return 0


def _probe_result(log: Path) -> dict | None:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("PROBE "):
            return json.loads(line[6:])
    return None
