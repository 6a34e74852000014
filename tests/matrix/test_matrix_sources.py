"""The matrix against upstream source files.

Two parts:
* `matrix check --sources DIR` on mirrors built here with real git (tags, annotated tags, files as
  upstream writes them) and a Kubespray checksums.yml excerpt in its real shape: each kind of
  disagreement is reported, agreement is silent, a missing mirror is "not compared".
* Pins: every value issue 18 corrected is compared with the upstream file it came from, in the mirrors
  under $MIRROR_ROOT (default /work/.mirror). Without a mirror the test skips and says how to get it.
No test touches the network.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from generator.matrix import facts, store
from generator.matrix import versions as V
from generator.matrix.crosscheck import crosscheck
from generator.matrix.model import load_matrix
from tests.conftest import MATRIX, REPO, run_cli
from tests.matrix.matrixlab import comps, mutate

MIRROR_ROOT = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror"))
KUBESPRAY_REF = Path("/work/shared/reference/upstream/kubespray-checksums.yml")
BASE = "02c08f7"  # the commit before issue 18's corrections


def git(gitdir: Path, *args: str, cwd: Path | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    res = subprocess.run(
        ["git", f"--git-dir={gitdir}", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def make_mirror(root: Path, name: str, tags: dict[str, dict[str, str]], annotated: bool = True) -> Path:
    """A bare repo at root/OWNER+NAME/repo with one commit per tag holding ``files``."""
    gitdir = root / name / "repo"
    subprocess.run(["git", "init", "-q", "--bare", str(gitdir)], check=True)
    work = root / f"{name}.work"
    work.mkdir()
    for tag, files in tags.items():
        for rel, text in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
        git(gitdir, f"--work-tree={work}", "add", "-A", cwd=work)
        git(gitdir, f"--work-tree={work}", "commit", "-q", "-m", tag, cwd=work)
        git(gitdir, "tag", *(["-a", "-m", tag] if annotated else []), tag)
    return gitdir


# containerd's version/version.go as upstream writes it (v2.2.7 says 3, v2.3.0+ say 4): license header,
# `var (...)` block, the comment above the constant.
CONTAINERD_VERSION_GO = """\
/*
   Copyright The containerd Authors.

   Licensed under the Apache License, Version 2.0 (the "License");
*/

package version

import "runtime"

var (
	Name = "containerd"
	// Package is filled at linking time
	Package = "github.com/containerd/containerd/v2"

	// Version holds the complete version number. Filled in at linking time.
	Version = "{version}+unknown"

	// GoVersion is Go tree's version.
	GoVersion = runtime.Version()
)

// ConfigVersion is the current highest supported configuration version.
// This version is used by the main configuration as well as all plugins.
// Any configuration less than this version which has structural changes
// should migrate the configuration structures used by this version.
const ConfigVersion = {config}
"""

# Kubespray's checksums.yml as upstream writes it: "sha256:"-prefixed values, newest first.
KUBESPRAY_EXCERPT = """\
---
etcd_binary_checksums:
  arm64:
    3.6.8: sha256:{e368}
    3.6.6: sha256:0000000000000000000000000000000000000000000000000000000000000000
  amd64:
    3.6.6: sha256:1111111111111111111111111111111111111111111111111111111111111111
runc_checksums:
  arm64:
    1.3.6: sha256:{r136}
