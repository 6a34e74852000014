"""Where users are told to put join.env / cluster.env / join.yaml is where the node looks.

The search list is read from the scripts as the k8s-join recipe's real ``do_install`` installs
them (tests/etcd/recipe.py), the partitions from generator/layer/disk_layout.py (the same source
as the wks): no location is written down here. A board flashed from the wks has no "boot
partition"; text telling users to put ``rcar-k8s/join.env`` on one lands the file at
``/boot/rcar-k8s/rcar-k8s/join.env``.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from generator.layer import disk_layout
from tests.conftest import REPO
from tests.etcd.recipe import install

RECIPE = REPO / "meta-rcar-k8s/recipes-kubernetes/k8s-join/k8s-join_1.0.bb"
JOIN_FILES = ("join.env", "cluster.env", "join.yaml")
_FILE = r"(?:join\.env|cluster\.env|join\.yaml)"


def installed_scripts(root: Path) -> Path:
    install(RECIPE, root, "k8s-join", {"RCAR_K8S_KUBEADM_API": "kubeadm.k8s.io/v1beta4"})
    return root / "usr/libexec/rcar-k8s"


def search_dirs(script: Path) -> list[str]:
    """$JOIN_DIRS as the installed script sets it (its own assignment line, evaluated by bash)."""
    line = next(x for x in script.read_text().splitlines() if x.startswith("JOIN_DIRS="))
    env = {k: v for k, v in os.environ.items() if k != "JOIN_DIRS"}
    res = subprocess.run(
        ["bash", "-c", f'{line}\necho "$JOIN_DIRS"'], env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> Path:
    return installed_scripts(tmp_path_factory.mktemp("image"))


def test_both_scripts_search_the_config_partition_first(scripts: Path) -> None:
    join, init = search_dirs(scripts / "k8s-join"), search_dirs(scripts / "k8s-init")
    assert join == init  # cluster.env and join.env are found in the same places
    assert join[0] == disk_layout.CONFIG.mountpoint  # the top level of the FAT partition wins
    assert not any("@" in d for d in join)


# ---- every instruction in docs/ and the layer names a searched place -------------------------------


def _texts() -> list[Path]:
    files = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    for p in sorted((REPO / "meta-rcar-k8s").rglob("*")):
        if p.is_file() and b"\0" not in p.read_bytes()[:4096]:
            files.append(p)
    return files


def _sentences(text: str) -> list[str]:
    """Paragraphs of prose, comments and echo'd comments, joined and cut into sentences."""
    lines = [re.sub(r'^\s*(?:echo\s+"?)?#*\s?', "", x).rstrip('"') for x in text.splitlines()]
    out: list[str] = []
    for para in re.split(r"\n\s*\n", "\n".join(lines)):
        out += re.split(r"(?<=[.!?])\s+(?=[A-Z`(])", " ".join(para.split()))
    return out


def placements() -> list[tuple[Path, str]]:
    """(file, sentence) for every sentence that puts a join file on a partition."""
    found = []
    for path in _texts():
        for s in _sentences(path.read_text(errors="replace")):
            if re.search(_FILE, s) and re.search(r"partition", s):
                found.append((path, s))
    return found


def test_the_scan_finds_the_instructions() -> None:
    """The scan below is only worth something if it sees the places that tell users where to write."""
    where = {p.relative_to(REPO).as_posix() for p, _ in placements()}
    assert "docs/first-boot.md" in where
    assert "meta-rcar-k8s/recipes-kubernetes/k8s-join/files/k8s-init" in where  # the join.env header
    assert "meta-rcar-k8s/recipes-kubernetes/k8s-join/files/README" in where
    assert any(w.startswith("meta-rcar-k8s/recipes-kubernetes/kubeadm-config/files/join-") for w in where)


def test_every_instruction_names_a_partition_the_node_searches(scripts: Path) -> None:
    dirs = set(search_dirs(scripts / "k8s-join"))
    # a partition is named by its name, label or file system ("FAT" is how people say vfat)
    by_name: dict[str, disk_layout.Part] = {}
    for p in disk_layout.PARTS:
        for word in (p.name, p.label, p.fstype, "fat" if p.fstype == "vfat" else p.name):
            by_name.setdefault(word.lower(), p)
    bad = []
    for path, sentence in placements():
        where = f"{path.relative_to(REPO)}: {sentence}"
        for word in re.findall(r"([\w-]+)[ -]partition", sentence):
            part = by_name.get(word.lower())
            if part is None:
                bad.append(f"'{word} partition' is no partition of {disk_layout.WKS_NAME}: {where}")
            elif part.mountpoint not in dirs:
                bad.append(
                    f"the {word} partition ({part.mountpoint}) is not searched ({sorted(dirs)}): {where}"
                )
    assert not bad, "\n".join(bad)


