"""`rcar-k8s check --recipes`: this layer's recipes run under real BitBake (tinfoil) and are
packaged by poky's own code; deliberately broken copies must fail naming their defect.

Needs what ../shared/tools/bitbake-parse.sh sets up (local git mirrors, kas in a venv, the kas
checkout under ACCEPT_WORK and the unprivileged build user); skips with the preparing command
otherwise (CI has no mirrors). A warm run takes about 2 minutes per board (BitBake's parse cache).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ACCEPT = Path(os.environ.get("ACCEPT_WORK", "/var/tmp/rcar-k8s-accept"))
MIRRORS = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror"))
KAS = Path(os.environ.get("KAS", str(ACCEPT / "venv" / "bin" / "kas")))
BB_USER = os.environ.get("BB_USER", "bbuser")
BOARDS = {"qemuarm64": "qemuarm64-k8s", "h3ulcb": "rcar-h3-k8s"}
PREPARE = (
    "MIRROR_ROOT={m} KAS={k} ../shared/tools/bitbake-parse.sh -n -k kas/{f}.yml .  "
    "(run as root from the repository root; see ../shared/tools/README.md)"
)

pytestmark = pytest.mark.slow


def _missing(board: str) -> str | None:
    if not (MIRRORS / "yoctoproject+poky" / "repo").is_dir():
        return f"no local git mirrors under {MIRRORS}"
    if not KAS.exists():
        return f"kas not installed at {KAS}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(BB_USER)
        except KeyError:
            return f"build user {BB_USER} does not exist"
    if not (ACCEPT / "kaswork" / f"build-{BOARDS[board]}" / "conf" / "bblayers.conf").exists():
        return f"no kas checkout/build dir for {board} under {ACCEPT}/kaswork"
    return None


def _skip_unless_ready(board: str) -> None:
    why = _missing(board)
    if why:
        pytest.skip(f"skipped: {why} (prepare with: {PREPARE.format(m=MIRRORS, k=KAS, f=BOARDS[board])})")


def _stage() -> Path:
    """The project copy bitbake-parse.sh uses (same path: BitBake's parse cache stays warm)."""
    stage = ACCEPT / "stage" / REPO.name
    files = subprocess.run(
        ["git", "-C", str(REPO), "-c", "safe.directory=*", "ls-files", "-z", "-co", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    stage.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "rsync",
            "-a",
            "--delete",
            "--exclude=/.git",
            "--from0",
            "--files-from=-",
            "--ignore-missing-args",
            f"{REPO}/",
            f"{stage}/",
        ],
        input=files,
        check=True,
    )
    # files deleted from the worktree: rsync --files-from does not delete, so prune by list
    keep = {f.decode() for f in files.split(b"\0") if f}
    for sub in ("meta-rcar-k8s", "kas", "generator"):
        for p in (stage / sub).rglob("*"):
            if p.is_file() and str(p.relative_to(stage)) not in keep:
                p.unlink()
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{BB_USER}:", str(stage)], check=True)
    return stage


def _env(board: str, stage: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RCAR_K8S_ROOT": str(stage),
            "HOME": str(ACCEPT),
            "KAS_WORK_DIR": str(ACCEPT / "kaswork"),
            "KAS_BUILD_DIR": str(ACCEPT / "kaswork" / f"build-{BOARDS[board]}"),
            "KAS_CLONE_DEPTH": "1",
            "KAS_PREMIRRORS": (ACCEPT / "premirrors.txt").read_text(),
            "GITCONFIG_FILE": str(ACCEPT / "gitconfig"),
            "DL_DIR": str(ACCEPT / "cache" / "downloads"),
            "SSTATE_DIR": str(ACCEPT / "cache" / "sstate"),
            "LANG": "en_US.UTF-8",
            "LC_ALL": "en_US.UTF-8",
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            # HOME moved above: the runtime-build cache stays the tester's (recipe_run's downloads)
            "RCAR_K8S_RUNTIME_CACHE": _env_cache(),
        }
    )
    return env


def _runtime_cache() -> Path:
    from generator.runtime.build import CACHE_ROOT

    return CACHE_ROOT


def _runtime_builds() -> dict:
    """The default row's `rcar-k8s runtime-build` test builds, {} when not built."""
    from generator.errors import UserError
    from generator.matrix.model import load_matrix
    from generator.runtime import build as rb

    try:
        return rb.find(load_matrix().default_row, Path(_env_cache()))
    except UserError:
        return {}


def _env_cache() -> str:
    return os.environ.get("RCAR_K8S_RUNTIME_CACHE") or str(_runtime_cache())


def _run(board: str, *extra: str) -> subprocess.CompletedProcess[str]:
    stage = _stage()
    user = ["--as-user", BB_USER] if os.geteuid() == 0 else []
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "generator",
            "check",
            "--recipes",
            "--board",
            board,
            "--kas",
            str(KAS),
            *user,
            *extra,
        ],
        cwd=REPO,
        env=_env(board, stage),
        capture_output=True,
        text=True,
        timeout=1800,
    )