"""


@pytest.fixture
def mirrors(tmp_path: Path) -> Path:
    root = tmp_path / "mirrors"
    root.mkdir()
    make_mirror(
        root, "etcd-io+etcd", {"v3.6.6": {".go-version": "1.24.10\n"}, "v3.6.8": {".go-version": "1.24.99\n"}}
    )
    make_mirror(
        root,
        "containerd+containerd",
        {
            "v2.2.7": {
                "go.mod": "module github.com/containerd/containerd/v2\n\ngo 1.25.0\n",
                "script/setup/runc-version": "v1.3.5\n",
                # wrong on purpose: the matrix's 1.35 row says 3
                "version/version.go": CONTAINERD_VERSION_GO.format(version="2.2.7", config=4),
            },
            # as upstream at v2.3.4 (the fixture's commits carry files forward, so all are restated)
            "v2.3.4": {
                "go.mod": "module github.com/containerd/containerd/v2\n\ngo 1.26.3\n",
                "script/setup/runc-version": "v1.4.3\n",
                "version/version.go": CONTAINERD_VERSION_GO.format(version="2.3.4", config=4),
            },
        },
        annotated=False,
    )
    make_mirror(root, "kube-vip+kube-vip", {"v1.2.2": {"README.md": "a"}, "v1.2.3": {"README.md": "b"}})
    make_mirror(
        root,
        "openembedded+meta-openembedded",
        {
            "whinlatter": {
                "meta-oe/conf/layer.conf": '# comment\nLAYERSERIES_COMPAT_openembedded-layer = "whinlatter"\n'
            }
        },
        annotated=False,
    )
    return root


def _kubespray(tmp_path: Path) -> Path:
    rows = {r.minor: r for r in load_matrix(MATRIX).rows}
    text = KUBESPRAY_EXCERPT.format(
        e368=rows["1.36"].comp("etcd")["artifacts"]["etcd"]["sha256"],
        r136=rows["1.35"].comp("runc")["artifacts"]["runc"]["sha256"],
    )
    path = tmp_path / "checksums.yml"
    path.write_text(text)
    return path


def test_sources_reports_each_kind_of_disagreement(mirrors: Path, matrix_copy: Path, tmp_path: Path) -> None:
    # the meta-openembedded branch "whinlatter" is a branch, not a tag, in the real mirror: same lookup
    mutate(matrix_copy, lambda d: d["addons"]["kube-vip"].update(version="1.2.4"))
    res = run_cli(
        "matrix",
        "check",
        "--matrix",
        str(matrix_copy),
        "--date",
        "2026-12-01",
        "--sources",
        str(mirrors),
        "--kubespray",
        str(_kubespray(tmp_path)),
    )
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout
    # .go-version at the tag: v3.6.6 agrees, v3.6.8 does not
    assert "DISAGREE [1.36] etcd go: matrix 1.24.13, etcd-io/etcd@v3.6.8 .go-version says 1.24.99" in out
    assert "[1.35] etcd go" not in out
    # the fixture's commits are not upstream's: every pinned tag commit disagrees, by name
    assert re.search(
        r"DISAGREE \[1\.35\] containerd git\.commit: matrix 7835c8dfefceee63b1a4f9e84e015ddc8434fdc3, "
        r"containerd/containerd@v2\.2\.7 is [0-9a-f]{40}",
        out,
    )
    assert "DISAGREE [1.35] etcd git.commit: matrix d2809cf0019f84c221e026bb2ac6486d011b1d91" in out
    # script/setup/runc-version says v1.3.5, the matrix pins runc 1.3.6; the line (1.3) agrees
    assert (
        "DISAGREE [1.35] runc version: matrix 1.3.6, "
        "containerd/containerd@v2.2.7 script/setup/runc-version says v1.3.5" in out
    )
    assert "containerd runc_pinned" not in out
    assert "[1.35] containerd go:" not in out  # containerd v2.2.7 go.mod `go 1.25.0` == matrix 1.25.0
    # version/version.go's ConfigVersion at the pinned tag: v2.2.7 (fixture) says 4, v2.3.4 agrees with 4
    assert (
        "DISAGREE [1.35] containerd config_version: matrix 3, "
        "containerd/containerd@v2.2.7 version/version.go says ConfigVersion = 4" in out
    )
    assert "[1.36] containerd config_version" not in out and "[1.37] containerd config_version" not in out
    assert (
        "DISAGREE addons.kube-vip: matrix 1.2.4, but kube-vip/kube-vip has no tag v1.2.4 (newest: v1.2.3)"
        in out
    )
    assert (
        "DISAGREE facts.LAYER_COMPAT meta-openembedded whinlatter: facts 'walnascar whinlatter', "
        'openembedded/meta-openembedded@whinlatter meta-oe/conf/layer.conf says "whinlatter"'
    ) in out
    # Kubespray: 3.6.6 arm64 differs (amd64 is not compared), 3.6.8 and runc 1.3.6 agree
    assert re.search(
        r"DISAGREE \[1\.35\] etcd etcd sha256: matrix 8a15f542\w+, Kubespray "
        r"etcd_binary_checksums\.arm64\.3\.6\.6 is 0{64}",
        out,
    )
    assert "[1.36] etcd etcd sha256" not in out and "runc runc sha256" not in out
    assert "not compared (no mirror, tag or file):" in out and "opencontainers+runc" in out
    assert "FAILED:" in out.splitlines()[-1] and "source disagreement(s)" in out.splitlines()[-1]


def test_sources_json_and_agreement(mirrors: Path, tmp_path: Path) -> None:
    """The API and the JSON output agree; without --kubespray the Kubespray hashes are not compared."""
    rep = crosscheck(load_matrix(MATRIX), mirrors, _kubespray(tmp_path))
    kinds = {(i.minor, i.what) for i in rep.disagreements}
    assert ("1.36", "etcd go") in kinds and ("1.35", "etcd go") not in kinds
    res = run_cli("matrix", "check", "--date", "2026-12-01", "--sources", str(mirrors), "--format", "json")
    data = json.loads(res.stdout)["sources"]
    assert res.returncode == 1 and data["disagreements"] == len(rep.disagreements) - 1  # no --kubespray
    assert "kubernetes-sigs+kubespray" in data["not_compared"]


def test_sources_argument_errors(tmp_path: Path) -> None:
    res = run_cli("matrix", "check", "--sources", str(tmp_path / "nope"))
    assert (
        res.returncode == 2 and "not a directory" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    )
    res = run_cli("matrix", "check", "--kubespray", str(tmp_path / "x.yml"))
    assert res.returncode == 2 and "needs --sources" in res.stderr


# --- pins: each corrected value against its upstream file in the real mirrors -------------------------


def mirror(name: str) -> Path:
    for sub in ("repo/.git", "repo"):
        if (MIRROR_ROOT / name / sub / "HEAD").is_file():
            return MIRROR_ROOT / name / sub
    owner, repo = name.split("+")
    pytest.skip(
        f"skipped: no mirror of {owner}/{repo} under MIRROR_ROOT={MIRROR_ROOT} (prepare with: "
        f"git clone --bare https://github.com/{owner}/{repo}.git $MIRROR_ROOT/{name}/repo)"
    )


def show(gitdir: Path, ref: str, path: str) -> str:
    return git(gitdir, "show", f"{ref}:{path}")


@pytest.mark.parametrize("minor", ["1.35", "1.36", "1.37"])
def test_pin_etcd_go_is_the_tags_go_version(minor: str) -> None:
    etcd = load_matrix(MATRIX).row(minor).comp("etcd")
    tag = etcd["git"]["tag"]
    assert etcd["go_source"] == f"https://github.com/etcd-io/etcd/blob/{tag}/.go-version"
    expected = {"1.35": "1.24.10", "1.36": "1.24.13", "1.37": "1.26.5"}[minor]  # issue 18's values
    assert etcd["go"] == expected
    gitdir = mirror("etcd-io+etcd")
    assert show(gitdir, tag, ".go-version").strip() == expected
    # .go-version is the toolchain etcd is released with (go.mod `toolchain goX`), never below go.mod's
    # `go` minimum: where the layer uses it as RCAR_K8S_GO_MIN it can only overstate, never understate.
    gomod = show(gitdir, tag, "go.mod")
    assert re.search(r"^toolchain go(\S+)", gomod, re.M).group(1) == expected
    assert V.ge(expected, re.search(r"^go (\S+)", gomod, re.M).group(1))


def test_etcd_go_is_informational_for_the_rules(matrix_copy: Path) -> None:
    """etcd is pulled as an image and etcd-bin has no source build: no Go rule reads etcd's `go`, so the
    corrected (lower) values change no verdict, and a Yocto Go below it blocks nothing."""
    from generator.matrix.rules import check_matrix

    def findings(path: Path) -> set[tuple[str, str | None, str]]:
        return {
            (f.rule, f.minor, f.message)
            for f in check_matrix(path, build="source", yocto="whinlatter")
            if f.rule == "R14"
        }

    before = findings(matrix_copy)
    mutate(matrix_copy, lambda d: [r["components"]["etcd"].update(go="1.99.0") for r in d["rows"]])
    assert findings(matrix_copy) == before and not any("etcd" in m for _, _, m in before)


@pytest.mark.parametrize(
    ("component", "name", "tag", "commit"),
    [
        ("containerd", "containerd+containerd", "v2.2.7", "7835c8dfefceee63b1a4f9e84e015ddc8434fdc3"),
        ("runc", "opencontainers+runc", "v1.3.6", "491b69bab9fa206b984fb26ba07d3110d62e671f"),
    ],
)
def test_pin_confirmed_commits(component: str, name: str, tag: str, commit: str) -> None:
    git_ = load_matrix(MATRIX).row("1.35").comp(component)["git"]
    assert (git_["tag"], git_["commit"]) == (tag, commit) and "unconfirmed" not in git_
    assert f"@{tag}" in git_["commit_source"]
    assert git(mirror(name), "rev-parse", f"{tag}^{{commit}}") == commit


@pytest.mark.parametrize("branch", ["whinlatter", "wrynose", "master"])
def test_pin_meta_openembedded_layer_compat(branch: str) -> None:
    gitdir = mirror("openembedded+meta-openembedded")
    recorded = facts.LAYER_COMPAT.data["meta-openembedded"][branch]
    for layer in ("meta-oe", "meta-python", "meta-networking", "meta-filesystems"):
        text = show(gitdir, branch, f"{layer}/conf/layer.conf")
        said = re.search(r'^LAYERSERIES_COMPAT_\S+\s*=\s*"([^"]*)"', text, re.M)
        assert said and said.group(1).split() == recorded, (layer, branch)


def test_pin_kube_vip_is_a_tag_its_repository_has() -> None:
    addon = load_matrix(MATRIX).data["addons"]["kube-vip"]
    gitdir = mirror("kube-vip+kube-vip")
    tags = git(gitdir, "tag", "--list").split()
    releases = [t for t in tags if re.fullmatch(r"v\d+\.\d+\.\d+", t)]
    assert f"v{addon['version']}" in tags and addon["image"].endswith(f":v{addon['version']}")
    assert f"v{addon['version']}" == max(releases, key=V.key)  # the newest release the source shows
    assert git(gitdir, "rev-parse", f"v{addon['version']}^{{commit}}") in addon["source"]


def test_committed_matrix_agrees_with_the_mirrors_and_the_base_did_not(tmp_path: Path) -> None:
    for name in ("etcd-io+etcd", "containerd+containerd", "opencontainers+runc", "kube-vip+kube-vip"):
        mirror(name)
    assert crosscheck(load_matrix(MATRIX), MIRROR_ROOT).disagreements == []
    old = subprocess.run(
        ["git", "show", f"{BASE}:generator/data/matrix.yml"], cwd=REPO, capture_output=True, text=True
    )
    if old.returncode != 0:
        pytest.skip(f"skipped: base commit {BASE} not in this clone (prepare with: git fetch --unshallow)")
    path = tmp_path / "base.yml"
    path.write_text(old.stdout)
    found = {(i.minor, i.what) for i in crosscheck(load_matrix(path), MIRROR_ROOT).disagreements}
    assert found == {
        ("1.35", "etcd go"),
        ("1.36", "etcd go"),
        ("1.37", "etcd go"),
        (None, "addons.kube-vip"),
        # the base pinned containerd 2.3.4 with config version 3 (issue 18)
        ("1.36", "containerd config_version"),
        ("1.37", "containerd config_version"),
    }


@pytest.mark.parametrize("minor", [r.minor for r in load_matrix(MATRIX).rows])
def test_pin_containerd_config_version_is_the_tags_config_version(minor: str) -> None:
    """Each row's config_version is what its containerd tag writes itself (version/version.go
    ConfigVersion: containerd/containerd@v2.2.7 3, @v2.3.4 4), so containerd never migrates our file."""
    from generator.matrix.crosscheck import config_version_in

    c = load_matrix(MATRIX).row(minor).comp("containerd")
    tag = c["git"]["tag"]
    assert tag == f"v{c['version']}"
    text = show(mirror("containerd+containerd"), tag, "version/version.go")
    said = config_version_in(text)
    assert said is not None, f"containerd@{tag} version/version.go has no `const ConfigVersion = N`"
    assert c["config_version"] == said, (minor, tag)


def test_pin_kubeadm_etcd_constants() -> None:
    """ETCD_LINE / ETCD_MIN_EXTERNAL are kubeadm's SupportedEtcdVersion / MinExternalEtcdVersion."""
    gitdir = mirror("kubernetes+kubernetes")
    for row in load_matrix(MATRIX).rows:
        text = show(gitdir, f"v{row.kubernetes}", facts.KUBEADM_CONSTANTS)
        block = re.search(r"SupportedEtcdVersion\s*=\s*map\[uint8\]string\s*\{(.*?)\}", text, re.S)
        entry = re.search(rf"\b{V.minor_num(row.minor)}:\s*\"([^\"]+)\"", block.group(1)) if block else None
        assert entry and V.minor(entry.group(1)) == facts.ETCD_LINE.data[row.minor], row.minor
        low = re.search(r'MinExternalEtcdVersion\s*=\s*"([^"]+)"', text)
        assert low and V.key(low.group(1)) == V.key(facts.ETCD_MIN_EXTERNAL.data), row.minor


