"""HTTP for upstream look-ups: retries, rate-limit messages, and an ETag cache on disk.

One ``HttpClient`` serves one ``matrix update`` run:

* every URL is fetched at most once per run (in-memory memo);
* a response with an ``ETag`` (or ``Last-Modified``) is kept in ``cache_dir``; the next run sends
  ``If-None-Match``/``If-Modified-Since`` and a ``304`` reuses the stored body, so a warm run costs
  only 304s (and 304s do not count against GitHub's rate limit);
* timeouts and 5xx are retried with exponential backoff (``sleep`` is injectable for tests);
* anything else that goes wrong raises ``UpstreamError``: one line naming the URL.

``GITHUB_TOKEN`` is sent only to api.github.com, as a header; it is never printed and never
written to the cache (only the URL, validators and body are stored).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from generator.errors import UserError

GITHUB_API = "api.github.com"
USER_AGENT = "rcar-k8s-matrix-update (+https://github.com/renesas-rcar)"
EXIT_UPSTREAM = 3


class UpstreamError(UserError):
    """An upstream fetch or parse failed; the message names the URL (exit 3)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_UPSTREAM)


@dataclass
class Stats:
    """What the network was asked: counted per run for the benchmark and the summary line."""

    requests: int = 0  # HTTP requests sent (each retry and each redirect hop counts)
    ok: int = 0  # 200 responses (body transferred)
    not_modified: int = 0  # 304 responses (body reused from the cache)
    retries: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Fetched:
    """One answered GET: the body (from the wire or the cache) and the response headers kept."""

    url: str
    status: int  # 200 (a 304 answered from the cache counts as 200) or an allowed status
    text: str
    headers: dict[str, str]  # lower-case names

    def __post_init__(self) -> None:
        if self.status == 304:
            object.__setattr__(self, "status", 200)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rcar-k8s" / "http"


