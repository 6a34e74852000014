"""Refresh the matrix lock file from upstream: ``rcar-k8s matrix update``.

  rcar-k8s matrix update                     refresh every row, add new minors, drop EOL rows
  rcar-k8s matrix update --dry-run           show what would change; write nothing
  rcar-k8s matrix update --only containerd   refresh one component in every row
  rcar-k8s matrix update --only k8s=1.36     refresh one row
  rcar-k8s matrix update --only images       re-read every container image digest, nothing else

For each row (Kubernetes minor) it reads: the newest patch (dl.k8s.io stable-1.N.txt); the arm64
binaries' published .sha256 files; kubeadm's etcd/pause/CoreDNS constants and the Go version
(build/dependencies.yaml) at that tag; containerd's Kubernetes support table (RELEASES.md) and the
runc it ships (script/setup/runc-version); the newest cri-tools, CNI plugins, flannel and
cri-dockerd releases (GitHub releases API) and each artifact's published checksum file; every tag
is resolved to a full commit SHA (annotated tags peeled via the git tags API). New minors (a
v1.N.0 release plus a kubernetes/website schedule entry) become new rows; rows past end of life
plus ``--grace-days`` are dropped; a new minor whose per-minor facts (generator/matrix/facts.py) are
missing is refused before any row is refreshed (exit 1, the missing facts named, nothing written).
Then every container image a node needs (kube-*, pause, CoreDNS, etcd, flannel + its CNI plugin image,
kube-vip) is read from its registry (generator/upstream/registry.py): the tag's index digest and
the linux/arm64 manifest, config and layer digests. A hash that changed upstream for the same
version, or a tag (git or image) that moved, is an error, never an update.

The new matrix must pass ``matrix check`` (generator/matrix/rules/) for every new or changed
row, then it is written atomically. Any fetch, parse or check failure leaves the file untouched.
Exit status: 0 done (or nothing to do), 1 check failed or a new minor refused, 2 bad arguments, 3 upstream
fetch failed.

GITHUB_TOKEN (optional) raises GitHub's API limit; it is sent only to api.github.com and never
printed or cached. Responses are cached in --cache-dir with their ETags; a repeated run sends
conditional requests and costs only 304s.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator import paths
from generator.errors import UserError
from generator.matrix import facts, model, store
from generator.matrix.components import IMAGE_COMPONENTS
from generator.upstream import sources as src
from generator.upstream.http import HttpClient, UpstreamError, default_cache_dir
from generator.upstream.registry import RegistryClient

GH = "https://github.com"

# Where each component lives and what arm64 artifacts it publishes:
# artifact -> (download URL, checksum file URL, name inside the checksum file). {v} is the version.
REPOS = {
    "kubernetes": "kubernetes/kubernetes",
    "cri-tools": "kubernetes-sigs/cri-tools",
    "containerd": "containerd/containerd",
    "runc": "opencontainers/runc",
    "cni-plugins": "containernetworking/plugins",
    "flannel": "flannel-io/flannel",
    "etcd": "etcd-io/etcd",
    "cri-dockerd": "Mirantis/cri-dockerd",
}


def _gh_dl(comp: str, file: str, sums: str | None = None) -> tuple[str, str, str]:
    base = f"{GH}/{REPOS[comp]}/releases/download/v{{v}}"
    return f"{base}/{file}", f"{base}/{sums}" if sums else f"{base}/{file}.sha256", file


ARTIFACTS: dict[str, dict[str, tuple[str, str, str]]] = {
    "kubernetes": {
        b: (f"{src.DL_K8S}/v{{v}}/bin/linux/arm64/{b}", f"{src.DL_K8S}/v{{v}}/bin/linux/arm64/{b}.sha256", b)
        for b in ("kubeadm", "kubelet", "kubectl")
    },
    "cri-tools": {"crictl": _gh_dl("cri-tools", "crictl-v{v}-linux-arm64.tar.gz")},
    "containerd": {
        "containerd": _gh_dl(
            "containerd", "containerd-{v}-linux-arm64.tar.gz", "containerd-{v}-linux-arm64.tar.gz.sha256sum"
        )
    },
    "runc": {"runc": _gh_dl("runc", "runc.arm64", "runc.sha256sum")},
    "cni-plugins": {"cni-plugins": _gh_dl("cni-plugins", "cni-plugins-linux-arm64-v{v}.tgz")},
    "etcd": {"etcd": _gh_dl("etcd", "etcd-v{v}-linux-arm64.tar.gz", "SHA256SUMS")},
    "cri-dockerd": {"cri-dockerd": _gh_dl("cri-dockerd", "cri-dockerd-{v}.arm64.tgz")},
}

# Refresh order: later components read what earlier ones decided (etcd/pause/CoreDNS come from
# the kubeadm of the row's Kubernetes; runc from what containerd ships).
ORDER = (
    "kubernetes",
    "etcd",
    "pause",
    "coredns",
    "cri-tools",
    "containerd",
    "runc",
    "cni-plugins",
    "flannel",
    "cri-dockerd",
)
IMAGES = "images"  # the registry step: `--only images` refreshes every image digest, nothing else
NOT_UPDATED = {"docker": "built by meta-virtualization (its recipe pins it), not fetched from upstream"}
DIGEST_NOTE = (
    "image digests for this tag not read yet; the registry step of `rcar-k8s matrix update` fills them"
)


@dataclass(frozen=True)
class Change:
    row: str
    component: str
    what: str
    old: str
    new: str

    def line(self) -> str:
        return f"  {self.row}  {self.component:<12} {self.what}: {self.old} -> {self.new}"


class Plan:
    """Accumulates the changes of one update run, and the messages for rows added or dropped."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.notes: list[str] = []
        self.touched_rows: set[str] = set()

    def add(self, row: str, comp: str, what: str, old: Any, new: Any) -> None:
        self.changes.append(Change(row, comp, what, _short(old), _short(new)))
        self.touched_rows.add(row)