def test_pin_1_36_newest_patch_is_honest_about_its_sources() -> None:
    k = load_matrix(MATRIX).row("1.36").comp("kubernetes")
    why = k["why"]
    assert "only" not in why or "sources" in why
    assert "offline sources" in why and "not necessarily upstream" in why and "matrix update" in why
    sha = re.search(r"kubernetes-sigs/kubespray@([0-9a-f]{40}) checksums\.yml \((\d{4}-\d\d-\d\d)\)", why)
    assert sha, why
    if not KUBESPRAY_REF.is_file():
        pytest.skip(
            f"skipped: no Kubespray checksums.yml at {KUBESPRAY_REF} (prepare with: git -C "
            "kubespray show "
            + sha.group(1)
            + f":roles/kubespray_defaults/vars/main/checksums.yml > {KUBESPRAY_REF})"
        )
    assert sha.group(1) in KUBESPRAY_REF.with_name("README.md").read_text()
    listed = [str(v) for v in yaml.safe_load(KUBESPRAY_REF.read_text())["kubeadm_checksums"]["arm64"]]
    newest = max((v for v in listed if V.minor(v) == "1.36"), key=V.key)
    assert newest == k["version"] == "1.36.4" and f"up to {newest}" in why


def test_store_round_trip_of_the_corrected_matrix() -> None:
    assert store.dump(store.load(MATRIX)) == MATRIX.read_text()
    assert comps(store.load(MATRIX), "1.35")["etcd"]["go"] == "1.24.10"


