"""The cross-package checks of the recipe runner (generator/bbprobe/recipe_run.py), on package trees
laid out the way poky's populate_packages leaves PKGDEST (one directory per package). Fast: no BitBake;
tests/layer/test_recipe_run.py runs the same code on real BitBake output."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from generator.bbprobe import RECIPE_RUN

REPO = Path(__file__).resolve().parents[2]

spec = importlib.util.spec_from_file_location("recipe_run", RECIPE_RUN)
rr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rr)

UNITDIR = "/usr/lib/systemd/system"


def _recipe(tmp: Path, pn: str, packages: dict[str, dict[str, str]], systemd=None, allow_empty=()) -> dict:
    pkgdest = tmp / pn / "packages-split"
    files = {}
    for pkg, tree in packages.items():
        root = pkgdest / pkg
        root.mkdir(parents=True, exist_ok=True)
        files[pkg] = []
        for path, text in tree.items():
            p = root / path.lstrip("/")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            files[pkg].append(path)
    return {
        "pn": pn,
        "packages": files,
        "pkgdest": str(pkgdest),
        "unitdir": UNITDIR,
        "systemd": systemd or {},
        "allow_empty": list(allow_empty),
    }


# etcd-tmpfs as it was before the fix: the timer is shipped, its service is not
ETCD_TIMER = """[Unit]
Description=Snapshot etcd every 15min
Documentation=file:/usr/share/doc/etcd-tmpfs/README

[Timer]
OnBootSec=15min
OnUnitActiveSec=15min