def _short(value: Any) -> str:
    if value is None:
        return "unconfirmed"
    text = str(value)
    if text.startswith("sha256:") and len(text) == 71:
        return text[:19]
    if len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text):
        return text[:12]
    return text


# --- per-component refresh -------------------------------------------------------------------------


class RowUpdater:
    """Refreshes one row in place. ``fresh`` (a new row) rewrites every why/source/go field."""

    def __init__(
        self,
        http: HttpClient,
        plan: Plan,
        row: dict[str, Any],
        *,
        fresh: bool = False,
        registry: RegistryClient | None = None,
    ) -> None:
        self.http = http
        self.registry = registry or RegistryClient(http)
        self.reset: list[int] = []  # id() of image entries whose tag this run changed
        self.plan = plan
        self.row = row
        self.minor = str(row["k8s"])
        self.comps: dict[str, dict[str, Any]] = row["components"]
        self.fresh = fresh

    # shared steps ----------------------------------------------------------------------------------

    def set_version(self, name: str, version: str, why: str, source: str) -> bool:
        comp = self.comps[name]
        old = comp.get("version")
        changed = str(old) != version
        if changed:
            comp["version"] = version
            self.plan.add(self.minor, name, "version", old, version)
        if changed or self.fresh:
            comp["why"] = why
            comp["source"] = source
        return changed or self.fresh

    def set_field(self, name: str, key: str, fact: src.Fact[str], source_key: str | None = None) -> None:
        comp = self.comps[name]
        if str(comp.get(key)) != fact.value:
            self.plan.add(self.minor, name, key, comp.get(key), fact.value)
        comp[key] = fact.value
        if source_key:
            comp[source_key] = fact.source

    def set_git(self, name: str, version: str, rebuilt: bool) -> None:
        repo, tag = REPOS[name], f"v{version}"
        comp = self.comps[name]
        git = comp.get("git") or {}
        commit = src.resolve_tag(self.http, repo, tag)
        if not rebuilt and git.get("tag") == tag and git.get("commit") not in (None, commit.value):
            raise UpstreamError(
                f"{commit.source}: tag {tag} now points at {commit.value}, but the matrix "
                f"records {git['commit']}; a moved release tag needs a human look"
            )
        if git.get("tag") != tag or git.get("commit") != commit.value:
            self.plan.add(
                self.minor, name, "commit", git.get("commit") if git.get("tag") == tag else None, commit.value
            )
        comp["git"] = {
            "repo": f"{GH}/{repo}.git",
            "tag": tag,
            "commit": commit.value,
            "commit_source": commit.source,
        }

    def set_artifacts(self, name: str, version: str, rebuilt: bool, release: src.Release | None) -> None:
        comp = self.comps[name]
        arts = comp.setdefault("artifacts", {})
        for aname, (url_t, sums_t, file_t) in ARTIFACTS[name].items():
            url, sums, file = (t.format(v=version) for t in (url_t, sums_t, file_t))
            if release is not None and file not in release.assets:
                raise UpstreamError(f"{release.source}: release {release.tag} has no asset {file}")
            digest = src.checksum(self.http, sums, file)
            asset = release.assets.get(file) if release else None
            if asset and asset.digest and asset.digest != f"sha256:{digest.value}":
                raise UpstreamError(
                    f"{digest.source}: sha256 {digest.value[:12]} disagrees with GitHub's "
                    f"asset digest {asset.digest[7:19]} for {file}; not pinning it"
                )
            art = arts.get(aname) or {}
            if not rebuilt and art.get("url") == url and art.get("sha256") not in (None, digest.value):
                raise UpstreamError(
                    f"{digest.source}: published sha256 {digest.value[:12]} differs from the "
                    f"pinned {art['sha256'][:12]} for the same {file}; a changed release "
                    "artifact needs a human look"
                )
            if art.get("url") != url or art.get("sha256") != digest.value:
                self.plan.add(
                    self.minor,
                    name,
                    f"sha256 {aname}",
                    art.get("sha256") if art.get("url") == url else None,
                    digest.value,
                )
                new_art = {"url": url, "sha256": digest.value, "sha256_source": digest.source}
                if art.get("url") == url and art.get("cross_check"):
                    new_art["cross_check"] = art["cross_check"]  # still about this exact file
                arts[aname] = new_art

    def set_image(self, entry: dict[str, Any], ref: str, note_key: str = "unconfirmed") -> None:
        if entry.get("image") == ref:
            return
        entry["image"] = ref
        for key in ("digest", "arm64"):
            if key in entry:
                entry[key] = None  # a digest belongs to the old tag: never carry it over
        entry.pop("digest_source", None)
        entry[note_key] = DIGEST_NOTE
        self.reset.append(id(entry))

    def release_of(self, name: str, version: str) -> src.Release:
        rel = next((r for r in src.github_releases(self.http, REPOS[name]) if r.plain == version), None)
        if rel is None:
            url = f"{src.API}/repos/{REPOS[name]}/releases?per_page=100"
            raise UpstreamError(f"{url}: no published release v{version} of {REPOS[name]}")
        return rel

    def github_component(
        self, name: str, rel: src.Release, why: str, go: bool = True, source: str | None = None
    ) -> None:
        changed = self.set_version(name, rel.plain, why, source or rel.source)
        if changed and go:
            self.set_field(name, "go", src.go_mod_version(self.http, REPOS[name], rel.tag), "go_source")
        self.set_git(name, rel.plain, changed)
        if name in ARTIFACTS:
            self.set_artifacts(name, rel.plain, changed, rel)

    # components ------------------------------------------------------------------------------------

    def kubernetes(self) -> None:
        stable = src.k8s_stable(self.http, self.minor)
        v = stable.value
        changed = self.set_version(
            "kubernetes", v, f"newest {self.minor} patch (dl.k8s.io stable-{self.minor}.txt)", stable.source
        )
        if changed:
            self.set_field("kubernetes", "go", src.k8s_go_version(self.http, f"v{v}"), "go_source")
            comp = self.comps["kubernetes"]
            for entry in (comp.get("images") or {}).values():
                self.set_image(entry, entry["image"].rsplit(":", 1)[0] + f":v{v}")
            if "images_source" in comp:
                comp["images_source"] = (
                    f"{src.RAW}/kubernetes/kubernetes/v{v}/cmd/kubeadm/app/constants/constants.go"
                )
        self.set_git("kubernetes", v, changed)
        self.set_artifacts("kubernetes", v, changed, None)

    def _kubeadm(self) -> dict[str, src.Fact[str]]:
        return src.kubeadm_constants(self.http, f"v{self.comps['kubernetes']['version']}")

    def etcd(self) -> None:
        fact = self._kubeadm()["etcd"]
        v = fact.value.split("-")[0]
        changed = self.set_version(
            "etcd", v, f"kubeadm {self.comps['kubernetes']['version']} DefaultEtcdVersion", fact.source
        )
        comp = self.comps["etcd"]
        self.set_image(comp, comp["image"].rsplit(":", 1)[0] + f":{fact.value}", "image_unconfirmed")
        if changed:
            self.set_field("etcd", "go", src.go_version_file(self.http, REPOS["etcd"], f"v{v}"), "go_source")
        self.set_git("etcd", v, changed)
        self.set_artifacts("etcd", v, changed, self.release_of("etcd", v))

    def _kubeadm_image(self, name: str, what: str) -> None:
        fact = self._kubeadm()[name]
        self.set_version(
            name, fact.value, f"kubeadm {self.comps['kubernetes']['version']} {what}", fact.source
        )
        comp = self.comps[name]
        self.set_image(comp, comp["image"].rsplit(":", 1)[0] + f":{fact.value}")

    def pause(self) -> None:
        self._kubeadm_image("pause", "PauseVersion (default sandbox image)")

    def coredns(self) -> None:
        self._kubeadm_image("coredns", "CoreDNSVersion")

    def cri_tools(self) -> None:
        major, minor = (int(x) for x in self.minor.split("."))
        rels = src.github_releases(self.http, REPOS["cri-tools"])
        rel = src.newest(rels, (major, minor))
        why = f"same minor as Kubernetes {self.minor} (R6)"
        if rel is None:
            older = [r for r in rels if r.version[:2] < (major, minor)]
            rel = max(older, key=lambda r: r.version, default=None)
            why = f"no cri-tools v{self.minor}.x release yet; newest older minor (R6 warns)"
        if rel is None:
            raise UpstreamError(
                f"{src.API}/repos/{REPOS['cri-tools']}/releases?per_page=100: "
                f"no cri-tools release for Kubernetes {self.minor} or older"
            )
        self.github_component("cri-tools", rel, why)

    def containerd(self) -> None:
        support = src.containerd_k8s_support(self.http)
        listed_for = self.minor if self.minor in support.value else None
        if listed_for is None:
            lower = [m for m in support.value if _minor_key(m) < _minor_key(self.minor)]
            listed_for = max(lower, key=_minor_key, default=None)
        if listed_for is None:
            raise UpstreamError(
                f"{support.source}: no containerd line listed for Kubernetes {self.minor} or older"
            )
        rels = src.github_releases(self.http, REPOS["containerd"])
        for minimum in support.value[listed_for]:  # newest line first
            rel = src.newest(rels, minimum[:2])
            if rel and rel.version >= minimum:
                break
        else:
            raise UpstreamError(
                f"{support.source}: no published containerd release matches the lines listed "
                f"for Kubernetes {listed_for}"
            )
        line = f"{rel.version[0]}.{rel.version[1]}"
        if listed_for == self.minor:
            why = f"newest containerd line ({line}) listed for Kubernetes {self.minor} in RELEASES.md (R7)"
        else:
            why = (
                f"containerd has not listed Kubernetes {self.minor} yet; {line} is the newest line listed "
                f"for {listed_for} (R7 provisional)"
            )
        changed = self.set_version("containerd", rel.plain, why, support.source)
        if changed:
            self.set_field(
                "containerd", "go", src.go_mod_version(self.http, REPOS["containerd"], rel.tag), "go_source"
            )
        # the config version the pinned line writes itself (R10): an older one is migrated at every start
        native = facts.CONTAINERD_NATIVE_CONFIG.data.get(line)
        comp = self.comps["containerd"]
        if native is not None and comp.get("config_version") != native:
            self.plan.add(self.minor, "containerd", "config_version", comp.get("config_version"), native)
            comp["config_version"] = native
            comp["config_source"] = facts.CONTAINERD_NATIVE_CONFIG.source
        runc = src.containerd_runc_version(self.http, rel.tag)
        pinned = src.Fact(".".join(runc.value.split(".")[:2]), runc.source)
        self.set_field("containerd", "runc_pinned", pinned, "runc_pinned_source")
        self.set_git("containerd", rel.plain, changed)
        self.set_artifacts("containerd", rel.plain, changed, rel)

    def runc(self) -> None:
        tag = f"v{self.comps['containerd']['version']}"
        ships = src.containerd_runc_version(self.http, tag)
        rel = self.release_of("runc", ships.value)
        why = f"what containerd {tag[1:]} ships (script/setup/runc-version, R13)"
        self.github_component("runc", rel, why, source=ships.source)

    def cni_plugins(self) -> None:
        rel = src.newest(src.github_releases(self.http, REPOS["cni-plugins"]))
        if rel is None:
            raise UpstreamError(f"{src.API}/repos/{REPOS['cni-plugins']}/releases?per_page=100: no release")
        self.github_component(
            "cni-plugins", rel, f"newest containernetworking/plugins release ({rel.published})"
        )

    def flannel(self) -> None:
        rel = src.newest(src.github_releases(self.http, REPOS["flannel"]))
        if rel is None:
            raise UpstreamError(f"{src.API}/repos/{REPOS['flannel']}/releases?per_page=100: no release")
        self.github_component("flannel", rel, f"newest flannel release ({rel.published})", go=False)
        comp = self.comps["flannel"]
        self.set_image(comp, comp["image"].rsplit(":", 1)[0] + f":{rel.tag}")
        manifest = comp.get("manifest") or {}
        if f"/{rel.tag}/" not in str(manifest.get("url", "")):
            # the manifest k8s-init applies, read at the new tag; its CNI-plugin image is the one to preload
            fact = src.flannel_manifest(self.http, rel.tag, str(manifest.get("path") or src.FLANNEL_MANIFEST))
            comp["manifest"] = dict(
                fact.value, why=manifest.get("why", "applied by k8s-init after kubeadm init")
            )
            plugin = comp.get("cni_plugin_image")
            for ref in fact.value["images"]:  # type: ignore[union-attr]
                if plugin is not None and str(ref).rsplit(":", 1)[0] == plugin["image"].rsplit(":", 1)[0]:
                    self.set_image(plugin, str(ref))

    def cri_dockerd(self) -> None:
        cur = src.parse_version(str(self.comps["cri-dockerd"]["version"]))
        line = cur[:2] if cur else None
        rel = src.newest(src.github_releases(self.http, REPOS["cri-dockerd"]), line)
        if rel is None:
            raise UpstreamError(
                f"{src.API}/repos/{REPOS['cri-dockerd']}/releases?per_page=100: "
                f"no release in the {'.'.join(map(str, line or ()))} line"
            )
        self.github_component(
            "cri-dockerd",
            rel,
            f"newest cri-dockerd in the pinned {rel.version[0]}."
            f"{rel.version[1]} line ({rel.published}); speaks CRI v1",
        )

    def images(self, only: str | None) -> None:
        """Fill/verify image digests: all of the row's images, or (``--only COMPONENT``) the ones
        whose tag this run changed."""
        for label, owner, entry, note_key in image_entries(self.comps):
            if only in (None, IMAGES) or id(entry) in self.reset:
                pin_image(self.registry, self.plan, self.minor, owner, label, entry, note_key)

    def refresh(self, only: str | None) -> None:
        for name in ORDER:
            if only and name != only:
                continue
            if name not in self.comps:
                continue
            getattr(self, name.replace("-", "_"))()
        self.images(only)


