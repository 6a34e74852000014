"""Build an image with kas, after checking the host and that the generated files match the matrix.

  rcar-k8s build                                   h3ulcb worker image, default Kubernetes minor
  rcar-k8s build --board qemuarm64 --role control-plane --k8s 1.35
  rcar-k8s build --dry-run                         print the kas command line, run nothing

Steps:
  1. `generate --check`: refuses when meta-rcar-k8s/ or kas/ drifted from the matrix (run
     `rcar-k8s generate` and commit).
  2. `doctor` (same options): refuses when a required host check fails; prints each fix.
  3. `kas build kas/<board file>.yml[:kas/include/k8s-<minor>.yml]` from the repository root, with
     progress from BitBake's task counts; the full output goes to <build dir>/rcar-k8s-build.log.
     On failure it names the failing task(s) and their log files.

kas reads the usual environment: KAS_WORK_DIR, KAS_BUILD_DIR, DL_DIR, SSTATE_DIR, SSTATE_MIRRORS,
BB_HASHSERVE (see docs/building.md). Use --kas-container to build in kas's container image.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from generator import kasfiles, kasrun, paths
from generator.commands.doctor import add_host_options, doctor
from generator.errors import UserError
from generator.matrix.model import load_matrix
from generator.render.engine import drift, render_tree

NAME = "build"
HELP = "build an image with kas (checks the host and drift first; --dry-run prints the kas command)"


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", choices=kasfiles.BOARDS, default="h3ulcb", help="default: h3ulcb")
    parser.add_argument("--role", choices=kasfiles.ROLES, default="worker", help="default: worker")
    parser.add_argument("--k8s", metavar="MINOR", default=None,
                        help="Kubernetes minor from the matrix (default: the matrix default)")


def register(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the kas command line and exit")
    add_host_options(parser)
    parser.set_defaults(func=run)


def kas_files(args: argparse.Namespace) -> tuple[kasfiles.Target, list[str]]:
    """The target and the kas file chain (top file, then the minor's include unless it is the default)."""
    matrix = load_matrix()
    target = kasfiles.target(args.board, args.role)
    minor = matrix.row(args.k8s).minor if args.k8s else matrix.default
    extra = [] if minor == matrix.default else [kasfiles.minor_include(minor)]
    return target, extra


def check_drift(root: Path) -> None:
    problems = drift(render_tree(load_matrix()), root)
    if problems:
        raise UserError(
            f"{len(problems)} generated file(s) drifted from the matrix (first: {problems[0].split()[-1]}); "
            "run `rcar-k8s generate`, commit, and build again"
        )


def build_dir(args: argparse.Namespace, root: Path) -> Path:
    if args.build_dir:
        return args.build_dir
    work = Path(os.environ.get("KAS_WORK_DIR") or root)
    return Path(os.environ.get("KAS_BUILD_DIR") or work / "build")


def run(args: argparse.Namespace) -> int:
    root = paths.repo_root()
    target, extra = kas_files(args)
    kas = "kas-container" if args.kas_container else "kas"
    argv = kasrun.kas_command(kas, "build", target.kas_file, extra)
    if args.dry_run:
        print(f"cd {shlex.quote(str(root))} && {shlex.join(argv)}")
        return 0

    check_drift(root)
    args.build_dir = build_dir(args, root)
    ok, report = doctor(args)
    if not ok:
        print(report)
        print("build: not started; fix the failed checks above (`rcar-k8s doctor` re-checks)",
              file=sys.stderr)
        return 1

    log = args.build_dir / "rcar-k8s-build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    err = Console(stderr=True)
    err.print(f"build: {shlex.join(argv)}  (full output: {log})", soft_wrap=True, highlight=False)
    rc, state = _run_with_progress(argv, root, log, err)
    if rc == 0 and not state.failures:
        images = args.build_dir / "tmp" / "deploy" / "images" / target.board
        err.print(f"build: {target.image} for {target.board} done; images in {images}",
                  soft_wrap=True, highlight=False)
        return 0
    _report_failure(rc, state, log)
    return 1


def _run_with_progress(argv: list[str], root: Path, log: Path, err: Console) -> tuple[int, kasrun.BuildState]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[current]}"), console=err, transient=False) as progress:
        bars: dict[str, int] = {}

        def on_line(line: str, state: kasrun.BuildState) -> None:
            for name, (n, total) in (("setscene", state.setscene), ("tasks", state.tasks)):
                if total:
                    if name not in bars:
                        bars[name] = progress.add_task(name, total=total, current="")
                    progress.update(bars[name], completed=n, total=total,
                                    current=os.path.basename(state.current))
            if kasrun.ERROR_LINE.match(line):
                progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

        return kasrun.follow(argv, cwd=root, log=log, on_line=on_line)


def _report_failure(rc: int, state: kasrun.BuildState, log: Path) -> None:
    if state.failures:
        print(f"build failed: {len(state.failures)} task(s) failed", file=sys.stderr)
        for f in state.failures:
            print(f"  task {f.recipe_task} failed" + (f" (exit code {f.exit_code})" if f.exit_code else ""),
                  file=sys.stderr)
            print(f"    task: {f.task}", file=sys.stderr)
            print(f"    log:  {f.log or 'not reported; see ' + str(log)}", file=sys.stderr)
    else:
        last = state.errors[-1] if state.errors else "no ERROR line in the output"
        print(f"build failed: kas exited with {rc}; last error: {last}", file=sys.stderr)
        print(f"  full output: {log}", file=sys.stderr)