@pytest.mark.parametrize("board", list(BOARDS))
def test_layer_recipes_run_and_package_clean(board: str) -> None:
    _skip_unless_ready(board)
    r = _run(board)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    verdict = [line for line in r.stdout.splitlines() if line.startswith("check --recipes: ")][-1]
    assert f"RECIPES OK {board}/rcar-k8s" in verdict
    for image in ("rcar-k8s-node-image", "rcar-k8s-control-plane-image"):
        assert image in verdict
    # the recipes the images install really ran (not a no-op): containerd's do_compile and etcd-tmpfs
    # (the CLI echoes the runner's "RECIPE ok ..." lines as "  ok ...")
    assert re.search(rf"^  ok {board} containerd-bin-\S+ \[unpack=ok .*compile=ok install=ok", out, re.M), out
    assert re.search(
        rf"^  ok {board} etcd-tmpfs-1\.0 \[.*install=ok\] packages: .*etcd-tmpfs\(\d+\)", out, re.M
    )
    # the downloads are the runtime-build archives where they exist (as root: the copy staged for the
    # build user), byte for byte; the rest are made stand-ins, and the verdict counts both
    builds = _runtime_builds()
    for comp, built in builds.items():
        where = re.escape(f"/{built.dir.name}/{built.archive.name}")
        assert re.search(
            rf"^  download \S+: \S+: runtime-build artifact \S*{where}, copied byte for byte", out, re.M
        ), (comp, out[-4000:])
    assert f"({len(builds)} runtime-build test builds, " in verdict or not builds, verdict


# ---- deliberately broken copies ---------------------------------------------------------------


def _must_replace(text: str, old: str, new: str) -> str:
    """str.replace that fails when ``old`` is gone: a broken copy must break what it says it breaks."""
    assert old in text, f"the recipe no longer contains {old!r}: update this broken copy"
    return text.replace(old, new)


def _copy(stage: Path, rel: str, dest: Path, edit) -> Path:
    """A copy of a layer recipe next to a copy of its files/ dir (FILESPATH follows the .bb)."""
    src = stage / "meta-rcar-k8s" / rel
    dest.mkdir(parents=True, exist_ok=True)
    for d in ("files", src.stem.split("_")[0] + "-" + src.stem.split("_")[1] if "_" in src.stem else ""):
        if d and (src.parent / d).is_dir():
            shutil.copytree(src.parent / d, dest / d, dirs_exist_ok=True)
    out = dest / src.name
    text = src.read_text()
    new = edit(text)
    assert new != text, f"the edit of {rel} changed nothing"
    out.write_text(new)
    return out


NEW_RECIPE = """SUMMARY = "broken on purpose: {why}"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${{COMMON_LICENSE_DIR}}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"
inherit allarch systemd
SYSTEMD_SERVICE:${{PN}} = "{units}"
do_install() {{
{body}
}}
"""