# --- container images (registry step) ----------------------------------------------------------------


def image_entries(comps: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], str]]:
    """(label, owning component, entry, note key) for every image a row pins."""
    out = []
    for name, entry in ((comps.get("kubernetes") or {}).get("images") or {}).items():
        out.append((name, "kubernetes", entry, "unconfirmed"))
    for name in IMAGE_COMPONENTS:
        comp = comps.get(name)
        if isinstance(comp, dict) and comp.get("image"):
            out.append((name, name, comp, "image_unconfirmed" if name == "etcd" else "unconfirmed"))
    cni = (comps.get("flannel") or {}).get("cni_plugin_image")
    if isinstance(cni, dict) and cni.get("image"):
        out.append(("flannel-cni-plugin", "flannel", cni, "unconfirmed"))
    return out


def pin_image(
    registry: RegistryClient,
    plan: Plan,
    row: str,
    owner: str,
    label: str,
    entry: dict[str, Any],
    note_key: str,
) -> None:
    """Record the registry's index digest and linux/arm64 manifest for ``entry['image']``.

    A recorded digest that the tag no longer serves is an error (a moved tag), never an update.
    """
    pinned = registry.pin(str(entry["image"]))
    old = entry.get("digest")
    if old and old != pinned.digest:
        raise UpstreamError(
            f"{pinned.source}: tag now serves {pinned.digest}, but the matrix records {old} for "
            f"{entry['image']}; a moved image tag needs a human look"
        )
    old_arm = entry.get("arm64")
    if old and isinstance(old_arm, dict) and old_arm.get("manifest") not in (None, pinned.arm64["manifest"]):
        raise UpstreamError(
            f"{pinned.source}: the index {old} now lists linux/arm64 {pinned.arm64['manifest']}, but the "
            f"matrix records {old_arm['manifest']}; needs a human look"
        )
    if old != pinned.digest:
        plan.add(row, owner, f"digest {label}", old, pinned.digest)
    elif old_arm != pinned.arm64:
        plan.add(row, owner, f"arm64 {label}", (old_arm or {}).get("manifest"), pinned.arm64["manifest"])
    entry["digest"] = pinned.digest
    entry["arm64"] = dict(pinned.arm64)
    entry["digest_source"] = pinned.source
    note = entry.get(note_key)
    # a component's own `unconfirmed` (pause, coredns, flannel) may be about something else:
    # only a note about image digests goes; an image-only entry's note always does
    if note is not None and (
        note_key != "unconfirmed" or "version" not in entry or str(note).startswith("image digest")
    ):
        entry.pop(note_key)


