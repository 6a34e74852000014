"""Distro and node-config knobs a user hits: crictl per runtime profile, the NTP wait, persistent
capped logs, poky's ptest/multiarch features dropped."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

import yaml

from generator.layer import node_files as nf
from generator.matrix.model import load_matrix

from .conftest import LAYER

DISTRO = LAYER / "conf/distro/rcar-k8s.conf"
NODE_CONFIG = LAYER / "recipes-kubernetes/k8s-node-config"


class D:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def getVar(self, name: str) -> str | None:  # noqa: N802 - BitBake's API
        return self.values.get(name)


def distro_socket(cri: str) -> str:
    m = re.search(r'^RCAR_K8S_CRI_SOCKET \?= "\$\{@(.*)\}"$', DISTRO.read_text(), re.M)
    return eval(m.group(1), {}, {"d": D({"RCAR_K8S_CRI": cri})})  # noqa: S307 - our own distro conf


def install_line(recipe: Path, needle: str) -> str:
    """One sed command of do_install, continuation lines joined."""
    body = recipe.read_text().split("do_install() {", 1)[1].split("\n}", 1)[0].replace("\\\n", " ")
    return next(ln.strip() for ln in body.splitlines() if needle in ln)


def run_install(recipe: Path, needle: str, values: dict[str, str], tmp: Path) -> bytes:
    line = install_line(recipe, needle)
    line = line.replace("${WORKDIR}", str(NODE_CONFIG / "files"))
    line = re.sub(r"> \$\{D\}\S+", f"> {tmp / 'out'}", line)
    for k, v in values.items():
        line = line.replace("${" + k + "}", v)
    assert "${" not in line, line
    subprocess.run(["sh", "-c", line], check=True)
    return (tmp / "out").read_bytes()


def recipe() -> Path:
    return NODE_CONFIG / f"k8s-node-config_{load_matrix().default_row.minor}.bb"


def test_crictl_names_the_socket_of_the_runtime_profile(tmp_path: Path):
    row = load_matrix().default_row
    docker = run_install(recipe(), "crictl.yaml", {"RCAR_K8S_CRI_SOCKET": distro_socket("docker")}, tmp_path)
    cfg = yaml.safe_load(docker)
    assert cfg["runtime-endpoint"] == cfg["image-endpoint"] == "unix:///run/cri-dockerd.sock"
    # the containerd profile installs exactly the node file the QEMU stand-in tests
    ours = run_install(
        recipe(), "crictl.yaml", {"RCAR_K8S_CRI_SOCKET": distro_socket("containerd")}, tmp_path
    )
    assert ours == nf.node_files(row)["/etc/crictl.yaml"]


def test_time_sync_wait_is_a_knob(tmp_path: Path):
    row = load_matrix().default_row
    assert re.search(r'^RCAR_K8S_TIME_SYNC_WAIT \?= "180"$', DISTRO.read_text(), re.M)
    path = "/usr/lib/systemd/system/systemd-time-wait-sync.service.d/rcar-k8s.conf"
    default = run_install(recipe(), "TimeoutStartSec", {"RCAR_K8S_TIME_SYNC_WAIT": "180"}, tmp_path)
    assert default == nf.node_files(row)[path]
    short = run_install(recipe(), "TimeoutStartSec", {"RCAR_K8S_TIME_SYNC_WAIT": "20s"}, tmp_path)
    assert b"\nTimeoutStartSec=20s\n" in short


def test_time_sync_wait_only_until_the_first_sync(tmp_path: Path):
    """The drop-in's ExecCondition/ExecStartPost, run by sh with the mark under tmp_path."""
    text = nf.node_files(load_matrix().default_row)[
        "/usr/lib/systemd/system/systemd-time-wait-sync.service.d/rcar-k8s.conf"
    ].decode()
    mark = tmp_path / "var/lib/rcar-k8s/time-synced-once"

    def run(key: str) -> int:
        cmd = re.search(rf"^{key}=/bin/sh -c '(.*)'$", text, re.M).group(1)
        cmd = cmd.replace(nf.TIME_SYNCED_MARK.rsplit("/", 1)[0], str(mark.parent))
        return subprocess.run(["/bin/sh", "-c", cmd]).returncode

    assert run("ExecCondition") == 0  # never synchronised: wait for NTP
    assert run("ExecStartPost") == 0 and mark.exists()  # runs only after ExecStart succeeded (synced)
    assert run("ExecCondition") == 1  # later boots: condition fails, the unit is skipped, no wait


def test_logs_persist_with_a_cap():
    distro = DISTRO.read_text()
    assert re.search(r'^VOLATILE_LOG_DIR = "no"$', distro, re.M)
    conf = configparser.ConfigParser()
    conf.read_string(
        nf.node_files(load_matrix().default_row)["/usr/lib/systemd/journald.conf.d/50-rcar-k8s.conf"].decode()
    )
    assert conf["Journal"]["Storage"] == "persistent"
    assert conf["Journal"]["SystemMaxUse"] and conf["Journal"]["RuntimeMaxUse"]
    # installed where systemd-journald reads drop-ins, by the recipe
    assert (NODE_CONFIG / "files/journald-rcar-k8s.conf").is_file()
    assert "${systemd_unitdir}/journald.conf.d/50-rcar-k8s.conf" in recipe().read_text()


def test_poky_ptest_and_multiarch_dropped():
    # poky scarthgap meta-poky/conf/distro/poky.conf:
    #   POKY_DEFAULT_DISTRO_FEATURES = "opengl ptest multiarch wayland vulkan"
    m = re.search(r'^DISTRO_FEATURES:remove = "([^"]*)"$', DISTRO.read_text(), re.M)
    assert {"ptest", "multiarch", "opengl", "wayland", "vulkan"} <= set(m.group(1).split())
