"""Compare the matrix and facts.py with local mirrors of the upstream repositories, offline.

``rcar-k8s matrix check --sources DIR`` reads bare git mirrors laid out as ``DIR/OWNER+NAME/repo``
(the layout of $MIRROR_ROOT) and reports every place where two upstream facts disagree:

* a component's ``git.tag`` resolves (``TAG^{commit}``) to another commit than the matrix's;
* a recorded ``go`` differs from the file its ``go_source`` names at that tag (``.go-version``, or the
  ``go`` directive of ``go.mod``); ``runc_pinned`` and the runc version differ from containerd's
  ``script/setup/runc-version``;
* containerd's ``config_version`` differs from ``const ConfigVersion`` in ``version/version.go`` at the
  pinned tag (the version that containerd writes and reads without migrating, R10);
* an addon image tag (kube-vip) has no such tag in its repository;
* ``facts.LAYER_COMPAT`` differs from a layer branch's ``conf/layer.conf`` LAYERSERIES_COMPAT;
* an artifact sha256 differs from Kubespray's checksums.yml (the commit its ``cross_check`` names, read
  from ``DIR/kubernetes-sigs+kubespray/repo``, or a verbatim copy given with ``--kubespray FILE``).

A value the matrix leaves null but a mirror holds is reported as confirmable, not as a disagreement.
Repositories or tags the mirrors lack are counted as not compared, never as agreement.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator import program
from generator.errors import UserError
from generator.matrix import facts
from generator.matrix import versions as V
from generator.matrix.model import Matrix

DISAGREE = "DISAGREE"
CONFIRMABLE = "CONFIRMABLE"

# Non-GitHub homes of mirrored repositories (the matrix names the canonical URL).
ALIASES = {
    "git.yoctoproject.org/poky": "yoctoproject+poky",
    "git.openembedded.org/meta-openembedded": "openembedded+meta-openembedded",
    "git.yoctoproject.org/meta-virtualization": "lmp-mirrors+meta-virtualization",
}
# facts.LAYER_COMPAT layer -> (mirror, the layer.conf whose LAYERSERIES_COMPAT the fact records).
LAYER_CONF = {
    "poky": ("yoctoproject+poky", "meta-poky/conf/layer.conf"),
    "meta-openembedded": ("openembedded+meta-openembedded", "meta-oe/conf/layer.conf"),
    "meta-virtualization": ("lmp-mirrors+meta-virtualization", "conf/layer.conf"),
    "meta-renesas": ("renesas-rcar+meta-renesas", "meta-rcar-gen3/conf/layer.conf"),
}
# (component, artifact) -> Kubespray checksums.yml key.
KUBESPRAY_KEYS = {
    ("kubernetes", "kubeadm"): "kubeadm_checksums",
    ("kubernetes", "kubelet"): "kubelet_checksums",
    ("kubernetes", "kubectl"): "kubectl_checksums",
    ("cri-tools", "crictl"): "crictl_checksums",
    ("containerd", "containerd"): "containerd_archive_checksums",
    ("runc", "runc"): "runc_checksums",
    ("cni-plugins", "cni-plugins"): "cni_binary_checksums",
    ("etcd", "etcd"): "etcd_binary_checksums",
    ("cri-dockerd", "cri-dockerd"): "cri_dockerd_archive_checksums",
}
KUBESPRAY = "kubernetes-sigs+kubespray"
KUBESPRAY_PATH = "roles/kubespray_defaults/vars/main/checksums.yml"
_CROSS = re.compile(r"kubernetes-sigs/kubespray@([0-9a-f]{40}) ")
_BLOB = re.compile(r"^https://github\.com/([^/]+)/([^/]+)/blob/([^/]+)/(.+)$")
_COMPAT = re.compile(r'^LAYERSERIES_COMPAT_\S+\s*=\s*"([^"]*)"', re.M)
# containerd/containerd version/version.go (v2.0+): `const ConfigVersion = 4`.
CONTAINERD_VERSION_GO = "version/version.go"
_CONFIG_VERSION = re.compile(r"^const\s+ConfigVersion\s*=\s*(\d+)\s*$", re.M)


@dataclass(frozen=True)
class Item:
    kind: str  # DISAGREE or CONFIRMABLE
    minor: str | None
    what: str
    message: str

    def line(self) -> str:
        row = f"[{self.minor}] " if self.minor else ""
        return f"  {self.kind} {row}{self.what}: {self.message}"


@dataclass
class Report:
    items: list[Item] = field(default_factory=list)
    compared: int = 0
    missing: set[str] = field(default_factory=set)  # "repo" or "repo tag" the mirrors lack

    @property
    def disagreements(self) -> list[Item]:
        return [i for i in self.items if i.kind == DISAGREE]


class Mirrors:
    """Read-only access to bare git mirrors under ``root`` (``OWNER+NAME/repo``)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise UserError(f"--sources {root}: not a directory (expected mirrors as OWNER+NAME/repo)")
        self.root = root

    def gitdir(self, name: str) -> Path | None:
        for sub in ("repo/.git", "repo"):
            p = self.root / name / sub
            if (p / "HEAD").is_file():
                return p
        return None

    def _git(self, name: str, *args: str) -> str | None:
        gd = self.gitdir(name)
        if gd is None:
            return None
        # a non-zero exit is an answer here (no such tag or path in the mirror)
        res = program.run(["git", f"--git-dir={gd}", *args], check=False, fix="install git (apt install git)")
        return res.stdout if res.returncode == 0 else None

    def commit(self, name: str, ref: str) -> str | None:
        out = self._git(name, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        return out.strip() if out else None

    def show(self, name: str, ref: str, path: str) -> str | None:
        return self._git(name, "show", f"{ref}:{path}")

    def tags(self, name: str) -> list[str]:
        out = self._git(name, "tag", "--list")
        return out.split() if out else []


def mirror_name(url: str) -> str | None:
    """ "https://github.com/containerd/containerd.git" -> "containerd+containerd"."""
    u = re.sub(r"^https?://", "", url or "").removesuffix(".git").rstrip("/")
    if u.startswith("github.com/"):
        parts = u.split("/")
        return f"{parts[1]}+{parts[2]}" if len(parts) >= 3 else None
    return ALIASES.get(u)


def go_in(path: str, text: str) -> str | None:
    """The Go version a file states: .go-version's content, go.mod's `go` directive."""
    if path.endswith(".go-version"):
        return text.strip() or None
    if path.endswith("go.mod"):
        m = re.search(r"^go\s+(\S+)", text, re.M)
        return m.group(1) if m else None
    return None


def _components(matrix: Matrix) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for row in matrix.rows:
        for cname, comp in row.components.items():
            yield row.minor, cname, comp


def _commits(m: Mirrors, matrix: Matrix, rep: Report) -> None:
    for minor, cname, comp in _components(matrix):
        git = comp.get("git") or {}
        name, tag = mirror_name(git.get("repo", "")), git.get("tag")
        if not name or not tag:
            continue
        if m.gitdir(name) is None:
            rep.missing.add(name)
            continue
        have = m.commit(name, tag)
        if have is None:
            rep.missing.add(f"{name} {tag}")
            continue
        rep.compared += 1
        mine = git.get("commit")
        where = f"{name.replace('+', '/')}@{tag}"
        if mine is None:
            rep.items.append(
                Item(CONFIRMABLE, minor, f"{cname} git.commit", f"null in the matrix; {where} is {have}")
            )
        elif mine != have:
            rep.items.append(
                Item(DISAGREE, minor, f"{cname} git.commit", f"matrix {mine}, {where} is {have}")
            )


def _files(m: Mirrors, matrix: Matrix, rep: Report) -> None:
    for minor, cname, comp in _components(matrix):
        src = _BLOB.match(str(comp.get("go_source") or ""))
        if src and comp.get("go"):
            owner, repo, ref, path = src.groups()
            name = f"{owner}+{repo}"
            text = m.show(name, ref, path) if m.gitdir(name) else None
            said = go_in(path, text) if text is not None else None
            if said is None:
                rep.missing.add(f"{name} {ref}:{path}" if m.gitdir(name) else name)
            else:
                rep.compared += 1
                if str(said) != str(comp["go"]):
                    rep.items.append(
                        Item(
                            DISAGREE,
                            minor,
                            f"{cname} go",
                            f"matrix {comp['go']}, {owner}/{repo}@{ref} {path} says {said}",
                        )
                    )
        src = _BLOB.match(str(comp.get("runc_pinned_source") or ""))
        if cname == "containerd" and src:
            owner, repo, ref, path = src.groups()
            text = m.show(f"{owner}+{repo}", ref, path)
            if text is None:
                rep.missing.add(f"{owner}+{repo} {ref}:{path}")
                continue
            ships = text.strip().lstrip("v")
            rep.compared += 1
            runc = matrix.row(minor).components.get("runc") or {}
            where = f"{owner}/{repo}@{ref} {path} says v{ships}"
            if str(comp.get("runc_pinned")) != V.minor(ships):
                rep.items.append(
                    Item(
                        DISAGREE,
                        minor,
                        "containerd runc_pinned",
                        f"matrix {comp.get('runc_pinned')}, {where}",
                    )
                )
            if runc and str(runc.get("version")) != ships:
                rep.items.append(
                    Item(DISAGREE, minor, "runc version", f"matrix {runc.get('version')}, {where}")
                )


def config_version_in(text: str) -> int | None:
    """containerd's own config version: ``const ConfigVersion = N`` in version/version.go."""
    found = _CONFIG_VERSION.search(text)
    return int(found.group(1)) if found else None


def _config_versions(m: Mirrors, matrix: Matrix, rep: Report) -> None:
    for minor, cname, comp in _components(matrix):
        git = comp.get("git") or {}
        name, tag = mirror_name(git.get("repo", "")), git.get("tag")
        if cname != "containerd" or not name or not tag or "config_version" not in comp:
            continue
        if m.gitdir(name) is None:
            rep.missing.add(name)
            continue
        text = m.show(name, tag, CONTAINERD_VERSION_GO)
        said = config_version_in(text) if text is not None else None
        if said is None:  # no such tag, or a 1.x tree (its version lives in cmd/containerd/command)
            rep.missing.add(f"{name} {tag}:{CONTAINERD_VERSION_GO}")
            continue
        rep.compared += 1
        if said != comp["config_version"]:
            rep.items.append(
                Item(
                    DISAGREE,
                    minor,
                    "containerd config_version",
                    f"matrix {comp['config_version']}, {name.replace('+', '/')}@{tag} "
                    f"{CONTAINERD_VERSION_GO} says ConfigVersion = {said}",
                )
            )


def _addons(m: Mirrors, matrix: Matrix, rep: Report) -> None:
    for aname, addon in (matrix.data.get("addons") or {}).items():
        name = f"{aname}+{aname}"  # kube-vip/kube-vip
        if not isinstance(addon, dict) or not addon.get("version"):
            continue
        if m.gitdir(name) is None:
            rep.missing.add(name)
            continue
        tags = m.tags(name)
        rep.compared += 1
        tag = f"v{addon['version']}"
        if tag not in tags:
            newest = max((t for t in tags if re.fullmatch(r"v\d+\.\d+\.\d+", t)), key=V.key, default="none")
            rep.items.append(
                Item(
                    DISAGREE,
                    None,
                    f"addons.{aname}",
                    f"matrix {addon['version']}, but {aname}/{aname} has no tag {tag} (newest: {newest})",
                )
            )


def _layer_compat(m: Mirrors, rep: Report) -> None:
    for layer, branches in facts.LAYER_COMPAT.data.items():
        name, conf = LAYER_CONF.get(layer, (None, None))
        if name is None or m.gitdir(name) is None:
            rep.missing.add(name or layer)
            continue
        for branch, compat in branches.items():
            text = m.show(name, branch, conf)
            found = _COMPAT.search(text or "")
            if not found:
                rep.missing.add(f"{name} {branch}:{conf}")
                continue
            rep.compared += 1
            said = found.group(1).split()
            if said != list(compat):
                rep.items.append(
                    Item(
                        DISAGREE,
                        None,
                        f"facts.LAYER_COMPAT {layer} {branch}",
                        f"facts {' '.join(compat)!r}, {name.replace('+', '/')}@{branch} {conf} "
                        f'says "{" ".join(said)}"',
                    )
                )


def load_kubespray(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{where}: not Kubespray's checksums.yml ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise UserError(f"{where}: not Kubespray's checksums.yml (expected a mapping of *_checksums)")
    return data


def _kubespray(m: Mirrors, matrix: Matrix, rep: Report, given: dict[str, Any] | None) -> None:
    cache: dict[str, dict[str, Any] | None] = {}
    for minor, cname, comp in _components(matrix):
        for aname, art in (comp.get("artifacts") or {}).items():
            key = KUBESPRAY_KEYS.get((cname, aname))
            version = V.from_url(str(art.get("url", "")))
            if not key or not version:
                continue
            cross = _CROSS.search(str(art.get("cross_check") or ""))
            data = given
            if data is None and cross:
                sha = cross.group(1)
                if sha not in cache:
                    text = m.show(KUBESPRAY, sha, KUBESPRAY_PATH) if m.gitdir(KUBESPRAY) else None
                    cache[sha] = load_kubespray(text, f"{KUBESPRAY}@{sha}") if text else None
                data = cache[sha]
            if data is None:
                rep.missing.add(KUBESPRAY)
                continue
            table = ((data.get(key) or {}).get("arm64")) or {}
            theirs = next((v for k, v in table.items() if str(k) == version), None)
            if theirs is None:
                continue
            rep.compared += 1
            theirs = str(theirs).removeprefix("sha256:")
            mine = art.get("sha256")
            what = f"{cname} {aname} sha256"
            if mine is None:
                rep.items.append(
                    Item(
                        CONFIRMABLE,
                        minor,
                        what,
                        f"null in the matrix; Kubespray {key}.arm64.{version} is {theirs}",
                    )
                )
            elif mine != theirs:
                rep.items.append(
                    Item(DISAGREE, minor, what, f"matrix {mine}, Kubespray {key}.arm64.{version} is {theirs}")
                )


def crosscheck(matrix: Matrix, root: Path, kubespray: Path | None = None) -> Report:
    """Every comparison the mirrors under ``root`` allow (see the module docstring)."""
    m = Mirrors(root)
    given = None
    if kubespray is not None:
        try:
            given = load_kubespray(kubespray.read_text(encoding="utf-8"), str(kubespray))
        except OSError as exc:
            raise UserError(f"--kubespray {kubespray}: cannot read ({exc.__class__.__name__})") from None
    rep = Report()
    _commits(m, matrix, rep)
    _files(m, matrix, rep)
    _config_versions(m, matrix, rep)
    _addons(m, matrix, rep)
    _layer_compat(m, rep)
    _kubespray(m, matrix, rep, given)
    return rep