def _minor_key(minor: str) -> tuple[int, ...]:
    return tuple(int(x) for x in str(minor).split("."))


# --- whole-matrix update -----------------------------------------------------------------------------


def new_minors(http: HttpClient, known: list[str]) -> list[str]:
    """Kubernetes minors with a published vX.Y.0 release newer than every row we have."""
    top = max((_minor_key(m) for m in known), default=(0, 0))
    found = {
        f"{r.version[0]}.{r.version[1]}"
        for r in src.github_releases(http, REPOS["kubernetes"])
        if r.version[2] == 0 and r.version[:2] > top
    }
    return sorted(found, key=_minor_key)


def _addable_minors(
    http: HttpClient, rows: list[dict[str, Any]], schedule: src.Fact[dict[str, dict[str, str]]], plan: Plan
) -> list[str]:
    """The new minors to add as rows. One without schedule dates is a note (rerun later); one whose
    per-minor facts (facts.PER_MINOR) are missing is refused: no rule could check its row."""
    added, refused = [], []
    for minor in new_minors(http, [str(r["k8s"]) for r in rows]):
        if minor not in schedule.value:
            plan.notes.append(
                f"+ {minor}: v{minor}.0 is out but {schedule.source} has no dates for it yet; "
                "not added (rerun later)"
            )
        elif missing := facts.missing_for_minor(minor):
            refused.append(f"{minor} (v{minor}.0 is out) lacks {', '.join(missing)}")
        else:
            added.append(minor)
    if refused:
        raise UserError(
            f"matrix update refused a new minor no rule could check: {'; '.join(refused)} in "
            "generator/matrix/facts.py; add those entries with their upstream sources and rerun "
            "(`--only k8s=1.N` refreshes an existing row meanwhile); nothing written",
            exit_code=1,
        )
    return added


