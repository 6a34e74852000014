"""The cross-package checks of the recipe runner (generator/bbprobe/recipe_run.py), on package trees
laid out the way poky's populate_packages leaves PKGDEST (one directory per package). Fast: no BitBake;
tests/layer/test_recipe_run.py runs the same code on real BitBake output."""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

import pytest

from generator.bbprobe import RECIPE_RUN

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
    desc = rr.make_download(str(tmp_path / name), "")
    assert desc.startswith(name)
    with tarfile.open(tmp_path / name) as tar:
        names = set(tar.getnames())
        assert members <= names, sorted(names)
        for m in tar.getmembers():
            if m.name.startswith(("bin/", "./bridge")) or m.name.endswith(("/etcdctl", "crictl")):
                assert m.mode & 0o111, m.name
                data = tar.extractfile(m).read()
                assert b"stand-in for upstream's" in data  # never mistaken for the real binary


def test_single_file_download(tmp_path: Path) -> None:
    assert "single file" in rr.make_download(str(tmp_path / "kubeadm-v1.36.4-linux-arm64"), "")
    assert b"stand-in for upstream's kubeadm" in (tmp_path / "kubeadm-v1.36.4-linux-arm64").read_bytes()


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
    # a failed run is refused, not booted
    run.write_text(json.dumps({"errors": ["etcd-tmpfs: installed-vs-shipped"], "images": {}}))
    with pytest.raises(Exception, match="that recipe run failed"):
        standin.overlay_from_recipes(run, "rcar-k8s-node-image", {})
