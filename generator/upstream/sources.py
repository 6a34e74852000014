"""Fetchers: (http client, what) -> ``Fact`` (value + the URL it came from).

Each one reads a single upstream document in its real format and checks its shape; a document
that does not look as expected raises ``UpstreamError`` naming the URL (and is dropped from the
HTTP cache, so a damaged transfer is not reused).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

import yaml

from generator.upstream.http import HttpClient, UpstreamError
from generator.version import semver

T = TypeVar("T")

API = "https://api.github.com"
RAW = "https://raw.githubusercontent.com"
DL_K8S = "https://dl.k8s.io/release"
K8S_SCHEDULE = f"{RAW}/kubernetes/website/main/data/releases/schedule.yaml"
CONTAINERD_RELEASES_MD = f"{RAW}/containerd/containerd/main/RELEASES.md"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Fact(Generic[T]):
    value: T
    source: str


@dataclass(frozen=True)
class Asset:
    name: str
    url: str
    digest: str | None  # "sha256:<hex>" where GitHub computed one


@dataclass(frozen=True)
class Release:
    tag: str
    version: tuple[int, int, int]
    published: str  # YYYY-MM-DD
    assets: dict[str, Asset]
    source: str

    @property
    def plain(self) -> str:
        return ".".join(map(str, self.version))


def _bad(http: HttpClient, url: str, what: str) -> UpstreamError:
    http.forget(url)
    return UpstreamError(f"{url}: {what}")


# An exact release tag "v1.3.6" -> (1, 3, 6), else None (generator.version owns the parsing).
parse_version = semver


# --- GitHub REST API -------------------------------------------------------------------------------


def github_releases(http: HttpClient, repo: str) -> list[Release]:
    """Published, non-draft, non-prerelease releases with a plain vX.Y.Z tag (newest 100)."""
    url = f"{API}/repos/{repo}/releases?per_page=100"
    data = http.get_json(url)
    if not isinstance(data, list):
        raise _bad(http, url, "expected a JSON list of releases")
    out = []
    for rel in data:
        if not isinstance(rel, dict) or not isinstance(rel.get("tag_name"), str):
            raise _bad(http, url, "a release without tag_name; not a GitHub releases response")
        if rel.get("draft") or rel.get("prerelease"):
            continue
        version = parse_version(rel["tag_name"])
        if version is None:
            continue
        assets = {}
        for a in rel.get("assets") or []:
            try:
                assets[a["name"]] = Asset(a["name"], a["browser_download_url"], a.get("digest"))
            except (KeyError, TypeError):
                raise _bad(
                    http, url, f"release {rel['tag_name']}: asset without name/browser_download_url"
                ) from None
        published = str(rel.get("published_at") or rel.get("created_at") or "")[:10]
        out.append(Release(rel["tag_name"], version, published, assets, rel.get("html_url") or url))
    return out


def newest(releases: list[Release], line: tuple[int, ...] | None = None) -> Release | None:
    """Newest release, or newest whose version starts with ``line`` (e.g. (2, 3) or (1,))."""
    picks = [r for r in releases if line is None or r.version[: len(line)] == line]
    return max(picks, key=lambda r: r.version, default=None)


def resolve_tag(http: HttpClient, repo: str, tag: str) -> Fact[str]:
    """Full commit SHA of a tag; annotated tags are peeled through their tag objects."""
    url = f"{API}/repos/{repo}/git/ref/tags/{tag}"
    ref = http.get_json(url)
    try:
        obj = ref["object"]
        kind, sha = obj["type"], obj["sha"]
    except (KeyError, TypeError):
        raise _bad(http, url, "expected a git ref object with object.type/object.sha") from None
    source = url
    for _ in range(5):  # a tag may point at another tag; real chains are 1 deep
        if kind == "commit":
            if not isinstance(sha, str) or not _SHA1.match(sha):
                raise _bad(http, source, f"'{sha}' is not a full commit SHA")
            return Fact(sha, f"{url} (peeled)" if source != url else url)
        if kind != "tag":
            raise UpstreamError(f"{url}: tag {tag} points at a {kind}, not a commit")
        source = f"{API}/repos/{repo}/git/tags/{sha}"
        obj_json = http.get_json(source)
        try:
            kind, sha = obj_json["object"]["type"], obj_json["object"]["sha"]
        except (KeyError, TypeError):
            raise _bad(http, source, "expected a git tag object with object.type/object.sha") from None
    raise UpstreamError(f"{url}: tag {tag} does not resolve to a commit (tag chain too deep)")


# --- checksums -------------------------------------------------------------------------------------


def checksum(http: HttpClient, url: str, artifact: str) -> Fact[str]:
    """sha256 of ``artifact`` from a published checksum file.

    Accepts the two real formats: a bare hex digest (dl.k8s.io ``*.sha256``) or ``sha256sum``
    output lines ``<hex>  <name>`` (GitHub release ``*.sha256``/``*.sha256sum``/``SHA256SUMS``),
    where the name must be the artifact's.
    """
    text = http.get_text(url)
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise _bad(http, url, f"empty checksum file; expected the sha256 of {artifact}")
    if len(lines) == 1 and len(lines[0]) == 1:
        digest = lines[0][0].lower()
        if not _SHA256.match(digest):
            raise _bad(http, url, f"'{digest[:80]}' is not a sha256 digest")
        return Fact(digest, url)
    names = []
    for parts in lines:
        if len(parts) != 2 or not _SHA256.match(parts[0].lower()):
            raise _bad(http, url, "not a sha256 checksum file (expected '<sha256>  <name>' lines)")
        name = parts[1].lstrip("*").rsplit("/", 1)[-1]  # '*' = binary mode; some files list ./dir/name
        names.append(name)
        if name == artifact:
            return Fact(parts[0].lower(), url)
    listed = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    raise UpstreamError(f"{url}: checksum file does not list {artifact} (it lists {listed})")


# --- dl.k8s.io and kubernetes sources --------------------------------------------------------------


def k8s_stable(http: HttpClient, minor: str) -> Fact[str]:
    """Newest patch of a Kubernetes minor, e.g. '1.36.5' from dl.k8s.io/release/stable-1.36.txt."""
    url = f"{DL_K8S}/stable-{minor}.txt"
    text = http.get_text(url).strip()
    version = parse_version(text)
    if not text.startswith("v") or version is None or f"{version[0]}.{version[1]}" != minor:
        raise _bad(http, url, f"expected 'v{minor}.N', got '{text[:40]}'")
    return Fact(text[1:], url)


def kubeadm_constants(http: HttpClient, tag: str) -> dict[str, Fact[str]]:
    """kubeadm's default etcd image tag, pause and CoreDNS versions at a Kubernetes tag."""
    url = f"{RAW}/kubernetes/kubernetes/{tag}/cmd/kubeadm/app/constants/constants.go"
    text = http.get_text(url)
    out = {}
    for key, name in (
        ("etcd", "DefaultEtcdVersion"),
        ("pause", "PauseVersion"),
        ("coredns", "CoreDNSVersion"),
    ):
        m = re.search(rf'^\s*{name}\s*=\s*"([^"]+)"', text, re.M)
        if not m:
            raise _bad(http, url, f"no {name} constant; has kubeadm moved it?")
        out[key] = Fact(m[1], url)
    return out