@pytest.mark.parametrize("minor", [r.minor for r in load_matrix(MATRIX).rows])
def test_pin_newest_patch_claims_say_what_they_are_true_of(minor: str) -> None:
    """A "newest patch" is true only of the offline sources (issue 18: Kubernetes 1.36.5+ exist): the
    why says so and how to refresh, or names the newer patch it knows of and why it is not pinned."""
    k = load_matrix(MATRIX).row(minor).comp("kubernetes")
    why = k["why"]
    assert "newest" in why, why
    honest = "offline sources" in why and "not necessarily upstream" in why and "matrix update" in why
    names_newer = re.search(rf"{re.escape(minor)}\.\d+ \(\d{{4}}-\d\d-\d\d\) exists but", why)
    assert honest or names_newer, (minor, why)
    if honest:
        assert f"{k['version']} (" in why or f"up to {k['version']}" in why, (minor, why)


@pytest.mark.parametrize("minor", [r.minor for r in load_matrix(MATRIX).rows])
def test_pin_etcd_why_names_the_newer_tags_of_its_line(minor: str) -> None:
    """The matrix pins kubeadm's etcd (what `matrix update` reads: DefaultEtcdVersion), not etcd's newest
    tag; where etcd-io/etcd has a newer release in the same line (v3.6.14 and v3.7.1, 2026-07-23), the
    why names it, so nobody reads the pin as "newest etcd"."""
    etcd = load_matrix(MATRIX).row(minor).comp("etcd")
    tags = git(mirror("etcd-io+etcd"), "tag", "--list", f"v{V.minor(etcd['version'])}.*").split()
    releases = [t for t in tags if re.fullmatch(r"v\d+\.\d+\.\d+", t)]
    newest = max(releases, key=V.key)
    assert f"v{etcd['version']}" in releases
    if not V.lt(str(etcd["version"]), newest.lstrip("v")):
        return  # nothing newer in the mirror
    assert newest in etcd["why"] and "DefaultEtcdVersion" in etcd["why"], (minor, newest, etcd["why"])