class DiskCache:
    """One JSON file per URL: {url, etag, last_modified, body}. Never request headers (no token)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, url: str) -> Path:
        return self.root / (hashlib.sha256(url.encode()).hexdigest() + ".json")

    def load(self, url: str) -> dict[str, Any] | None:
        try:
            entry = json.loads(self._path(url).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # a missing or damaged entry is only a cache miss
        if not isinstance(entry, dict) or entry.get("url") != url or not isinstance(entry.get("body"), str):
            return None
        return entry

    def drop(self, url: str) -> None:
        self._path(url).unlink(missing_ok=True)

    def store(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        body: str,
        meta: dict[str, str] | None = None,
    ) -> None:
        # ``meta``: a few response facts a registry needs again on a 304 (content type, digest,
        # the auth challenge). Never a request header, so never a token.
        entry = {"url": url, "etag": etag, "last_modified": last_modified, "body": body}
        if meta:
            entry["meta"] = meta
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".entry.", dir=self.root)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entry, fh)
            os.replace(tmp, self._path(url))
        except OSError:
            pass  # an unwritable cache costs a refetch next time, never a failed update


def _reset_text(resp: requests.Response) -> str:
    reset = resp.headers.get("X-RateLimit-Reset")
    if reset and reset.isdigit():
        when = dt.datetime.fromtimestamp(int(reset), tz=dt.UTC)
        return f"resets at {when:%Y-%m-%d %H:%M:%S} UTC"
    retry_after = resp.headers.get("Retry-After")
    if retry_after:
        return f"retry after {retry_after} s"
    return "reset time not given"


def _connection_reason(exc: Exception) -> str:
    text = str(exc)
    if any(
        s in text
        for s in (
            "NameResolutionError",
            "Name or service not known",
            "nodename nor servname",
            "Temporary failure in name resolution",
            "getaddrinfo failed",
        )
    ):
        return "DNS lookup failed (no network or unknown host)"
    if "Network is unreachable" in text:
        return "network is unreachable"
    if "Connection refused" in text:
        return "connection refused"
    return f"cannot connect ({exc.__class__.__name__})"


class HttpClient:
    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        token: str | None = None,
        session: requests.Session | None = None,
        retries: int = 3,
        backoff: float = 2.0,
        timeout: tuple[float, float] = (10.0, 60.0),
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[str], None] | None = None,
    ) -> None:
        self.cache = DiskCache(cache_dir) if cache_dir else None
        self._token = token
        self.session = session or requests.Session()
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.sleep = sleep
        self.on_request = on_request
        self.stats = Stats()
        self._memo: dict[str, Fetched] = {}

    def __repr__(self) -> str:  # never show the token, even in a debugger or traceback
        token = "set" if self._token else "unset"
        return f"HttpClient(cache={self.cache.root if self.cache else None}, token={token})"

    def _headers(self, url: str, cached: dict[str, Any] | None) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT}
        if urlsplit(url).hostname == GITHUB_API:
            headers["Accept"] = "application/vnd.github+json"
            headers["X-GitHub-Api-Version"] = "2022-11-28"
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
        if cached:
            if cached.get("etag"):
                headers["If-None-Match"] = cached["etag"]
            if cached.get("last_modified"):
                headers["If-Modified-Since"] = cached["last_modified"]
        return headers

    def get_text(self, url: str) -> str:
        return self.fetch(url).text

    def cached_text(self, url: str) -> str | None:
        """The body this run or the disk cache already holds for ``url``, without a request."""
        if url in self._memo:
            return self._memo[url].text
        entry = self.cache.load(url) if self.cache else None
        return entry["body"] if entry else None

    def cached_meta(self, url: str) -> dict[str, str]:
        """What the last stored response for ``url`` noted (see ``DiskCache.store``); {} when none."""
        entry = self.cache.load(url) if self.cache else None
        meta = entry.get("meta") if entry else None
        return dict(meta) if isinstance(meta, dict) else {}

    def fetch(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        allow: tuple[int, ...] = (),
        keep: tuple[str, ...] = (),
        meta: dict[str, str] | None = None,
        cache: bool = True,
    ) -> Fetched:
        """GET ``url``: a 200 (or a 304 answered from the cache) as ``Fetched``.

        ``headers`` are added to the request (e.g. a registry's Accept or a bearer token; they are
        never stored). A status in ``allow`` (e.g. 401 for a registry challenge) is returned instead
        of raised, and is not memoized. ``keep`` names response headers to store with the body so a
        304 can answer them too; ``meta`` adds notes of the caller's own. ``cache=False`` never
        stores or replays the body (a registry token is a credential).
        """
        if cache and url in self._memo:
            return self._memo[url]
        cached = self.cache.load(url) if (self.cache and cache) else None
        req_headers = self._headers(url, cached)
        req_headers.update(headers or {})
        attempt = 0
        while True:
            if self.on_request:
                self.on_request(url)
            self.stats.requests += 1
            try:
                resp = self.session.get(url, headers=req_headers, timeout=self.timeout)
                self.stats.requests += len(resp.history)  # redirect hops are requests too
                status = resp.status_code
                body = resp.content if status == 200 else b""
            except requests.exceptions.Timeout:
                status, resp = -1, None
            except requests.exceptions.ChunkedEncodingError:
                raise UpstreamError(
                    f"{url}: response body was cut off (truncated transfer); retry later"
                ) from None
            except requests.exceptions.ConnectionError as exc:
                raise UpstreamError(
                    f"{url}: {_connection_reason(exc)}; check the network and retry"
                ) from None
            except requests.exceptions.RequestException as exc:
                raise UpstreamError(f"{url}: request failed ({exc.__class__.__name__})") from None
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            if (status == -1 or status >= 500) and attempt < self.retries:
                self.stats.retries += 1
                self.sleep(self.backoff * (2**attempt))
                attempt += 1
                continue
            break
        tries = f" after {attempt + 1} attempts" if attempt else ""
        if resp is None:
            raise UpstreamError(f"{url}: timed out{tries}; check the network and retry")
        if status in allow:
            return Fetched(url, status, "", {k.lower(): v for k, v in resp.headers.items()})
        if status == 304:
            if not cached:
                raise UpstreamError(f"{url}: server answered 304 Not Modified to an unconditional request")
            self.stats.not_modified += 1
            text = cached["body"]
            kept = cached.get("meta") if isinstance(cached.get("meta"), dict) else {}
        elif status == 200:
            self.stats.ok += 1
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise UpstreamError(f"{url}: response is not UTF-8 text; is this the right URL?") from None
            kept = {k: resp.headers[k] for k in keep if k in resp.headers}
            kept.update(meta or {})
            if self.cache and cache and (resp.headers.get("ETag") or resp.headers.get("Last-Modified")):
                self.cache.store(
                    url, resp.headers.get("ETag"), resp.headers.get("Last-Modified"), text, kept or None
                )
        elif status in (403, 429) and (
            status == 429
            or resp.headers.get("X-RateLimit-Remaining") == "0"
            or resp.headers.get("Retry-After")
        ):
            github = urlsplit(url).hostname in (GITHUB_API, "github.com", "raw.githubusercontent.com")
            hint = "" if self._token or not github else "; set GITHUB_TOKEN for a higher limit"
            raise UpstreamError(f"{url}: rate limit exceeded (HTTP {status}), {_reset_text(resp)}{hint}")
        elif status == 404:
            raise UpstreamError(f"{url}: not found (HTTP 404); upstream has no such release, tag or file")
        elif status >= 500:
            raise UpstreamError(f"{url}: server error (HTTP {status}){tries}; retry later")
        else:
            raise UpstreamError(f"{url}: unexpected HTTP {status} {resp.reason or ''}".rstrip())
        out = Fetched(url, status, text, {k.lower(): v for k, v in kept.items()})
        if cache:
            self._memo[url] = out
        return out

    def forget(self, url: str) -> None:
        """Drop a body that failed to parse, so a bad transfer is never reused from the cache."""
        self._memo.pop(url, None)
        if self.cache:
            self.cache.drop(url)

    def get_json(self, url: str) -> Any:
        text = self.get_text(url)
        try:
            return json.loads(text)
        except ValueError as exc:
            self.forget(url)
            raise UpstreamError(
                f"{url}: response is not valid JSON ({exc.msg} at char {exc.pos}); "
                "the body may be truncated, retry later"
            ) from None
