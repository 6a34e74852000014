"""Pre-build checks with real BitBake: does the stack parse (--bitbake), do our recipes work (--recipes)?

  rcar-k8s check --bitbake [--board h3ulcb|qemuarm64] [--role worker|control-plane] [--k8s MINOR]
  rcar-k8s check --recipes [--board ...] [--k8s MINOR] [--extra-recipe FILE.bb ...]

--recipes: kas checkout, then (inside `kas shell`, BitBake's tinfoil) runs the real do_unpack,
do_configure, do_compile and do_install of every meta-rcar-k8s recipe the worker and control-plane
images install, splits each D into packages with poky's own packaging code, and fails on
installed-vs-shipped, empty installed packages, SYSTEMD_SERVICE units outside their package, Exec*=
paths nothing ships, timers whose service is not shipped and files two recipes install (see
generator/bbprobe/recipe_run.py). Downloads are the `rcar-k8s runtime-build` test builds of upstream's
file name where its cache ($RCAR_K8S_RUNTIME_CACHE, default ~/.cache/rcar-k8s/runtime) has them, byte for
byte, else archives of upstream's name and layout made locally with stub scripts (the sha256 check of
do_fetch is skipped, not satisfied); ownership is not pseudo's (build user).

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

from generator import kasfiles, kasrun, paths
from generator.bbprobe import GRAPH_PROBE, RECIPE_RUN
from generator.commands.build import add_target_options, build_dir, kas_files
from generator.errors import UserError
from generator.host.probe import Host

NAME = "check"
HELP = "pre-build checks; --bitbake: kas checkout + bitbake -p + bitbake -g, node stack in the image"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bitbake",
        action="store_true",
        help="parse the stack with real BitBake and check the image's task graph",
    )
    parser.add_argument(
        "--recipes",
        action="store_true",
        help="run this layer's recipes (unpack..install) with real BitBake and check "
        "their packaging like Yocto's QA, for the board's worker and control-plane "
        "images",
    )
    add_target_options(parser)
    parser.add_argument("--kas", default="kas", help="kas executable (default: kas on PATH)")
    parser.add_argument(
        "--extra-recipe",
        metavar="FILE.bb",
        type=Path,
        action="append",
        default=[],
        help="--recipes: also run this recipe file, in place of the layer's recipe of the "
        "same PN (try a change, or a broken copy)",
    )
    parser.add_argument(
        "--only-extra",
        action="store_true",
        help="--recipes: run only the --extra-recipe files, as if the images installed them",
    )
    parser.add_argument(
        "--as-user",
        metavar="USER",
        default=None,
        help="when run as root (CI containers): run kas and BitBake as USER via runuser",
    )
    parser.add_argument("--build-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def _step(err: Console, title: str, argv: list[str], root: Path, log: Path) -> kasrun.BuildState:
    shown = argv[argv.index("env") + 1 :] if argv[:1] == ["runuser"] else argv
    if shown is not argv:  # drop the env assignments (KAS_PREMIRRORS is long)
        shown = [a for a in shown if "=" not in a.split(" ")[0] or a.startswith("-")]
    who = f" as {argv[2]}" if argv[:1] == ["runuser"] else ""
    err.print(
        f"check: {title}{who}  ({shlex.join(shown)}; log: {log})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    rc, state = kasrun.follow(argv, cwd=root, log=log)
    if rc != 0:
        why = state.telling_error or f"exit status {rc}"
        raise _StepFailed(f"{title}: {why} (log: {log})")
    return state


class _StepFailed(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    if not (args.bitbake or args.recipes):
        raise UserError(
            "nothing to check: add --bitbake (kas checkout + bitbake -p/-g of the image) "
            "or --recipes (run the layer's recipes and check their packaging)"
        )
    if args.bitbake and args.recipes:
        raise UserError("--bitbake and --recipes are separate runs: give one of them")
    if (args.extra_recipe or args.only_extra) and not args.recipes:
        raise UserError("--extra-recipe/--only-extra belong to --recipes")
    if args.only_extra and not args.extra_recipe:
        raise UserError("--only-extra needs at least one --extra-recipe FILE.bb")
    for f in args.extra_recipe:
        if not f.is_file() or f.suffix != ".bb":
            raise UserError(f"--extra-recipe {f}: not a .bb file")
    root_user = Host.from_env().uid == 0
    if root_user and not args.as_user:
        raise UserError(
            "BitBake refuses to run as root: run `rcar-k8s check` as a normal user, or give --as-user USER"
        )
    if args.as_user and not root_user:
        raise UserError("--as-user is for root only (it switches with runuser); drop it")
    if args.recipes:
        return _run_recipes(args)
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
        _step(
            err,
            "kas checkout",
            kasrun.kas_command(args.kas, "checkout", target.kas_file, extra),
            root,
            bdir / "rcar-k8s-check-checkout.log",
        )
        parse = _step(
            err, "bitbake -p", shell("BB_NO_NETWORK=1 bitbake -p"), root, bdir / "rcar-k8s-check-parse.log"
        )
        if parse.parsed_recipes is not None:
            what = f"{parse.parsed_recipes} recipes"
        elif parse.cached_entries:
            what = f"{parse.cached_entries} recipes from BitBake's cache, nothing changed"
        else:
            what = "recipe count not reported"
        print(f"check: parse OK ({what}) for {':'.join(chain)}")
        graph_cmd = (
            f"BB_NO_NETWORK=1 bitbake -g {target.image} && python3 {shlex.quote(str(GRAPH_PROBE))} "
            f"{target.image}"
        )
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
        print(
            f"check --bitbake: FAIL: {target.image} lacks the node stack: {why} (found: {found or 'nothing'})"
        )
        return 1
    print(
        f"check --bitbake: OK: {target.image} ({target.board}) graph has {result['tasks']} tasks and "
        f"includes {found}"
    )
    return 0


def _as_user(user: str | None, argv: list[str]) -> list[str]:
    """argv run as ``user`` with the kas/BitBake environment passed on explicitly (runuser resets it)."""
    if not user:
        return argv
    keep = [
        f"{k}={v}" for k, v in os.environ.items() if k.startswith(("KAS_", "BB_", "SSTATE_")) or k in PASS_ENV
    ]
    return ["runuser", "-u", user, "--", "env", *keep, *argv]


# what kas and BitBake read from the environment (docs/building.md), passed on by --as-user
# (RCAR_K8S_RUNTIME_CACHE too, though `kas shell` drops it: the recipe runner gets --runtime-cache)
PASS_ENV = (
    "DL_DIR",
    "HOME",
    "PATH",
    "LANG",
    "LC_ALL",
    "GITCONFIG_FILE",
    "RCAR_K8S_RUNTIME_CACHE",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)


def runtime_cache() -> Path:
    """Where `rcar-k8s runtime-build` caches its test builds: $RCAR_K8S_RUNTIME_CACHE, else its default."""
    from generator.runtime.build import CACHE_ROOT

    return Path(os.environ.get("RCAR_K8S_RUNTIME_CACHE") or CACHE_ROOT)


def stage_runtime_cache(cache: Path, dest: Path, user: str | None) -> list[str]:
    """A copy of the runtime-build cache ``user`` can read: root's ~/.cache is under /root (mode 0700),
    which runuser's build user cannot enter. Only what the recipe runner reads goes over: each pin
    directory's manifest.json and the archive it names (hard links to world-readable files where the
    file system allows, else 0644 copies; never the gocache or anything else). Returns the archive
    names staged."""
    import shutil

    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    staged: list[str] = []
    from generator.bbprobe.recipe_run import runtime_artifacts  # the runner's own reading of the cache

    for art in runtime_artifacts(str(cache)):
        src = Path(art["path"])
        pin = dest / src.parent.name
        pin.mkdir()
        for f in (src.parent / "manifest.json", src):
            if f.stat().st_mode & 0o004:
                try:
                    os.link(f, pin / f.name)
                    continue
                except OSError:  # another file system: copy
                    pass
            shutil.copy2(f, pin / f.name)
            (pin / f.name).chmod(0o644)
        staged.append(art["name"])
    if user:
        for d in (dest, *dest.iterdir()):
            shutil.chown(d, user)
    return staged


def _run_recipes(args: argparse.Namespace) -> int:
    """kas checkout + the recipe runner inside kas shell, for both images of the board."""
    import shutil

    root = paths.repo_root()
    target, extra = kas_files(args)
    chain = ":".join([target.kas_file, *extra])
    bdir = build_dir(args, root)
    # runs with extra recipe files go elsewhere: rcar-k8s-recipes/ holds the layer's own result
    # (qemu-test --standin --from-recipes boots it)
    out = bdir / ("rcar-k8s-recipes-extra" if args.extra_recipe else "rcar-k8s-recipes")
    out.mkdir(parents=True, exist_ok=True)
    if args.as_user:
        shutil.chown(out, args.as_user)
    err = Console(stderr=True)
    images = [kasfiles.IMAGES[r] for r in kasfiles.ROLES]
    cache = runtime_cache()
    if not cache.is_dir():
        err.print(
            f"check: no runtime-build cache at {cache}: every download is a made archive of stub "
            "scripts (prepare with: rcar-k8s runtime-build)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    elif args.as_user:
        # the build user cannot read root's ~/.cache: hand it a staged copy of what the runner reads
        staged = stage_runtime_cache(cache, out / "runtime-cache", args.as_user)
        err.print(
            f"check: runtime-build cache {cache} staged for {args.as_user} in {out / 'runtime-cache'} "
            f"({', '.join(staged) or 'no builds'})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        cache = out / "runtime-cache"
    cmd = shlex.join(
        [
            "python3",
            str(RECIPE_RUN),
            "--out",
            str(out),
            "--layer",
            str(root / "meta-rcar-k8s"),
            "--downloads",
            str(out / "downloads"),
            "--runtime-cache",
            str(cache),
            *[a for f in args.extra_recipe for a in ("--extra", str(f.resolve()))],
            *(["--only-extra"] if args.only_extra else []),
            *images,
        ]
    )
    (out / "downloads").mkdir(exist_ok=True)
    if args.as_user:
        shutil.chown(out / "downloads", args.as_user)
    try:
        checkout = _as_user(args.as_user, kasrun.kas_command(args.kas, "checkout", target.kas_file, extra))
        _step(err, "kas checkout", checkout, root, bdir / "rcar-k8s-recipes-checkout.log")
        log = bdir / f"{out.name}.log"
        argv = _as_user(
            args.as_user,
            kasrun.kas_command(args.kas, "shell", target.kas_file, extra, ["-c", "BB_NO_NETWORK=1 " + cmd]),
        )
        err.print(
            f"check: recipe run for {' and '.join(images)} ({target.board}; parse, then each "
            f"recipe's unpack..install and packaging; log: {log})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        rc, _state = kasrun.follow(argv, cwd=root, log=log, on_line=lambda line, _s: _echo_recipe(err, line))
    except _StepFailed as exc:
        print(f"check --recipes: FAIL: {exc}")
        return 1
    except FileNotFoundError:
        raise UserError(
            f"`{args.kas}` not found; install kas (pip install kas), see `rcar-k8s doctor`"
        ) from None
    verdict = _recipes_verdict(log)
    if verdict is None:
        print(f"check --recipes: FAIL: the recipe runner printed no verdict (exit {rc}; log: {log})")
        return 1
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("ERROR ") and not line.startswith("ERROR: "):
            print(f"  {line[6:]}")
    print(f"check --recipes: {verdict} ({chain}; log: {log})")
    return 0 if verdict.startswith("RECIPES OK") and rc == 0 else 1


def _echo_recipe(err: Console, line: str) -> None:
    if line.startswith("RECIPE "):
        err.print(f"  {line[7:]}", markup=False, highlight=False, soft_wrap=True)
    elif line.startswith("DOWNLOAD "):  # which downloads are test builds and which are stubs
        err.print(f"  download {line[9:]}", markup=False, highlight=False, soft_wrap=True)


def _recipes_verdict(log: Path) -> str | None:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith(("RECIPES OK", "RECIPES FAIL")):
            return line
    return None


def _probe_result(log: Path) -> dict | None:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("PROBE "):
            return json.loads(line[6:])
    return None
