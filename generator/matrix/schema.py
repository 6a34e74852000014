"""Shape of the lock file: required fields and their types, reported as ``file:line``.

Validation stops at the first problem and raises ``UserError`` (one line, exit 2): a matrix with a
missing or mistyped field is not something the rules can judge. Line numbers come from the YAML
node tree (``store.load_located``), so the message points at the key to fix, or at its parent
mapping when the key is missing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from generator.errors import UserError
from generator.matrix import versions
from generator.matrix.components import IMAGE_COMPONENTS, KUBE_IMAGES, REQUIRED_COMPONENTS
from generator.matrix.components import OPTIONAL_COMPONENTS as OPTIONAL_COMPONENTS  # re-exported
from generator.matrix.store import Lines

KUBE_BINARIES = ("kubeadm", "kubelet", "kubectl")
CGROUP_DRIVERS = ("systemd", "cgroupfs")

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MINOR = re.compile(r"^\d+\.\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


class _Validator:
    def __init__(self, lines: Lines, file: str) -> None:
        self.lines = lines
        self.file = file

    def fail(self, path: tuple[Any, ...], problem: str, fix: str) -> None:
        at = path
        while at and at not in self.lines:
            at = at[:-1]
        line = self.lines.get(at, 1)
        raise UserError(f"{self.file}:{line}: {dotted(path)}: {problem}; {fix}")

    def get(
        self,
        obj: dict[str, Any],
        path: tuple[Any, ...],
        key: str,
        kind: str,
        check: Callable[[Any], bool] | None = None,
        hint: str = "",
        optional: bool = False,
    ) -> Any:
        if key not in obj:
            if optional:
                return None
            self.fail(
                (*path, key), "missing field", f"add `{key}:` ({kind}); see docs/matrix.md for the shape"
            )
        value = obj[key]
        here = (*path, key)
        ok = {
            "string": lambda v: isinstance(v, str),
            "version": lambda v: isinstance(v, str) and versions.is_version(v),
            "minor": lambda v: isinstance(v, str) and bool(_MINOR.match(v)),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "mapping": lambda v: isinstance(v, dict),
            "list": lambda v: isinstance(v, list),
            "date": _is_date,
        }[kind](value)
        if not ok:
            got = type(value).__name__ if value is not None else "nothing"
            quote = " (quote it: '1.26' is a number in YAML)" if isinstance(value, float) else ""
            self.fail(here, f"expected a {kind}, got {got} {value!r}{quote}", hint or f"write a {kind}")
        if check is not None and not check(value):
            self.fail(here, f"bad value {value!r}", hint)
        return value


def _is_date(value: Any) -> bool:
    if isinstance(value, dt.date):
        return True
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def validate(data: dict[str, Any], lines: Lines, file: str) -> None:
    """Raise UserError at the first missing or mistyped field."""
    v = _Validator(lines, file)
    v.get(data, (), "schema", "integer", lambda s: s == 1, "this tool reads matrix schema 1")
    yocto = v.get(data, (), "yocto", "mapping")
    _yocto(v, yocto)
    rows = v.get(data, (), "rows", "list", lambda r: len(r) > 0, "add at least one row")
    seen: set[str] = set()
    for i, row in enumerate(rows):
        here = ("rows", i)
        if not isinstance(row, dict):
            v.fail(here, "expected a mapping (one Kubernetes minor)", "see docs/matrix.md for the row shape")
        minor = v.get(row, here, "k8s", "minor", hint="write the minor as a quoted string, e.g. '1.36'")
        if minor in seen:
            v.fail((*here, "k8s"), f"Kubernetes {minor} appears twice", "keep one row per minor")
        seen.add(minor)
        _row(v, row, here)
    addons = v.get(
        data, (), "addons", "mapping", hint="cluster add-ons, e.g. kube-vip (see generator/data/matrix.yml)"
    )
    vip = v.get(addons, ("addons",), "kube-vip", "mapping")
    v.get(vip, ("addons", "kube-vip"), "image", "string")
    v.get(
        data,
        (),
        "default",
        "minor",
        lambda d: d in seen,
        f"`default` must be one of the row minors ({', '.join(sorted(seen))})",
    )


def _yocto(v: _Validator, y: dict[str, Any]) -> None:
    p = ("yocto",)
    v.get(y, p, "series", "string", hint="a Yocto series name, e.g. scarthgap")
    v.get(y, p, "go", "version", hint="the Go version of OE-core for that series, e.g. '1.22.12'")
    kernel = v.get(y, p, "kernel", "mapping")
    v.get(kernel, (*p, "kernel"), "version", "version", hint="e.g. '5.10.218'")
    v.get(y, p, "systemd", "version", hint="systemd version, e.g. '255.21' (quoted)")
    layers = v.get(y, p, "layers", "mapping")
    for name, layer in layers.items():
        lp = (*p, "layers", name)
        if not isinstance(layer, dict):
            v.fail(lp, "expected a mapping", "give url, branch, commit, layers")
        v.get(layer, lp, "url", "string")
        v.get(layer, lp, "branch", "string")
        _commit(v, layer, lp)
        v.get(layer, lp, "layers", "list")


def _commit(v: _Validator, obj: dict[str, Any], p: tuple[Any, ...]) -> None:
    commit = obj.get("commit", "<missing>")
    if commit == "<missing>":
        v.fail((*p, "commit"), "missing field", "add `commit:` (40-hex SHA, or null with `unconfirmed:` why)")
    if commit is None:
        v.get(obj, p, "unconfirmed", "string", hint="say why the commit is not known")
    elif not (isinstance(commit, str) and _HEX40.match(commit)):
        v.fail(
            (*p, "commit"),
            f"not a full 40-hex commit SHA: {commit!r}",
            "write the full SHA (quoted), or null with `unconfirmed:`",
        )


def _row(v: _Validator, row: dict[str, Any], p: tuple[Any, ...]) -> None:
    for key in ("released", "maintenance", "eol"):
        v.get(row, p, key, "date", hint="write the date as 'YYYY-MM-DD'")
    comps = v.get(row, p, "components", "mapping")
    cp = (*p, "components")
    for name in REQUIRED_COMPONENTS:
        if name not in comps:
            v.fail((*cp, name), "missing component", f"add `{name}:` with version and source")
    for name, comp in comps.items():
        _component(v, name, comp, (*cp, name))


def _cni_manifest(v: _Validator, comp: dict[str, Any], p: tuple[Any, ...]) -> None:
    """The CNI manifest k8s-init applies (generator/images/catalog.py cni_manifest, rule R21)."""
    # optional in the shape (an older lock file still loads); rule R21 refuses a row without it
    m = v.get(
        comp,
        p,
        "manifest",
        "mapping",
        hint="the pinned kube-flannel.yml: path, url, sha256, images",
        optional=True,
    )
    if m is None:
        return
    mp = (*p, "manifest")
    v.get(m, mp, "path", "string", hint="path in the flannel repository, e.g. Documentation/kube-flannel.yml")
    v.get(m, mp, "url", "string", lambda u: u.startswith("https://"), "use an https:// URL at the pinned tag")
    v.get(m, mp, "sha256", "string", lambda h: bool(_HEX64.match(h)), "the file's sha256 (64 lowercase hex)")
    v.get(m, mp, "sha256_source", "string", hint="name where the hash was read (repo, tag, path)")
    images = v.get(m, mp, "images", "list", lambda i: len(i) > 0, "list every image: reference in the file")
    for i, ref in enumerate(images):
        if not isinstance(ref, str) or ":" not in ref:
            v.fail((*mp, "images", i), f"not an image reference: {ref!r}", "write e.g. ghcr.io/org/name:tag")
    v.get(m, mp, "network", "string", hint="the file's net-conf.json Network, e.g. 10.244.0.0/16")


def _component(v: _Validator, name: str, comp: Any, p: tuple[Any, ...]) -> None:
    if not isinstance(comp, dict):
        v.fail(p, "expected a mapping", "give at least version and source")
    if name == "kubernetes":
        images = v.get(
            comp, p, "images", "mapping", hint="kube-* images with image/digest (matrix update fills them)"
        )
        for image in KUBE_IMAGES:
            entry = v.get(images, (*p, "images"), image, "mapping")
            v.get(entry, (*p, "images", image), "image", "string")
    if name == "flannel":
        entry = v.get(comp, p, "cni_plugin_image", "mapping")
        v.get(entry, (*p, "cni_plugin_image"), "image", "string")
        _cni_manifest(v, comp, p)
    v.get(comp, p, "version", "version", hint="write the version as a quoted string, e.g. '1.36.4'")
    v.get(comp, p, "source", "string", hint="name the upstream source (URL or repo+path)")
    v.get(comp, p, "go", "version", optional=True, hint="the Go version its go.mod needs, quoted")
    if name in ("containerd", "docker", "kubernetes"):
        v.get(
            comp,
            p,
            "cgroup_driver",
            "string",
            lambda d: d in CGROUP_DRIVERS,
            f"one of: {', '.join(CGROUP_DRIVERS)}",
        )
    if name == "containerd":
        v.get(comp, p, "config_version", "integer", hint="containerd config.toml `version` (2, 3 or 4)")
        v.get(comp, p, "runc_pinned", "minor", hint="runc line from script/setup/runc-version, e.g. '1.4'")
    if name in IMAGE_COMPONENTS:
        v.get(comp, p, "image", "string", hint="full image reference, e.g. registry.k8s.io/pause:3.10.2")
    if comp.get("digest") is not None:
        if not (isinstance(comp["digest"], str) and _DIGEST.match(comp["digest"])):
            v.fail(
                (*p, "digest"), f"not an image digest: {comp['digest']!r}", "write sha256:<64 hex> or null"
            )
    git = v.get(comp, p, "git", "mapping", optional=True)
    if git is not None:
        gp = (*p, "git")
        v.get(git, gp, "repo", "string")
        v.get(git, gp, "tag", "string")
        _commit(v, git, gp)
        if git.get("commit") is not None:
            v.get(git, gp, "commit_source", "string", hint="name where the commit was read")
    arts = v.get(comp, p, "artifacts", "mapping", optional=True)
    if name == "kubernetes":
        if arts is None:
            v.fail((*p, "artifacts"), "missing field", "list kubeadm, kubelet and kubectl downloads")
        for b in KUBE_BINARIES:
            if b not in arts:
                v.fail((*p, "artifacts", b), "missing artifact", f"add the arm64 `{b}` download")
        imgs = v.get(comp, p, "images", "mapping", optional=True)
        for iname, ref in (imgs or {}).items():
            ref = ref.get("image") if isinstance(ref, dict) else ref
            if not isinstance(ref, str) or versions.from_image(ref) is None:
                v.fail(
                    (*p, "images", iname),
                    f"not an image reference with a version tag: {ref!r}",
                    "write e.g. registry.k8s.io/kube-apiserver:v1.36.4",
                )
    for aname, art in (arts or {}).items():
        ap = (*p, "artifacts", aname)
        if not isinstance(art, dict):
            v.fail(ap, "expected a mapping", "give url and sha256")
        v.get(art, ap, "url", "string", lambda u: u.startswith("https://"), "use an https:// URL")
        if "sha256" not in art:
            v.fail(
                (*ap, "sha256"), "missing field", "add `sha256:` (64 hex, or null with `unconfirmed:` why)"
            )
        if art["sha256"] is None:
            v.get(art, ap, "unconfirmed", "string", hint="say why the hash is not known")
        elif not (isinstance(art["sha256"], str) and _HEX64.match(art["sha256"])):
            v.fail(
                (*ap, "sha256"),
                f"not a sha256 (64 lowercase hex): {art['sha256']!r}",
                "copy the published hash exactly, or null with `unconfirmed:`",
            )
        else:
            v.get(art, ap, "sha256_source", "string", hint="name where the hash was published")
