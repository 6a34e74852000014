"""Real linters on the generated layer: oelint-adv, systemd-analyze verify, shellcheck."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.layer import node_files
from generator.matrix.model import load_matrix
from tests.conftest import require_tool
from tests.layer.conftest import LAYER

BITBAKE_SUFFIXES = (".bb", ".bbappend", ".bbclass", ".inc", ".conf")


def _oelint() -> str:
    exe = Path(sys.executable).with_name("oelint-adv")
    return str(exe) if exe.exists() else require_tool("oelint-adv")


def _lint_groups() -> dict[str, list[str]]:
    """Layer files grouped by folder (conf, classes, recipes-x/<recipe>): each owner sees their own result."""
    groups: dict[str, list[str]] = {}
    for p in sorted(LAYER.rglob("*")):
        if p.is_file() and p.name.endswith(BITBAKE_SUFFIXES):
            rel = p.relative_to(LAYER).parts
            key = (
                "/".join(rel[:2])
                if rel[0].startswith(("recipes-", "conf"))
                else "/".join(rel[:-1][:3]) or "."
            )
            groups.setdefault(key, []).append(str(p))
    return groups


def test_oelint_covers_the_whole_layer():
    groups = _lint_groups()
    assert {
        "conf/layer.conf",
        "conf/distro",
        "classes",
        "recipes-kubernetes/kubernetes-bin",
        "recipes-core/images",
    } <= set(groups)


@pytest.mark.parametrize("group", sorted(_lint_groups()))
def test_oelint_adv_has_no_error_or_warning(group: str):
    files = _lint_groups()[group]
    r = subprocess.run(
        [
            _oelint(),
            "--quiet",
            "--hide",
            "info",
            "--release",
            "scarthgap",
            # homepageping fetches every HOMEPAGE over the network; tests never touch the network
            "--suppress",
            "oelint.vars.homepageping",
            *files,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    findings = [
        line for line in (r.stdout + r.stderr).splitlines() if ":error:" in line or ":warning:" in line
    ]
    assert not findings, "\n".join(findings)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------------------------------------------ units
UNITDIR = "usr/lib/systemd/system"
# unit (layer file) -> where the recipe installs it
MY_UNITS = {
    "recipes-kubernetes/kubernetes-bin/files/kubelet.service": f"{UNITDIR}/kubelet.service",
    "recipes-kubernetes/kubernetes-bin/files/10-kubeadm.conf": f"{UNITDIR}/kubelet.service.d/10-kubeadm.conf",
    "recipes-kubernetes/k8s-node-config/files/20-rcar-k8s.conf":
        f"{UNITDIR}/kubelet.service.d/20-rcar-k8s.conf",
    "recipes-kubernetes/k8s-node-config/files/rcar-k8s-hostname.service":
        f"{UNITDIR}/rcar-k8s-hostname.service",
    "recipes-containers/containerd-bin/files/containerd.service": f"{UNITDIR}/containerd.service",
    "recipes-containers/cri-dockerd-bin/files/cri-docker.service": f"{UNITDIR}/cri-docker.service",
    "recipes-containers/cri-dockerd-bin/files/cri-docker.socket": f"{UNITDIR}/cri-docker.socket",
}
# Exec* paths the units may name -> recipe that installs that binary on the image. A unit pointing
# anywhere else (say /usr/local/bin/containerd, upstream's default) fails verify: no stub exists.
IMAGE_BINARIES = {
    "/usr/bin/kubelet": "kubernetes-bin (kubelet)",
    "/usr/bin/containerd": "containerd-bin",
    "/usr/bin/cri-dockerd": "cri-dockerd-bin",
    "/usr/sbin/modprobe": "kmod",
    "/usr/sbin/swapoff": "util-linux-swapoff",
    "/bin/kill": "util-linux / coreutils",
}


def _root(tmp_path: Path) -> Path:
    """A root with the host's systemd units, this layer's units and the image's binaries (stubs)."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / UNITDIR, symlinks=True)
    for src, dst in MY_UNITS.items():
        (root / dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(LAYER / src, root / dst)
    for exe in IMAGE_BINARIES:
        p = root / exe.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("#!/bin/sh\nexit 0\n")
        p.chmod(0o755)
    script = node_files.node_files(load_matrix().default_row)["/usr/libexec/rcar-k8s/first-boot-hostname"]
    p = root / "usr/libexec/rcar-k8s/first-boot-hostname"
    p.parent.mkdir(parents=True)
    p.write_bytes(script)
    p.chmod(0o755)
    return root


@pytest.mark.parametrize(
    "unit",
    sorted(
        {
            Path(d).name if not d.endswith(".conf") else Path(d).parent.name.removesuffix(".d")
            for d in MY_UNITS.values()
        }
    ),
)
def test_systemd_analyze_verify(unit: str, tmp_path: Path):
    exe = require_tool("systemd-analyze")
    root = _root(tmp_path)
    r = subprocess.run(
        [exe, "verify", f"--root={root}", "--man=no", "--generators=no", unit],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"),
    )
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_verify_catches_a_missing_binary(tmp_path: Path):
    """The check is real: a unit whose ExecStart the image does not install fails."""
    exe = require_tool("systemd-analyze")
    root = _root(tmp_path)
    (root / "usr/bin/kubelet").unlink()
    r = subprocess.run(
        [exe, "verify", f"--root={root}", "--man=no", "--generators=no", "kubelet.service"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0 and "/usr/bin/kubelet" in r.stderr


def test_units_parse_and_name_only_image_binaries():
    for src in MY_UNITS:
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.optionxform = str  # type: ignore[assignment]
        cp.read_string((LAYER / src).read_text())
        for section in cp.sections():
            for key, value in cp[section].items():
                if key.startswith("Exec") and value.strip():
                    for line in value.splitlines():
                        path = line.strip().lstrip("-@+!:").split()[0] if line.strip() else ""
                        if path.startswith("/"):
                            assert path in IMAGE_BINARIES or path.startswith("/usr/libexec/rcar-k8s/"), (
                                src,
                                path,
                            )


# --------------------------------------------------------------------------------------------- shell
def _shell_scripts() -> list[Path]:
    out = []
    for p in sorted(LAYER.rglob("*")):
        if p.is_file() and not p.name.endswith(BITBAKE_SUFFIXES):
            head = p.read_bytes()[:64]
            if head.startswith(b"#!") and (b"sh" in head.split(b"\n", 1)[0]):
                out.append(p)
    return out


def test_layer_has_shell_scripts():
    assert any(p.name == "first-boot-hostname" for p in _shell_scripts())


@pytest.mark.parametrize("script", [str(p.relative_to(LAYER)) for p in _shell_scripts()])
def test_shellcheck(script: str):
    exe = require_tool("shellcheck")
    # -x -P SCRIPTDIR: follow helpers a script sources from its own folder (installed side by side)
    r = subprocess.run(
        [exe, "--severity=style", "-x", "-P", "SCRIPTDIR", str(LAYER / script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