def update_matrix(
    data: dict[str, Any],
    http: HttpClient,
    *,
    date: dt.date,
    grace_days: int = 0,
    only_component: str | None = None,
    only_row: str | None = None,
) -> tuple[dict[str, Any], Plan]:
    """Return (new matrix data, plan). ``data`` is not modified. Raises UpstreamError on any failure."""
    new = copy.deepcopy(data)  # deepcopy keeps shared sub-dicts shared, so YAML anchors survive
    plan = Plan()
    rows: list[dict[str, Any]] = new["rows"]
    full = only_component is None and only_row is None
    schedule = src.k8s_schedule(http) if full else None
    registry = RegistryClient(http)
    # New minors first: one the facts tables cannot check stops the run before any row is refreshed.
    added = _addable_minors(http, rows, schedule, plan) if full else []

    for row in rows:
        minor = str(row["k8s"])
        if only_row and minor != only_row:
            continue
        if schedule and minor in schedule.value:
            for key, value in schedule.value[minor].items():
                if str(row.get(key)) != value:
                    plan.add(minor, "lifecycle", key, row.get(key), value)
                    row[key] = value
                    row["lifecycle_source"] = schedule.source
        RowUpdater(http, plan, row, registry=registry).refresh(only_component)

    if full:
        for minor in added:
            template = max(rows, key=lambda r: _minor_key(str(r["k8s"])))
            row = copy.deepcopy(template)
            for cname, comp in template["components"].items():
                if cname in NOT_UPDATED:
                    row["components"][cname] = comp  # the same object: stays one YAML anchor
            dates = schedule.value[minor]
            row.update(
                {
                    "k8s": minor,
                    "released": dates["released"],
                    "maintenance": dates["maintenance"],
                    "eol": dates["eol"],
                    "lifecycle_source": schedule.source,
                }
            )
            # a new row: one summary line, below
            RowUpdater(http, Plan(), row, fresh=True, registry=registry).refresh(None)
            rows.append(row)
            plan.touched_rows.add(minor)
            pins = ", ".join(
                f"{c} {row['components'][c]['version']}" for c in ORDER if c in row["components"]
            )
            plan.notes.append(f"+ {minor}: new row, end of life {dates['eol']}: {pins}")

        keep = []
        for row in rows:
            eol = model.parse_date(row["eol"], f"rows[{row['k8s']}].eol")
            if eol + dt.timedelta(days=grace_days) < date:
                if str(row["k8s"]) == str(new["default"]):
                    raise UserError(
                        f"default row {row['k8s']} reached end of life {eol} (+{grace_days} days grace); "
                        "set `default:` in the matrix to a supported minor, then rerun"
                    )
                plan.notes.append(
                    f"- {row['k8s']}: dropped, end of life {eol} + {grace_days} days grace passed on {date}"
                )
                plan.touched_rows.add(str(row["k8s"]))
                continue
            keep.append(row)
        new["rows"] = keep

    if only_row is None and only_component in (None, IMAGES):
        for name, entry in (new.get("addons") or {}).items():
            if isinstance(entry, dict) and entry.get("image"):
                pin_image(registry, plan, "addons", name, name, entry, "unconfirmed")

    if plan.changes or plan.notes and plan.touched_rows:
        new["checked"] = date.isoformat()
    return new, plan


