"""Every upstream fault ends in one line naming the URL, exit 3, and the matrix file untouched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from tests.update.helpers import API, DL, GH, RAW, fixture_text, snapshot

RELEASES_CTD = f"{API}/repos/containerd/containerd/releases?per_page=100"
STABLE_135 = f"{DL}/stable-1.35.txt"
KUBEADM_SUM_136 = f"{DL}/v1.36.5/bin/linux/arm64/kubeadm.sha256"
CTD_SUM = f"{GH}/containerd/containerd/releases/download/v2.3.4/containerd-2.3.4-linux-arm64.tar.gz.sha256sum"
ETCD_SUMS = f"{GH}/etcd-io/etcd/releases/download/v3.6.8/SHA256SUMS"
REF_RUNC = f"{API}/repos/opencontainers/runc/git/ref/tags/v1.4.3"
CONSTANTS = f"{RAW}/kubernetes/kubernetes/v1.36.5/cmd/kubeadm/app/constants/constants.go"
RATE_RESET = 1798200000  # 2026-12-25 12:00:00 UTC


def _conn_error(host: str, reason: str) -> requests.exceptions.ConnectionError:
    # the message requests/urllib3 really produce for these failures
    return requests.exceptions.ConnectionError(
        f"HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded with url: / (Caused by {reason})"
    )


FAULTS = {
    "network down": (
        STABLE_135,
        {
            "exc": _conn_error(
                "dl.k8s.io",
                "NewConnectionError('<urllib3.connection."
                "HTTPSConnection object>: Failed to establish a new connection: "
                "[Errno 101] Network is unreachable'))",
            )
        },
        "network is unreachable",
    ),
    "dns failure": (
        STABLE_135,
        {
            "exc": _conn_error(
                "dl.k8s.io",
                'NameResolutionError("<urllib3.connection.'
                "HTTPSConnection object>: Failed to resolve 'dl.k8s.io' "
                '([Errno -2] Name or service not known)")',
            )
        },
        "DNS lookup failed",
    ),
    "timeout": (RELEASES_CTD, {"exc": requests.exceptions.ConnectTimeout}, "timed out after 4 attempts"),
    "read timeout": (CONSTANTS, {"exc": requests.exceptions.ReadTimeout}, "timed out after 4 attempts"),
    "403 rate limit": (
        RELEASES_CTD,
        {
            "status_code": 403,
            "headers": {
                "X-RateLimit-Limit": "60",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(RATE_RESET),
                "X-RateLimit-Resource": "core",
                "Content-Type": "application/json; charset=utf-8",
            },
            "json": {
                "message": "API rate limit exceeded for 203.0.113.7. (But here's the good news: "
                "Authenticated requests get a higher rate limit. Check out the documentation for more "
                "details.)",
                "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api"
                "#rate-limiting",
            },
        },
        "rate limit exceeded (HTTP 403), resets at 2026-12-25 12:00:00 UTC; set GITHUB_TOKEN",
    ),
    "429 secondary limit": (
        REF_RUNC,
        {
            "status_code": 429,
            "headers": {"Retry-After": "60"},
            "json": {"message": "You have exceeded a secondary rate limit."},
        },
        "rate limit exceeded (HTTP 429), retry after 60 s",
    ),
    "404 asset": (
        KUBEADM_SUM_136,
        {
            "status_code": 404,
            "text": "<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code></Error>",
        },
        "not found (HTTP 404)",
    ),
    "500 forever": (
        STABLE_135,
        {"status_code": 500, "text": "Internal Server Error"},
        "server error (HTTP 500) after 4 attempts",
    ),
    "truncated JSON": (RELEASES_CTD, {"text": "TRUNCATE"}, "not valid JSON"),
    "cut-off transfer": (
        RELEASES_CTD,
        {
            "exc": requests.exceptions.ChunkedEncodingError(
                "('Connection broken: IncompleteRead(1024 bytes read, 3311 more expected)', "
                "IncompleteRead(1024))"
            )
        },
        "cut off",
    ),
    "HTML instead of JSON": (
        REF_RUNC,
        {
            "text": "<!DOCTYPE html><html><body>Unicorn!</body></html>",
            "headers": {"Content-Type": "text/html"},
        },
        "not valid JSON",
    ),
    "checksum for another file": (
        CTD_SUM,
        {
            "text": "84eb0a161e20ad45465202fa2d6d93b3d9b74666c363e9908706d590a86e2618"
            "  containerd-2.3.4-linux-amd64.tar.gz\n"
        },
        "checksum file does not list containerd-2.3.4-linux-arm64.tar.gz",
    ),
    "checksum list without arm64": (
        ETCD_SUMS,
        {"text": "SUMS_WITHOUT_ARM64"},
        "does not list etcd-v3.6.8-linux-arm64.tar.gz",
    ),
    "checksum file missing": (CTD_SUM, {"status_code": 404, "text": "Not Found"}, "not found (HTTP 404)"),
    "checksum not a hash": (KUBEADM_SUM_136, {"text": "<html>moved</html>"}, "is not a sha256 digest"),
    "tag does not resolve": (
        REF_RUNC,
        {
            "status_code": 404,
            "json": {
                "message": "Not Found",
                "documentation_url": "https://docs.github.com/rest/git/refs#get-a-reference",
                "status": "404",
            },
        },
        "not found (HTTP 404)",
    ),
}


def _materialize(url: str, kwargs: dict) -> dict:
    kwargs = dict(kwargs)
    if kwargs.get("text") == "TRUNCATE":
        body = fixture_text(url)
        kwargs["text"] = body[: len(body) // 2]
        kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
    if kwargs.get("text") == "SUMS_WITHOUT_ARM64":
        kwargs["text"] = "".join(ln + "\n" for ln in fixture_text(url).splitlines() if "arm64" not in ln)
    return kwargs


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_leaves_matrix_untouched(name: str, upstream, matrix_file: Path, update) -> None:
    url, kwargs, expected = FAULTS[name]
    upstream.get(url, **_materialize(url, kwargs), complete_qs=True)
    before = snapshot(matrix_file)
    result = update("--matrix", str(matrix_file), "--date", "2026-12-20")
    assert result.code == 3, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("rcar-k8s: error: "), lines[0]
    assert url in lines[0], lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.err
    assert snapshot(matrix_file) == before
    assert sorted(p.name for p in matrix_file.parent.iterdir() if p.is_file()) == ["matrix.yml"]


def test_retries_are_bounded(upstream, matrix_file: Path, update) -> None:
    upstream.get(STABLE_135, status_code=503, text="Service Unavailable")
    result = update("--matrix", str(matrix_file), "--date", "2026-12-20")
    assert result.code == 3
    assert len([r for r in upstream.request_history if r.url == STABLE_135]) == 4  # 1 + 3 retries


def test_hash_changed_upstream_for_same_version_is_an_error(upstream, matrix_file: Path, update) -> None:
    url = f"{DL}/v1.35.8/bin/linux/arm64/kubelet.sha256"
    upstream.get(url, text="0" * 64)
    before = snapshot(matrix_file)
    result = update("--matrix", str(matrix_file), "--date", "2026-12-20")
    assert result.code == 3
    assert url in result.err and "differs from the pinned 7744f84c49df" in result.err
    assert snapshot(matrix_file) == before


def test_github_asset_digest_disagreeing_with_checksum_file_is_an_error(
    upstream, matrix_file, update
) -> None:
    url = f"{API}/repos/opencontainers/runc/releases?per_page=100"
    releases = json.loads(fixture_text(url))
    for rel in releases:
        for asset in rel["assets"]:
            if rel["tag_name"] == "v1.4.3" and asset["name"] == "runc.arm64":
                asset["digest"] = "sha256:" + "1" * 64
    upstream.get(url, json=releases, complete_qs=True)
    result = update("--matrix", str(matrix_file), "--date", "2026-12-20")
    assert result.code == 3
    assert "disagrees with GitHub's asset digest" in result.err
    assert "runc.sha256sum" in result.err


def test_release_without_the_arm64_asset_is_an_error(upstream, matrix_file, update) -> None:
    url = f"{API}/repos/containernetworking/plugins/releases?per_page=100"
    releases = json.loads(fixture_text(url))
    for rel in releases:
        rel["assets"] = [a for a in rel["assets"] if "arm64" not in a["name"]]
    upstream.get(url, json=releases, complete_qs=True)
    before = snapshot(matrix_file)
    result = update("--matrix", str(matrix_file), "--date", "2026-12-20")
    assert result.code == 3
    assert "has no asset cni-plugins-linux-arm64-v1.9.1.tgz" in result.err
    assert snapshot(matrix_file) == before


def test_no_cache_file_holds_the_token(upstream, matrix_file, update, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_FIXTURESECRET0123456789")
    upstream.get(STABLE_135, status_code=500)  # fail late enough that the cache got written
    update("--matrix", str(matrix_file), "--date", "2026-12-20")
    for root, _, files in os.walk(update.cache):
        for f in files:
            assert "ghp_FIXTURESECRET" not in Path(root, f).read_text()


def test_500_then_success_completes_the_update(upstream, matrix_file: Path, update) -> None:
    url = f"{API}/repos/opencontainers/runc/releases?per_page=100"
    upstream.get(
        url,
        [
            {"status_code": 500, "text": "Internal Server Error"},
            {"status_code": 502},
            {"text": fixture_text(url), "headers": {"ETag": '"x"'}},
        ],
        complete_qs=True,
    )
    result = update("--matrix", str(matrix_file), "--date", "2026-12-20")
    assert result.code == 0, result
    assert "2 retried" in result.out
    assert len([r for r in upstream.request_history if r.url == url]) == 3