def _new(dest: Path, name: str, why: str, units: str, body: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{name}_1.0.bb"
    out.write_text(NEW_RECIPE.format(why=why, units=units, body=body))
    return out


def test_broken_copies_fail_naming_their_defect() -> None:
    _skip_unless_ready("qemuarm64")
    stage = _stage()
    work = ACCEPT / "stage" / f".broken-{REPO.name}"
    shutil.rmtree(work, ignore_errors=True)
    U = "${D}${systemd_system_unitdir}"
    copies = [
        # the install-onto-itself pattern: B = S and a release archive with bin/
        _copy(
            stage,
            "recipes-containers/containerd-bin/containerd-bin_2.3.4.bb",
            work / "onto-itself",
            lambda t: t + '\nB = "${S}"\n',
        ),
        # etcd-snapshot.service installed, no package ships it (the recipe before the fix: neither
        # in SYSTEMD_SERVICE nor under a FILES entry)
        _copy(
            stage,
            "recipes-kubernetes/etcd-tmpfs/etcd-tmpfs_1.0.bb",
            work / "unit-not-shipped",
            lambda t: _must_replace(
                _must_replace(t, ' ${systemd_system_unitdir}"', '"'), "    etcd-snapshot.service \\\n", ""
            ),
        ),
        # a file outside FILES
        _copy(
            stage,
            "recipes-kubernetes/k8s-join/k8s-join_1.0.bb",
            work / "outside-files",
            lambda t: (
                t + "\ndo_install:append() {\n    install -d ${D}/srv/rcar\n"
                "    echo x > ${D}/srv/rcar/stray\n}\n"
            ),
        ),
        # a missing file://
        _copy(
            stage,
            "recipes-kubernetes/kubeadm-config/kubeadm-config_1.0.bb",
            work / "missing-file",
            lambda t: t + '\nSRC_URI += "file://no-such-kubeadm.yaml"\n',
        ),
        # a SYSTEMD_SERVICE unit that an earlier package claims
        _copy(
            stage,
            "recipes-kubernetes/k8s-node-config/k8s-node-config_1.36.bb",
            work / "unit-elsewhere",
            lambda t: t + '\nPACKAGES =+ "${PN}-units"\nFILES:${PN}-units = "${systemd_system_unitdir}"\n',
        ),
        _new(
            work / "exec",
            "rcar-broken-exec",
            "ExecStart names a path nothing ships",
            "broken-exec.service",
            f"    install -d {U}\n    printf '[Service]\\nExecStart=/usr/libexec/rcar-k8s/no-such-tool\\n"
            f"[Install]\\nWantedBy=multi-user.target\\n' > {U}/broken-exec.service",
        ),
        _new(
            work / "timer",
            "rcar-broken-timer",
            "a timer whose service is not shipped",
            "broken.timer",
            f"    install -d {U}\n    printf '[Timer]\\nOnBootSec=1min\\n[Install]\\n"
            f"WantedBy=timers.target\\n' > {U}/broken.timer",
        ),
        _new(
            work / "dup",
            "rcar-broken-dup",
            "installs k8s-join's script too",
            "",
            "    install -d ${D}${libexecdir}/rcar-k8s\n    echo x > ${D}${libexecdir}/rcar-k8s/k8s-join",
        ),
        _new(
            work / "empty",
            "rcar-broken-empty",
            "an empty package",
            "",
            "    install -d ${D}${datadir}/rcar-empty",
        ),
    ]
    (work / "dup" / "rcar-broken-dup_1.0.bb").write_text(
        (work / "dup" / "rcar-broken-dup_1.0.bb")
        .read_text()
        .replace("inherit allarch systemd\n", "inherit allarch\n")
        .replace('SYSTEMD_SERVICE:${PN} = ""\n', "")
    )
    (work / "empty" / "rcar-broken-empty_1.0.bb").write_text(
        (work / "empty" / "rcar-broken-empty_1.0.bb")
        .read_text()
        .replace("inherit allarch systemd\n", "inherit allarch\n")
        .replace('SYSTEMD_SERVICE:${PN} = ""\n', "")
        + 'FILES:${PN} = ""\n'
    )
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{BB_USER}:", str(work)], check=True)
    args = [a for c in copies for a in ("--extra-recipe", str(c))]
    r = _run("qemuarm64", *args, "--only-extra")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-4000:]
    assert "RECIPES FAIL qemuarm64/rcar-k8s" in r.stdout, out[-4000:]
    errors = [line for line in r.stdout.splitlines() if line.startswith("  ")]
    text = "\n".join(errors)

    def has(*words: str) -> bool:
        return any(all(w in line for w in words) for line in errors)

    assert has("containerd-bin:", "do_compile failed", "are the same file"), text
    assert has("etcd-tmpfs:", "installed-vs-shipped", "/usr/lib/systemd/system/etcd-snapshot.service"), text
    assert has("k8s-join:", "installed-vs-shipped", "/srv/rcar/stray"), text
    assert has("kubeadm-config:", "do_unpack failed", "no-such-kubeadm.yaml"), text
    assert has(
        "k8s-node-config:",
        "SYSTEMD_SERVICE:k8s-node-config",
        "rcar-k8s-hostname.service",
        "k8s-node-config-units holds it",
    ), text
    assert has("rcar-broken-exec:", "ExecStart=/usr/libexec/rcar-k8s/no-such-tool"), text
    assert has("rcar-broken-timer:", "broken.timer", "activates broken.service"), text
    assert has("/usr/libexec/rcar-k8s/k8s-join is shipped by", "k8s-join", "rcar-broken-dup"), text
    assert has("rcar-broken-empty:", "package rcar-broken-empty is empty"), text


@pytest.mark.parametrize("role", ["worker", "control-plane"])
def test_standin_boots_what_the_recipes_install(role: str) -> None:
    """Item 3: the qemuarm64 recipe output (the run above) of each image laid over the stand-in,
    booted, checked; the control plane's etcd-tmpfs units (recipe-built) must mount and restore."""
    import json

    run = ACCEPT / "kaswork" / "build-qemuarm64-k8s" / "rcar-k8s-recipes" / "qemuarm64" / "recipes.json"
    cache = Path(os.environ.get("RCAR_K8S_STANDIN_CACHE", "/var/tmp/rcar-k8s-standin"))
    if not run.exists() or json.loads(run.read_text()).get("errors"):
        pytest.skip(
            f"skipped: no clean recipe run at {run} (prepare with: the qemuarm64 test above, "
            f"i.e. rcar-k8s check --recipes --board qemuarm64)"
        )
    if os.geteuid() != 0 or not any(cache.glob("*/base.ext4")):
        pytest.skip(
            f"skipped: needs root and the stand-in cache {cache} (prepare with: scripts/build-standin.sh)"
        )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "generator",
            "qemu-test",
            "--standin",
            "--from-recipes",
            str(run),
            "--role",
            role,
            "--timeout",
            "900",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert "PASSED" in r.stdout
    assert re.search(
        r"\[ok  \] node_files_installed\s+all \d+ layer node files installed byte for byte", r.stdout
    )
    if role == "control-plane":
        for check in ("etcd_tmpfs", "etcd_restore_ran"):
            assert re.search(rf"\[ok  \] {check}\b", r.stdout), r.stdout[-4000:]