# --- the rules gate ----------------------------------------------------------------------------------


def _severity(finding: Any) -> str:
    sev = getattr(finding, "severity", "")
    return str(getattr(sev, "value", None) or getattr(sev, "name", None) or sev).lower()


def _finding_row(finding: Any) -> str | None:
    for attr in ("row", "minor", "k8s"):
        value = getattr(finding, attr, None)
        if value:
            return str(value)
    return None


def blocking_findings(
    old: dict[str, Any], new: dict[str, Any], touched: set[str], date: dt.date
) -> list[Any]:
    """Errors ``matrix check`` reports for new/changed rows (or new errors anywhere)."""
    try:
        from generator.matrix.rules import check_matrix
    except ImportError as exc:
        raise UserError(
            f"matrix rules are not available ({exc}); refusing to write an unchecked matrix"
        ) from None
    before = {str(f) for f in check_matrix(old, date=date) if _severity(f) == "error"}
    out = []
    for f in check_matrix(new, date=date):
        if _severity(f) != "error":
            continue
        row = _finding_row(f)
        if (row is not None and row in touched) or (row is None and str(f) not in before):
            out.append(f)
    return out


# --- CLI ---------------------------------------------------------------------------------------------


def register_update(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--dry-run", action="store_true", help="fetch and check, print the summary, write nothing"
    )
    parser.add_argument(
        "--only",
        metavar="COMPONENT|k8s=1.N",
        default=None,
        help="refresh one component (or `images`: every image digest) in every row, or one row "
        "(no rows added or dropped)",
    )
    parser.add_argument("--date", default=None, metavar="YYYY-MM-DD", help="today, for end-of-life decisions")
    parser.add_argument(
        "--grace-days",
        type=int,
        default=0,
        metavar="N",
        help="keep a row N days past its end of life (default 0)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"HTTP cache (default {default_cache_dir()})",
    )
    parser.add_argument(
        "--matrix",
        type=Path,
        default=None,
        metavar="FILE",
        help="matrix file (default: the committed lock file)",
    )
    parser.add_argument(
        "--retry-backoff",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="first retry delay on timeouts and 5xx, doubled per retry (default 2; 3 retries)",
    )
    parser.set_defaults(func=run_update)