[Install]
WantedBy=timers.target
"""


def test_timer_whose_service_is_not_shipped(tmp_path: Path) -> None:
    r = _recipe(
        tmp_path,
        "etcd-tmpfs",
        {"etcd-tmpfs": {f"{UNITDIR}/etcd-snapshot.timer": ETCD_TIMER}},
        systemd={"etcd-tmpfs": ["etcd-snapshot.timer"]},
    )
    errs = rr.check_image("img", [("etcd-tmpfs", "etcd-tmpfs")], [r], {"etcd-tmpfs"})
    assert errs == [
        "etcd-tmpfs: etcd-snapshot.timer (package etcd-tmpfs) activates etcd-snapshot.service, "
        "which no package img installs ships"
    ]
    # shipped: clean
    r = _recipe(
        tmp_path / "ok",
        "etcd-tmpfs",
        {
            "etcd-tmpfs": {
                f"{UNITDIR}/etcd-snapshot.timer": ETCD_TIMER,
                f"{UNITDIR}/etcd-snapshot.service": "[Service]\nType=oneshot\nExecStart=/usr/bin/true\n",
            }
        },
    )
    assert rr.check_image("img", [("etcd-tmpfs", "etcd-tmpfs")], [r], {"etcd-tmpfs", "coreutils"}) == []


def test_timer_unit_key_names_the_service(tmp_path: Path) -> None:
    timer = "[Timer]\nOnCalendar=daily\nUnit=other.service\n"
    r = _recipe(
        tmp_path,
        "x",
        {"x": {f"{UNITDIR}/a.timer": timer, f"{UNITDIR}/a.service": "[Service]\nExecStart=/usr/bin/true\n"}},
    )
    errs = rr.check_image("img", [("x", "x")], [r], {"coreutils"})
    assert errs == ["x: a.timer (package x) activates other.service, which no package img installs ships"]


def test_exec_paths(tmp_path: Path) -> None:
    # containerd.service of this layer, verbatim lines
    unit = (
        "[Service]\nExecStartPre=-/usr/sbin/modprobe overlay\nExecStart=/usr/bin/containerd\n"
        "ExecReload=/bin/kill -s HUP $MAINPID\nExecStart=\n"
    )
    r = _recipe(
        tmp_path,
        "containerd-bin",
        {"containerd-bin": {f"{UNITDIR}/containerd.service": unit, "/usr/bin/containerd": "elf"}},
    )
    # kmod and util-linux-kill installed: clean (/bin/kill is /usr/bin/kill with usrmerge)
    assert (
        rr.check_image("img", [("containerd-bin", "containerd-bin")], [r], {"kmod", "util-linux-kill"}) == []
    )
    errs = rr.check_image("img", [("containerd-bin", "containerd-bin")], [r], {"kmod"})
    assert errs == [
        "containerd-bin: containerd.service (package containerd-bin): ExecReload=/bin/kill: "
        "util-linux-kill or coreutils ships it, which img does not install"
    ]
    unit2 = "[Service]\nExecStart=@/usr/libexec/rcar-k8s/k8s-join k8s-join\n"
    r2 = _recipe(tmp_path / "2", "k8s-join", {"k8s-join": {f"{UNITDIR}/k8s-join.service": unit2}})
    errs = rr.check_image("img", [("k8s-join", "k8s-join")], [r2], set())
    assert errs == [
        "k8s-join: k8s-join.service (package k8s-join): ExecStart=/usr/libexec/rcar-k8s/k8s-join: "
        "no package img installs ships it"
    ]


def test_file_from_two_recipes_and_empty_package(tmp_path: Path) -> None:
    a = _recipe(
        tmp_path,
        "kubernetes-bin",
        {"kubeadm": {"/usr/bin/kubeadm": "a"}, "kubernetes-bin": {}},
        allow_empty=["kubernetes-bin"],
    )
    b = _recipe(tmp_path, "other", {"other": {"/usr/bin/kubeadm": "b"}, "other-extra": {}})
    inst = [
        ("kubernetes-bin", "kubeadm"),
        ("kubernetes-bin", "kubernetes-bin"),
        ("other", "other"),
        ("other", "other-extra"),
    ]
    errs = rr.check_image("img", inst, [a, b], set())
    assert (
        "img: /usr/bin/kubeadm is shipped by kubernetes-bin (kubeadm) and other (other) (two recipes "
        "install the same file: the rootfs package manager refuses the conflict)"
    ) in errs
    assert any(e.startswith("other: package other-extra is empty, but img installs it") for e in errs)
    assert not any("package kubernetes-bin is empty" in e for e in errs)  # ALLOW_EMPTY


def test_systemd_service_outside_its_package(tmp_path: Path) -> None:
    r = _recipe(
        tmp_path,
        "k8s-node-config",
        {
            "k8s-node-config-units": {f"{UNITDIR}/rcar-k8s-hostname.service": "[Service]\n"},
            "k8s-node-config": {"/etc/crictl.yaml": "x"},
        },
        systemd={"k8s-node-config": ["rcar-k8s-hostname.service"]},
    )
    assert rr.check_recipe(r) == [
        "k8s-node-config: SYSTEMD_SERVICE:k8s-node-config names rcar-k8s-hostname.service, which is not in "
        "package k8s-node-config: package k8s-node-config-units holds it instead (earlier in PACKAGES)"
    ]


@pytest.mark.parametrize(
    "name,members",
    [
        (
            "containerd-2.3.4-linux-arm64.tar.gz",
            {"bin/containerd", "bin/ctr", "bin/containerd-shim-runc-v2", "bin/containerd-stress"},
        ),
        (
            "cni-plugins-linux-arm64-v1.9.1.tgz",
            {"./bridge", "./host-local", "./loopback", "./portmap", "./LICENSE"},
        ),
        ("crictl-v1.36.0-linux-arm64.tar.gz", {"crictl"}),
        (
            "etcd-v3.6.8-linux-arm64.tar.gz",
            {
                "etcd-v3.6.8-linux-arm64/etcdctl",
                "etcd-v3.6.8-linux-arm64/etcdutl",
                "etcd-v3.6.8-linux-arm64/README.md",
            },
        ),
    ],
)
def test_download_standins_have_upstreams_layout(tmp_path: Path, name: str, members: set[str]) -> None:
    desc = rr.make_download(str(tmp_path / name), "", f"/o/p/releases/download/v1/{name}")
    assert desc.startswith(f"{name}: made archive of upstream's layout")
    with tarfile.open(tmp_path / name) as tar:
        names = set(tar.getnames())
        assert members <= names, sorted(names)
        for m in tar.getmembers():
            if m.name.startswith(("bin/", "./bridge")) or m.name.endswith(("/etcdctl", "crictl")):
                assert m.mode & 0o111, m.name
                data = tar.extractfile(m).read()
                assert b"stand-in for upstream's" in data  # never mistaken for the real binary


def test_single_file_download(tmp_path: Path) -> None:
    desc = rr.make_download(
        str(tmp_path / "kubeadm-v1.36.4-linux-arm64"), "", "/release/v1.36.4/bin/linux/arm64/kubeadm"
    )
    assert "made single file (stub script)" in desc
    assert b"stand-in for upstream's kubeadm" in (tmp_path / "kubeadm-v1.36.4-linux-arm64").read_bytes()


# ---- downloads from `rcar-k8s runtime-build`'s cache ---------------------------------------------

LAYER = REPO / "meta-rcar-k8s"
MIRROR_ROOT = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror"))
POKY = MIRROR_ROOT / "yoctoproject+poky" / "repo"
# the recipes of the pins laid out in the cache below (the Kubernetes 1.36 row)
RUNTIME_RECIPES = {
    "containerd": "recipes-containers/containerd-bin/containerd-bin_2.3.4.bb",
    "runc": "recipes-containers/runc-bin/runc-bin_1.4.3.bb",
    "cni-plugins": "recipes-containers/cni-plugins-bin/cni-plugins-bin_1.9.1.bb",
    "cri-tools": "recipes-containers/cri-tools-bin/cri-tools-bin_1.36.0.bb",
}
# bb.fetch2 of the poky commit kas pins, on a recipe's SRC_URI: what do_unpack would look for in DL_DIR
# (ud.localpath: downloadfilename= when given), the URL path and the pinned sha256
_FETCH_DATA = r"""
import json, re, sys
sys.path.insert(0, sys.argv[1] + "/bitbake/lib")
import bb, bb.data, bb.fetch2
out = {}
for recipe in sys.argv[3:]:
    text = open(recipe).read().replace("\\\n", " ")
    pn, pv = re.match(r"(.+)_([^_]+)\.bb$", recipe.rsplit("/", 1)[1]).groups()
    d = bb.data.init()
    d.setVar("DL_DIR", sys.argv[2])
    d.setVar("PN", pn)
    d.setVar("PV", pv)
    d.setVar("BP", "${PN}-${PV}")
    d.setVar("SRC_URI", re.search(r'^SRC_URI = "([^"]*)"', text, re.M).group(1))
    for name, sha in re.findall(r'^SRC_URI\[(\S+)\] = "(\w+)"', text, re.M):
        d.setVarFlag("SRC_URI", name, sha)
    fetch = bb.fetch2.Fetch(d.getVar("SRC_URI").split(), d)
    out[recipe] = [[ud.path, ud.localpath, ud.sha256_expected]
                   for ud in (fetch.ud[u] for u in fetch.urls) if ud.type == "https"]