def k8s_go_version(http: HttpClient, tag: str) -> Fact[str]:
    """The Go release Kubernetes is built with, from build/dependencies.yaml at the tag."""
    url = f"{RAW}/kubernetes/kubernetes/{tag}/build/dependencies.yaml"
    try:
        doc = yaml.safe_load(http.get_text(url))
        deps = doc["dependencies"]
    except (yaml.YAMLError, KeyError, TypeError):
        raise _bad(http, url, "not a zeitgeist dependencies file (no 'dependencies' list)") from None
    for dep in deps if isinstance(deps, list) else []:
        if isinstance(dep, dict) and dep.get("name") == "golang: upstream version":
            return Fact(str(dep.get("version")), url)
    raise _bad(http, url, "no 'golang: upstream version' entry")


def k8s_schedule(http: HttpClient) -> Fact[dict[str, dict[str, str]]]:
    """Release, maintenance-mode and end-of-life dates per minor (kubernetes/website schedule.yaml)."""
    url = K8S_SCHEDULE
    try:
        # BaseLoader keeps '1.30' a string (safe_load would make it the float 1.3)
        doc = yaml.load(http.get_text(url), Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds only str/list/dict
        out = {}
        for item in doc["schedules"]:
            out[item["release"]] = {
                "released": item["releaseDate"],
                "maintenance": item["maintenanceModeStartDate"],
                "eol": item["endOfLifeDate"],
            }
    except (yaml.YAMLError, KeyError, TypeError):
        raise _bad(
            http, url, "not the kubernetes/website release schedule (schedules[].release/...Date)"
        ) from None
    return Fact(out, url)


# --- files in other repositories -------------------------------------------------------------------


def go_mod_version(http: HttpClient, repo: str, tag: str) -> Fact[str]:
    url = f"{RAW}/{repo}/{tag}/go.mod"
    m = re.search(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*$", http.get_text(url), re.M)
    if not m:
        raise _bad(http, url, "no 'go' directive")
    return Fact(m[1], url)


def go_version_file(http: HttpClient, repo: str, tag: str) -> Fact[str]:
    url = f"{RAW}/{repo}/{tag}/.go-version"
    text = http.get_text(url).strip()
    if not re.match(r"^\d+\.\d+(\.\d+)?$", text):
        raise _bad(http, url, f"expected a Go version, got '{text[:40]}'")
    return Fact(text, url)


def containerd_k8s_support(http: HttpClient) -> Fact[dict[str, list[tuple[int, int, int]]]]:
    """containerd's "Kubernetes Support" table: minor -> minimum versions listed (newest line first)."""
    url = CONTAINERD_RELEASES_MD
    text = http.get_text(url)
    out: dict[str, list[tuple[int, int, int]]] = {}
    section = text.split("### Kubernetes Support", 1)
    if len(section) != 2:
        raise _bad(http, url, "no '### Kubernetes Support' section")
    for line in section[1].splitlines():
        if line.startswith("#"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not re.match(r"^\d+\.\d+$", cells[0]):
            continue
        mins = [parse_version(v.strip().rstrip("+")) for v in cells[1].split(",")]
        out[cells[0]] = sorted((v for v in mins if v), reverse=True)
    if not out:
        raise _bad(http, url, "the Kubernetes Support table has no rows")
    return Fact(out, url)


def containerd_runc_version(http: HttpClient, tag: str) -> Fact[str]:
    url = f"{RAW}/containerd/containerd/{tag}/script/setup/runc-version"
    text = http.get_text(url).strip()
    if parse_version(text) is None:
        raise _bad(http, url, f"expected a runc version like v1.3.6, got '{text[:40]}'")
    return Fact(text.lstrip("v"), url)


FLANNEL_MANIFEST = "Documentation/kube-flannel.yml"


def flannel_manifest(http: HttpClient, tag: str, path: str = FLANNEL_MANIFEST) -> Fact[dict[str, object]]:
    """flannel's own manifest at ``tag``: sha256, the DaemonSet's image references, net-conf Network.

    What k8s-init applies (the flannel-manifest recipe fetches this URL and checks this sha256);
    rule R21 then compares the images with the air-gapped image list.
    """
    import hashlib
    import json

    url = f"{RAW}/flannel-io/flannel/{tag}/{path}"
    text = http.get_text(url)
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        ds = next(d for d in docs if d.get("kind") == "DaemonSet")
        spec = ds["spec"]["template"]["spec"]
        images = sorted({c["image"] for c in spec.get("initContainers", []) + spec["containers"]})
        cm = next(d for d in docs if d.get("kind") == "ConfigMap" and "net-conf.json" in d.get("data", {}))
        network = json.loads(cm["data"]["net-conf.json"])["Network"]
    except (yaml.YAMLError, StopIteration, KeyError, TypeError, ValueError) as exc:
        raise _bad(
            http, url, f"not flannel's manifest (DaemonSet images, net-conf.json Network): {exc}"
        ) from None
    value: dict[str, object] = {
        "path": path,
        "url": url,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "sha256_source": f"{url} (hashed by rcar-k8s matrix update)",
        "images": images,
        "network": str(network),
    }
    return Fact(value, url)