def _parse_only(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    if value.startswith("k8s="):
        minor = value[4:]
        if not minor or not all(p.isdigit() for p in minor.split(".")) or minor.count(".") != 1:
            raise UserError(f"--only {value}: expected k8s=1.N, e.g. k8s=1.36")
        return None, minor
    if value in NOT_UPDATED:
        raise UserError(f"--only {value}: {value} is {NOT_UPDATED[value]}")
    if value not in (*ORDER, IMAGES):
        raise UserError(
            f"--only {value}: unknown component; pick one of {', '.join((*ORDER, IMAGES))} or k8s=1.N"
        )
    return value, None


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr naming the URL being fetched (silent when stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda url: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.completed:>3}[/] requests  {task.description}"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def tick(url: str) -> None:
            progress.update(task, advance=1, description=url if len(url) < 100 else url[:97] + "...")

        yield tick


def run_update(args: argparse.Namespace, *, sleep: Callable[[float], None] | None = None) -> int:
    only_component, only_row = _parse_only(args.only)
    date = model.parse_date(args.date, "--date") if args.date else dt.date.today()
    if args.grace_days < 0:
        raise UserError("--grace-days must be 0 or more")
    path: Path = args.matrix or paths.MATRIX_FILE
    old_text = path.read_text(encoding="utf-8") if path.exists() else None
    data = store.load(path)
    if only_row and only_row not in [str(r["k8s"]) for r in data.get("rows") or []]:
        raise UserError(f"--only k8s={only_row}: no such row in {path}")

    with _progress(True) as tick:
        http = HttpClient(
            cache_dir=args.cache_dir or default_cache_dir(),
            token=os.environ.get("GITHUB_TOKEN") or None,
            backoff=args.retry_backoff,
            on_request=tick,
            **({"sleep": sleep} if sleep else {}),
        )
        new, plan = update_matrix(
            data,
            http,
            date=date,
            grace_days=args.grace_days,
            only_component=only_component,
            only_row=only_row,
        )
    s = http.stats
    net = (
        f"{s.requests} HTTP requests ({s.ok} downloaded, {s.not_modified} not modified, {s.retries} retried)"
    )

    if not plan.changes and not plan.notes:
        print(f"matrix update: {path} is up to date; {net}")
        return 0
    print(f"matrix update: {len(plan.changes)} change(s) in {path}; {net}")
    for change in plan.changes:
        print(change.line())
    for note in plan.notes:
        print(f"  {note}")

    text = store.dump(new)
    model.from_data(store.loads(text, str(path)), path)  # the result must read back as a matrix
    problems = blocking_findings(data, new, plan.touched_rows, date)
    if problems:
        for f in problems:
            where = " ".join(str(x) for x in (getattr(f, "minor", None), getattr(f, "component", None)) if x)
            print(f"  check: {getattr(f, 'rule', '')} [{where}] {getattr(f, 'message', f)}", file=sys.stderr)
        print(
            f"rcar-k8s: error: the updated matrix fails `matrix check` ({len(problems)} error(s)); "
            f"{path} left unchanged",
            file=sys.stderr,
        )
        return 1
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    if text == old_text:
        return 0
    store.write_atomic(path, text)
    print(f"wrote {path}; run `rcar-k8s generate` and commit both")
    return 0