def test_no_text_puts_a_rcar_k8s_folder_on_a_partition() -> None:
    """`rcar-k8s/join.env` on the config partition is /boot/rcar-k8s/rcar-k8s/join.env on the node:
    still read for older instructions, but the documented place is the top level."""
    relative = re.compile(rf"(?<![\w/.-])rcar-k8s/{_FILE}")
    bad = [f"{p.relative_to(REPO)}: {s}" for p, s in placements() if relative.search(s)]
    assert not bad, "\n".join(bad)


# ---- the node really finds the files there ---------------------------------------------------------


@pytest.mark.parametrize("folder", ["", "rcar-k8s/"], ids=["top-level", "older-rcar-k8s-folder"])
def test_a_join_env_on_the_config_partition_is_found(scripts: Path, tmp_path: Path, folder: str) -> None:
    """The installed k8s-join, its search list moved under a scratch root, finds join.env written
    where the docs say (the top level) and where older instructions put it; kubeadm is a stand-in."""
    fs = tmp_path / "fs"
    dirs = search_dirs(scripts / "k8s-join")
    target = fs / disk_layout.CONFIG.mountpoint.lstrip("/") / folder / "join.env"
    target.parent.mkdir(parents=True)
    target.write_text(
        "K8S_API_ENDPOINT=127.0.0.1:1\nK8S_TOKEN=abcdef.0123456789abcdef\n"
        f"K8S_CA_CERT_HASH=sha256:{'0f' * 32}\n"
    )
    env = dict(
        os.environ,
        JOIN_DIRS=" ".join(f"{fs}{d}" for d in dirs),
        STATE_DIR=str(tmp_path / "state"),
        RUN_DIR=str(tmp_path / "run"),
        KUBEADM="false",
        DEADLINE="1",
        BACKOFF_START="0.1",
    )
    res = subprocess.run(
        ["bash", str(scripts / "k8s-join")], env=env, capture_output=True, text=True, timeout=30
    )
    # found and rendered, then gave up on the (closed) API port: not "no join file"
    assert "no join file" not in res.stderr, res.stderr
    assert "API server 127.0.0.1:1 unreachable" in res.stderr, res.stderr


def test_a_cluster_env_at_the_top_of_the_config_partition_starts_init(scripts: Path, tmp_path: Path) -> None:
    fs = tmp_path / "fs"
    target = fs / disk_layout.CONFIG.mountpoint.lstrip("/") / "cluster.env"
    target.parent.mkdir(parents=True)
    target.write_text("K8S_INIT=1\n")
    env = dict(
        os.environ,
        JOIN_DIRS=" ".join(f"{fs}{d}" for d in search_dirs(scripts / "k8s-init")),
        STATE_DIR=str(tmp_path / "state"),
        RUN_DIR=str(tmp_path / "run"),
        INIT_CONFIG=str(tmp_path / "missing-init.yaml"),
    )
    res = subprocess.run(
        ["bash", str(scripts / "k8s-init")], env=env, capture_output=True, text=True, timeout=30
    )
    # cluster.env was found and read: k8s-init went on to look for its kubeadm configuration
    assert res.returncode == 2 and "missing-init.yaml missing" in res.stderr, res.stderr


def test_the_join_material_is_fetched_the_way_users_can_log_in(scripts: Path) -> None:
    """Root has no SSH login (issue 15: user admin with a key, then sudo): the docs fetch k8s-init's
    join material as admin through sudo, from the path k8s-init writes it to."""
    bad = [
        f"{p.relative_to(REPO)}: {m.group(0)}"
        for p in _texts()
        for m in re.finditer(r"\b(?:ssh|scp|rsync)\b[^`\n]*\broot@", p.read_text(errors="replace"))
    ]
    assert not bad, "\n".join(bad)
    line = next(x for x in (scripts / "k8s-init").read_text().splitlines() if x.startswith("JOIN_MATERIAL="))
    material = re.fullmatch(r"JOIN_MATERIAL=\$\{JOIN_MATERIAL:-(.+)\}", line).group(1)  # type: ignore[union-attr]
    assert f"ssh admin@<cp> sudo cat {material} > join.env" in (REPO / "docs/first-boot.md").read_text()
