"""Container image digests from OCI distribution registries (registry.k8s.io, ghcr.io, docker.io).

``RegistryClient(http).pin("ghcr.io/flannel-io/flannel:v0.28.9")`` reads the tag's manifest
(an OCI image index or Docker manifest list; a single-arch manifest too) and returns:

* ``digest``: sha256 of the exact bytes served for the tag (what ``image@sha256:…`` pins); it must
  equal the ``Docker-Content-Digest`` header when the registry sends one;
* ``arm64``: the linux/arm64 manifest (variant v8 or none) fetched by digest and hashed again, with
  its config and layer digests: everything a build needs to fetch the image blob by blob.

Auth is the registry token flow every client speaks: a ``401`` with ``WWW-Authenticate: Bearer
realm=…,service=…,scope=…`` → ``GET realm?service=…&scope=…`` (anonymous) → retry with ``Authorization:
Bearer``. Tokens live in memory for one run only: never cached, printed or put in an error. The
challenge itself (realm/service/scope, no secret) is kept with the cached manifest, so a repeated
run asks for a token first and sends one conditional request instead of 401 + token + request.
registry.k8s.io answers manifests with a redirect to its current backend; the client follows it
(the cache key stays the registry.k8s.io URL: the backend is an implementation detail).
Content fetched by digest is verified against the digest and, when already cached with that
digest, not requested again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from generator.upstream.http import Fetched, HttpClient, UpstreamError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEXES = (OCI_INDEX, DOCKER_LIST)
MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join(INDEXES + MANIFESTS)
KEEP = ("Content-Type", "Docker-Content-Digest")  # response headers a 304 must still answer

DOCKER_HUB = "registry-1.docker.io"  # docker.io's API host
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PARAM = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


@dataclass(frozen=True)
class ImageRef:
    ref: str  # as written in the matrix
    host: str  # API host
    name: str  # repository path
    tag: str

    def url(self, kind: str, reference: str) -> str:
        return f"https://{self.host}/v2/{self.name}/{kind}/{reference}"


@dataclass(frozen=True)
class Pinned:
    digest: str
    arm64: dict[str, Any]  # {manifest, config, layers}
    source: str  # the manifest-by-tag URL


def parse_ref(ref: str) -> ImageRef:
    """``host/repo:tag`` (``docker.io`` and bare Docker Hub names included) → ``ImageRef``."""
    if "@" in ref:
        raise UpstreamError(f"{ref}: the matrix holds tags; write the image without @digest")
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag or not name:
        raise UpstreamError(f"{ref}: not an image reference with a tag (host/repo:tag)")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        first, rest = "docker.io", name  # a Docker Hub short name
    if first in ("docker.io", "index.docker.io"):
        first = DOCKER_HUB
        if "/" not in rest:
            rest = f"library/{rest}"
    return ImageRef(ref, first, rest, tag)


def _sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = value.strip().partition(" ")
    return scheme.lower(), dict(_PARAM.findall(rest))


def _media(doc: dict[str, Any], fetched: Fetched) -> str:
    media = doc.get("mediaType")
    if isinstance(media, str) and media:
        return media
    return fetched.headers.get("content-type", "").split(";")[0].strip()


class RegistryClient:
    def __init__(self, http: HttpClient) -> None:
        self.http = http
        self._tokens: dict[tuple[str, str], str] = {}
        self._pinned: dict[str, Pinned] = {}

    # --- auth -----------------------------------------------------------------------------------

    def _token(self, url: str, challenge: str, ref: ImageRef) -> str:
        scheme, params = parse_challenge(challenge)
        realm = params.get("realm", "")
        if scheme != "bearer" or not realm:
            shown = challenge.strip()[:100] or "none"
            raise UpstreamError(
                f"{url}: registry requires authentication (HTTP 401) but offers no bearer token realm "
                f"(WWW-Authenticate: {shown}); anonymous pulls are not possible from it"
            )
        if urlsplit(realm).scheme != "https":
            raise UpstreamError(f"{url}: token realm {realm} is not https; refusing to use it")
        query = {"scope": params.get("scope") or f"repository:{ref.name}:pull"}
        if params.get("service"):
            query = {"service": params["service"], **query}
        token_url = f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}"
        fetched = self.http.fetch(token_url, cache=False)  # a credential: never cached
        try:
            data = json.loads(fetched.text)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise UpstreamError(f"{token_url}: not a registry token response (no 'token' field)")
        return token

    def _get(self, ref: ImageRef, url: str) -> Fetched:
        key = (ref.host, ref.name)
        headers = {"Accept": ACCEPT}
        challenge = self.http.cached_meta(url).get("challenge")
        if key not in self._tokens and challenge:
            self._tokens[key] = self._token(url, challenge, ref)
        if key in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[key]}"
        meta = {"challenge": challenge} if challenge else None
        got = self.http.fetch(url, headers=headers, allow=(401,), keep=KEEP, meta=meta)
        if got.status == 401 and key not in self._tokens:
            challenge = got.headers.get("www-authenticate", "")
            self._tokens[key] = self._token(url, challenge, ref)
            headers["Authorization"] = f"Bearer {self._tokens[key]}"
            got = self.http.fetch(
                url, headers=headers, allow=(401,), keep=KEEP, meta={"challenge": challenge}
            )
        if got.status == 401:
            raise UpstreamError(
                f"{url}: the registry refused its own anonymous token (HTTP 401); "
                "the image may be private, renamed or removed"
            )
        return got

    # --- content ----------------------------------------------------------------------------------

    def _json(self, url: str, text: str) -> dict[str, Any]:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            self.http.forget(url)
            raise UpstreamError(
                f"{url}: response is not valid JSON ({exc.msg} at char {exc.pos}); "
                "the body may be truncated, retry later"
            ) from None
        if not isinstance(doc, dict) or doc.get("schemaVersion") != 2:
            self.http.forget(url)
            raise UpstreamError(f"{url}: not an OCI/Docker v2 manifest (schemaVersion 2)")
        return doc

    def _by_digest(self, ref: ImageRef, kind: str, digest: str, size: int | None) -> str:
        """Content addressed by ``digest``, verified; from the cache when it already holds it."""
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise UpstreamError(f"{ref.url(kind, '…')}: descriptor digest {digest!r} is not sha256:<64 hex>")
        url = ref.url(kind, digest)
        text = self.http.cached_text(url)
        if text is not None and _sha256(text) == digest:
            return text  # content-addressed: the same bytes, no request needed
        text = self._get(ref, url).text
        got = _sha256(text)
        if got != digest:
            self.http.forget(url)
            raise UpstreamError(
                f"{url}: body hashes to {got}, not the requested {digest}; "
                "damaged or truncated transfer, retry later"
            )
        if size is not None and len(text.encode("utf-8")) != size:
            raise UpstreamError(f"{url}: {len(text.encode())} bytes, but its descriptor says {size}")
        return text

    def _contents(self, ref: ImageRef, url: str, manifest: dict[str, Any]) -> dict[str, Any]:
        try:
            config = manifest["config"]["digest"]
            layers = [layer["digest"] for layer in manifest["layers"]]
        except (KeyError, TypeError):
            raise UpstreamError(f"{url}: image manifest without config.digest / layers[].digest") from None
        for d in [config, *layers]:
            if not isinstance(d, str) or not _DIGEST.match(d):
                raise UpstreamError(f"{url}: {d!r} is not a sha256 digest")
        if not layers:
            raise UpstreamError(f"{url}: image manifest lists no layers")
        return {"config": config, "layers": layers}

    def pin(self, image: str) -> Pinned:
        """Index digest and linux/arm64 manifest/config/layer digests of ``image`` (host/repo:tag)."""
        if image in self._pinned:
            return self._pinned[image]
        ref = parse_ref(image)
        url = ref.url("manifests", ref.tag)
        got = self._get(ref, url)
        digest = _sha256(got.text)
        served = got.headers.get("docker-content-digest")
        if served and served != digest:
            self.http.forget(url)
            raise UpstreamError(
                f"{url}: body hashes to {digest}, but the registry says Docker-Content-Digest {served}; "
                "damaged or truncated transfer, retry later"
            )
        doc = self._json(url, got.text)
        media = _media(doc, got)
        if media in INDEXES:
            arm = self._arm64_entry(url, doc)
            murl = ref.url("manifests", arm["digest"])
            mdoc = self._json(murl, self._by_digest(ref, "manifests", arm["digest"], arm.get("size")))
            mmedia = mdoc.get("mediaType") or arm.get("mediaType")
            if mmedia not in MANIFESTS:
                raise UpstreamError(f"{murl}: the linux/arm64 entry is not an image manifest ({mmedia})")
            arm64 = {"manifest": arm["digest"], **self._contents(ref, murl, mdoc)}
        elif media in MANIFESTS:
            # a single-arch image: its config says which platform it is built for
            contents = self._contents(ref, url, doc)
            curl = ref.url("blobs", contents["config"])
            config = self._by_digest(ref, "blobs", contents["config"], doc["config"].get("size"))
            try:
                cfg = json.loads(config)
                platform = (cfg.get("os"), cfg.get("architecture"), cfg.get("variant"))
            except (ValueError, AttributeError):
                raise UpstreamError(f"{curl}: image config is not a JSON object") from None
            if platform[:2] != ("linux", "arm64") or platform[2] not in (None, "v8"):
                shown = "/".join(p for p in platform if p)
                raise UpstreamError(f"{url}: a single-platform image for {shown}, not linux/arm64")
            arm64 = {"manifest": digest, **contents}
        else:
            raise UpstreamError(f"{url}: unsupported manifest media type {media or '(none)'}")
        pinned = Pinned(digest, arm64, url)
        self._pinned[image] = pinned
        return pinned

    @staticmethod
    def _arm64_entry(url: str, index: dict[str, Any]) -> dict[str, Any]:
        entries = index.get("manifests")
        if not isinstance(entries, list):
            raise UpstreamError(f"{url}: image index without a manifests list")
        found, platforms = [], []
        for entry in entries:
            plat = entry.get("platform") if isinstance(entry, dict) else None
            if not isinstance(plat, dict):
                continue
            platforms.append("/".join(str(plat[k]) for k in ("os", "architecture", "variant") if plat.get(k)))
            if (plat.get("os"), plat.get("architecture")) == ("linux", "arm64") and plat.get("variant") in (
                None,
                "v8",
            ):
                found.append(entry)
        if not found:
            listed = ", ".join(p for p in platforms if p) or "none"
            raise UpstreamError(f"{url}: no linux/arm64 image in the index (platforms: {listed})")
        if len({e.get("digest") for e in found}) > 1:
            raise UpstreamError(f"{url}: several different linux/arm64 manifests in the index; ambiguous")
        return found[0]