print(json.dumps(out))
"""


def _poky_commit() -> str:
    lock = (REPO / "kas" / "qemuarm64-k8s.lock.yml").read_text()
    return re.search(r"poky:\s*\n\s*commit:\s*(\w+)", lock).group(1)


@pytest.fixture(scope="module")
def fetch_data(tmp_path_factory) -> dict[str, tuple[str, str, str]]:
    """component -> (URL path, DL_DIR file name, pinned sha256) as poky's fetcher sees our recipe."""
    if not POKY.is_dir():
        pytest.skip(
            f"skipped: no poky mirror at {POKY} (prepare with: git clone --mirror "
            f"https://git.yoctoproject.org/poky {POKY})"
        )
    root = tmp_path_factory.mktemp("poky")
    archive = subprocess.run(
        ["git", "--git-dir", str(POKY), "archive", _poky_commit(), "bitbake/lib"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    recipes = {c: str(LAYER / r) for c, r in RUNTIME_RECIPES.items()}
    r = subprocess.run(
        [sys.executable, "-c", _FETCH_DATA, str(root), "/dl", *recipes.values()],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(r.stdout)
    out = {}
    for comp, recipe in recipes.items():
        ((path, localpath, sha),) = data[recipe]
        out[comp] = (path, Path(localpath).name, sha)
    return out


def _elf(name: str) -> bytes:
    return b"\x7fELF\x02\x01\x01" + f" arm64 test build of {name}\n".encode() * 50


def _runtime_cache(root: Path) -> dict[str, Path]:
    """A cache as `rcar-k8s runtime-build` leaves it: one <component>-<tag>-<commit12>-linux-arm64/ per
    pin with upstream's file name packed by build.py's own _pack, manifest.json (compact, keys in
    another order than build.py writes them) and SHA256SUMS; a gocache and a scratch tree beside them."""
    from generator.runtime import build

    pins = {
        "containerd": ("v2.3.4", "db8809540e1a7a9da5d518876894933ff55692ab"),
        "runc": ("v1.4.3", "bb14dabeb7184c6f6bb4a1c8e7a4b8a7c9d0e1f2"),
        "cni-plugins": ("v1.9.1", "adc3e6b5b5811111111111111111111111111111"),
        "cri-tools": ("v1.36.0", "88d8ad9d40f82222222222222222222222222222"),
    }
    bins = {
        "containerd": ("containerd", "containerd-shim-runc-v2", "ctr"),
        "runc": ("runc",),
        "cni-plugins": ("bridge", "host-local", "loopback", "portmap"),
        "cri-tools": ("crictl",),
    }
    archives = {}
    for comp, (tag, commit) in pins.items():
        out = build.cache_dir(root, comp, {"tag": tag, "commit": commit})
        bindir = root / "bin" / comp
        bindir.mkdir(parents=True)
        for b in bins[comp]:
            (bindir / b).write_bytes(_elf(b))
            (bindir / b).chmod(0o755)
        out.mkdir(parents=True)
        build._pack(build.COMPONENTS[comp], tag[1:], bindir, out)
        arc = out / build.COMPONENTS[comp].archive(tag[1:])
        sha = hashlib.sha256(arc.read_bytes()).hexdigest()
        man = {
            "sha256": sha,
            "archive": arc.name,
            "tag": tag,
            "commit": commit,
            "component": comp,
            "note": build.TEST_BUILD,
            "version": tag[1:],
            "built": "2026-12-01T12:37:45Z",
        }
        (out / "manifest.json").write_text(json.dumps(man, separators=(",", ":")))
        (out / "SHA256SUMS").write_text(f"{sha}  {arc.name}\n")
        archives[comp] = arc
    shutil.rmtree(root / "bin")
    # decoys of the same names where a search by name would find them
    (root / "gocache" / "3f").mkdir(parents=True)
    (root / "gocache" / "3f" / "containerd").write_bytes(b"gocache entry")
    (root / "warm" / "out").mkdir(parents=True)
    (root / "warm" / "out" / "runc.arm64").write_bytes(b"scratch")
    (root / "warm" / "out" / "runc.arm64").chmod(0o755)
    return archives


@pytest.mark.parametrize("comp", list(RUNTIME_RECIPES))
def test_runtime_build_artifact_is_the_download_byte_for_byte(
    tmp_path: Path, fetch_data, monkeypatch, comp: str
) -> None:
    """do_unpack gets the runtime-build file of upstream's name, unchanged; runc-bin renames its download
    (downloadfilename=runc.arm64-v1.4.3-linux-arm64) but fetches upstream's runc.arm64 of tag v1.4.3."""
    cache, dl = tmp_path / "runtime", tmp_path / "downloads"
    dl.mkdir()
    archives = _runtime_cache(cache)
    url_path, localname, pinned = fetch_data[comp]
    # a stub left by an earlier run without the cache is replaced
    (dl / localname).write_bytes(b"#!/bin/sh\n# stand-in for upstream's x\n")
    touched: list[str] = []
    for fn in ("listdir", "scandir"):
        real = getattr(os, fn)
        monkeypatch.setattr(os, fn, lambda p=".", _r=real: touched.append(str(p)) or _r(p))
    real_isfile = os.path.isfile
    monkeypatch.setattr(os.path, "isfile", lambda p: touched.append(str(p)) or real_isfile(p))
    desc = rr.make_download(str(dl / localname), str(cache), url_path, pinned)
    monkeypatch.undo()
    assert (dl / localname).read_bytes() == archives[comp].read_bytes()
    sha = hashlib.sha256(archives[comp].read_bytes()).hexdigest()
    assert desc.startswith(f"{localname}: runtime-build artifact {archives[comp]}, copied byte for byte"), (
        desc
    )
    assert f"sha256 {sha[:12]}... is the test build's, not upstream's" in desc
    assert f"the recipe pins upstream's {pinned[:12]}...: sha256 check skipped" in desc
    assert not [p for p in touched if "gocache" in Path(p).parts], "the gocache was searched"
    # only <cache>/<pin>/{manifest.json,archive}: never a search of the trees below (scratch checkouts)
    assert not [p for p in touched if len(Path(p).relative_to(cache).parts) > 2], touched
    assert not list(dl.glob("*.tmp"))


def test_runtime_cache_of_another_tag_or_only_decoys_makes_the_archive(tmp_path: Path, fetch_data) -> None:
    """runc.arm64 of v1.4.3 is not runc 1.3.6's download; same-named files outside the pin
    directories (gocache, scratch trees) are never taken: the made archive/stub it is."""
    cache = tmp_path / "runtime"
    _runtime_cache(cache)
    url_path, _local, pinned = fetch_data["runc"]
    old = url_path.replace("v1.4.3", "v1.3.6")
    desc = rr.make_download(str(tmp_path / "runc.arm64-v1.3.6-linux-arm64"), str(cache), old, pinned)
    assert desc == "runc.arm64-v1.3.6-linux-arm64: made single file (stub script)"
    assert b"stand-in for upstream's runc" in (tmp_path / "runc.arm64-v1.3.6-linux-arm64").read_bytes()
    # the gocache holds a pin-like manifest + archive: still not a runtime build
    url_path, localname, pinned = fetch_data["containerd"]
    for d in cache.glob("containerd-*"):
        for f in d.iterdir():
            f.rename(cache / "gocache" / f.name)
        d.rmdir()
    desc = rr.make_download(str(tmp_path / localname), str(cache), url_path, pinned)
    assert desc.startswith(f"{localname}: made archive of upstream's layout"), desc
    with tarfile.open(tmp_path / localname) as tar:
        assert b"stand-in for upstream's containerd" in tar.extractfile("bin/containerd").read()


def test_runtime_artifact_that_differs_from_its_manifest_is_not_used(tmp_path: Path, fetch_data) -> None:
    cache = tmp_path / "runtime"
    archives = _runtime_cache(cache)
    with archives["cri-tools"].open("ab") as f:
        f.write(b"truncated or rebuilt without its manifest")
    url_path, localname, pinned = fetch_data["cri-tools"]
    desc = rr.make_download(str(tmp_path / localname), str(cache), url_path, pinned)
    assert desc.startswith(f"{localname}: made archive of upstream's layout"), desc
    assert f"runtime-build artifact {archives['cri-tools']} ignored: its sha256 differs" in desc


def test_without_a_runtime_cache_the_archive_is_made(tmp_path: Path, fetch_data) -> None:
    url_path, localname, pinned = fetch_data["containerd"]
    for cache in ("", str(tmp_path / "missing")):
        desc = rr.make_download(str(tmp_path / localname), cache, url_path, pinned)
        assert desc == f"{localname}: made archive of upstream's layout, 4 members (stub scripts)"


def test_unreadable_runtime_cache_is_said_not_silently_stubbed(
    tmp_path: Path, fetch_data, monkeypatch
) -> None:
    """The build user reading root's ~/.cache (/root is 0700) gets EACCES: the description says so."""
    cache = tmp_path / "runtime"
    _runtime_cache(cache)
    real = os.listdir

    def listdir(p="."):
        if str(p) == str(cache):
            raise PermissionError(13, "Permission denied", str(p))
        return real(p)

    monkeypatch.setattr(os, "listdir", listdir)
    url_path, localname, pinned = fetch_data["runc"]
    desc = rr.make_download(str(tmp_path / localname), str(cache), url_path, pinned)
    why = f"(runtime cache {cache} not readable: Permission denied)"
    assert desc == f"{localname}: made single file (stub script) {why}"


def test_check_recipes_stages_the_cache_for_the_build_user(tmp_path: Path) -> None:
    """root's ~/.cache is under /root (0700): `check --recipes --as-user` hands the runner a copy with only
    the pins' manifests and archives, readable by others, and the runner finds them there."""
    from generator.commands.check import stage_runtime_cache

    cache = tmp_path / "runtime"
    archives = _runtime_cache(cache)
    for arc in archives.values():
        arc.chmod(0o600)  # a strict umask: a hard link would not be readable
    staged = stage_runtime_cache(cache, tmp_path / "staged", None)
    assert sorted(staged) == sorted(a.name for a in archives.values())
    got = sorted(
        str(p.relative_to(tmp_path / "staged")) for p in (tmp_path / "staged").rglob("*") if p.is_file()
    )
    assert got == sorted(f"{a.parent.name}/{n}" for a in archives.values() for n in (a.name, "manifest.json"))
    for arc in archives.values():
        copy = tmp_path / "staged" / arc.parent.name / arc.name
        assert copy.read_bytes() == arc.read_bytes() and copy.stat().st_mode & 0o004
    hit = rr.find_artifact(
        "/opencontainers/runc/releases/download/v1.4.3/runc.arm64", str(tmp_path / "staged")
    )
    assert hit and hit["path"].startswith(str(tmp_path / "staged"))


def test_exec_parsing_prefixes() -> None:
    text = "ExecStart=-/a b\nExecStartPre=!!/c\nExecStop=:@/d x\nExecStart=\nExecReload=relative\n"
    assert rr._exec_paths(text) == [("ExecStart", "/a"), ("ExecStartPre", "/c"), ("ExecStop", "/d")]


@pytest.mark.parametrize(
    "argv,says",
    [
        (["check"], "add --bitbake"),
        (["check", "--bitbake", "--recipes"], "separate runs"),
        (["check", "--recipes", "--only-extra"], "--only-extra needs at least one --extra-recipe"),
        (["check", "--bitbake", "--extra-recipe", "x.bb"], "belong to --recipes"),
        (["check", "--recipes", "--extra-recipe", "pyproject.toml"], "not a .bb file"),
    ],
)
def test_check_recipes_refuses_bad_input_in_one_line(cli, argv: list[str], says: str) -> None:
    r = cli(*argv)
    assert r.returncode == 2, r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr


def test_standin_overlay_from_recipe_output(tmp_path: Path) -> None:
    """qemu-test --standin --from-recipes: the split packages as they are, stubs and a v3 config left out."""
    import json
    import os

    from generator.qemu import standin

    root = tmp_path / "packages-split"
    cfg = root / "k8s-node-config"
    (cfg / "etc/containerd").mkdir(parents=True)
    (cfg / "etc/containerd/config.toml").write_text("version = 3\n")
    (cfg / "etc/systemd/system").mkdir(parents=True)
    os.symlink("/dev/null", cfg / "etc/systemd/system/swap.target")
    (cfg / "usr/lib/systemd/system-preset").mkdir(parents=True)
    (cfg / "usr/lib/systemd/system-preset/98-k8s-node-config.preset").write_text(
        "enable rcar-k8s-hostname.service\n"
    )
    (cfg / "usr/lib/systemd/system").mkdir(parents=True)
    (cfg / "usr/lib/systemd/system/rcar-k8s-hostname.service").write_text("[Service]\n")
    kb = root / "kubelet"
    (kb / "usr/bin").mkdir(parents=True)
    (kb / "usr/bin/kubelet").write_text(
        "#!/bin/sh\n# stand-in for upstream's kubelet (recipe run, not executed)\n"
    )
    (kb / "etc/kubernetes/manifests").mkdir(parents=True)
    run = tmp_path / "recipes.json"
    run.write_text(
        json.dumps(
            {
                "machine": "qemuarm64",
                "errors": [],
                "images": {
                    "rcar-k8s-node-image": {"rootfs": {"k8s-node-config": str(cfg), "kubelet": str(kb)}}
                },
            }
        )
    )
    ov = standin.overlay_from_recipes(run, "rcar-k8s-node-image", {"containerd": "1.6.20~ds1-1+deb12u3"})
    assert sorted(ov.files) == [
        "/usr/lib/systemd/system-preset/98-k8s-node-config.preset",
        "/usr/lib/systemd/system/rcar-k8s-hostname.service",
    ]
    assert ov.symlinks == {"/etc/systemd/system/swap.target": "/dev/null"}
    assert ov.dirs == ["/etc/kubernetes/manifests"]
    assert ov.enable == ["rcar-k8s-hostname.service"]
    assert "/etc/hostname" in ov.remove
    notes = " ".join(ov.notes)
    assert "/usr/bin/kubelet (kubelet)" in notes and "config version 3" in notes
    assert not any(p.endswith(("/containerd", "/runc")) for p in ov.remove)  # Debian's runtime stays
    # the recipe run had runtime-build test builds: containerd-bin's are real, so they replace Debian's
    # runtime and the config for them stays
    cd = root / "containerd-bin"
    (cd / "usr/bin").mkdir(parents=True)
    (cd / "usr/bin/containerd").write_bytes(_elf("containerd"))
    run.write_text(
        json.dumps(
            {
                "errors": [],
                "images": {
                    "rcar-k8s-node-image": {
                        "rootfs": {"k8s-node-config": str(cfg), "containerd-bin": str(cd)}
                    }
                },
            }
        )
    )
    ov = standin.overlay_from_recipes(run, "rcar-k8s-node-image", {"containerd": "1.6.20~ds1-1+deb12u3"})
    assert ov.files["/usr/bin/containerd"] == _elf("containerd")
    assert ov.files["/etc/containerd/config.toml"] == b"version = 3\n"
    assert "/usr/sbin/runc" in ov.remove and "/usr/bin/containerd-shim-runc-v2" in ov.remove
    assert "/usr/bin/containerd" not in ov.remove
    # a failed run is refused, not booted
    run.write_text(json.dumps({"errors": ["etcd-tmpfs: installed-vs-shipped"], "images": {}}))
    with pytest.raises(Exception, match="that recipe run failed"):
        standin.overlay_from_recipes(run, "rcar-k8s-node-image", {})
