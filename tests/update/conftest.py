"""The upstream world for `matrix update` tests, served offline by requests-mock.

``upstream`` registers every response in fixtures/manifest.json (built by fixtures/build.py in the
real API shapes) with ETag handling: a request carrying the matching If-None-Match gets a bodiless
304, like GitHub, raw.githubusercontent.com and dl.k8s.io do. Tests override single URLs to inject
faults. ``update(...)`` runs `rcar-k8s matrix update` in-process through the real CLI parser.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests_mock

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MATRIX_BEFORE = FIXTURES / "matrix-before.yml"
API_HEADERS = {
    "X-RateLimit-Limit": "60",
    "X-RateLimit-Remaining": "59",
    "X-RateLimit-Reset": "1798200000",
    "X-RateLimit-Resource": "core",
    "X-GitHub-Media-Type": "github.v3; format=json",
}


def load_manifest() -> list[dict[str, str]]:
    return json.loads((FIXTURES / "manifest.json").read_text())


REGISTRY_401 = '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}\n'


def _responder(body: str, entry: dict, api: bool, statuses: list[int]):
    etag, headers = entry.get("etag"), entry.get("headers") or {}

    def respond(request, context):
        bearer = entry.get("bearer")
        if bearer and request.headers.get("Authorization") != f"Bearer {bearer}":
            # a registry that needs a token: 401 + the challenge, like ghcr.io and docker.io
            context.status_code = 401
            context.headers["Content-Type"] = "application/json"
            context.headers["Docker-Distribution-Api-Version"] = "registry/2.0"
            context.headers["WWW-Authenticate"] = entry["challenge"]
            statuses.append(401)
            return REGISTRY_401
        context.headers["Content-Type"] = entry["content_type"]
        context.headers.update(headers)
        if api:
            context.headers.update(API_HEADERS)
        if entry.get("status"):  # e.g. registry.k8s.io's 307 to its backend
            context.status_code = entry["status"]
            statuses.append(context.status_code)
            return body
        if etag:
            context.headers["ETag"] = etag
        context.status_code = 304 if etag and request.headers.get("If-None-Match") == etag else 200
        statuses.append(context.status_code)
        return "" if context.status_code == 304 else body

    return respond


def serve(mocker: requests_mock.Mocker) -> list[int]:
    """Register the fixture world; returns the list every fixture response's status is appended to."""
    statuses: list[int] = []
    for entry in load_manifest():
        body = (FIXTURES / "upstream" / entry["file"]).read_text(encoding="utf-8")
        api = entry["url"].startswith("https://api.github.com/")
        mocker.get(entry["url"], text=_responder(body, entry, api, statuses), complete_qs=True)
    return statuses


# The fixture world publishes Kubernetes 1.38 (its kubeadm constants: pause 3.10.2, CoreDNS v1.14.6,
# etcd 3.7.1). `matrix update` adds a new minor only when generator/matrix/facts.py has its per-minor
# facts, so every test here runs as if a maintainer had recorded them for 1.38 (containerd: as if its
# support table listed 2.3 for 1.37 and 1.38, the line the fixture's 1.36 entry names first);
# test_update_happy.py::test_a_new_minor_without_facts_is_refused removes them again.
FACTS_1_38 = {"PAUSE": "3.10.2", "COREDNS": "v1.14.6", "ETCD_LINE": "3.7"}
CONTAINERD_1_37_1_38 = ["2.3.0", "2.2.0"]


@pytest.fixture(autouse=True)
def facts_know_1_38(monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.matrix import facts

    for name, value in FACTS_1_38.items():
        monkeypatch.setitem(getattr(facts, name).data, "1.38", value)
    for minor in ("1.37", "1.38"):
        monkeypatch.setitem(facts.CONTAINERD_K8S.data, minor, CONTAINERD_1_37_1_38)


@pytest.fixture
def upstream() -> Iterator[requests_mock.Mocker]:
    with requests_mock.Mocker() as m:
        m.statuses = serve(m)
        yield m


@pytest.fixture
def matrix_file(tmp_path: Path) -> Path:
    dst = tmp_path / "matrix.yml"
    shutil.copyfile(MATRIX_BEFORE, dst)
    return dst


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_update(*args: str, cache: Path) -> Result:
    """`rcar-k8s matrix update ARGS` through generator.cli.main, stdout/stderr captured."""
    from generator import cli

    out, err = io.StringIO(), io.StringIO()
    argv = ["update", "--cache-dir", str(cache), "--retry-backoff", "0", *args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["matrix", *argv])
        except SystemExit as exc:  # argparse errors
            code = int(exc.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def update(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)  # tests that want one set it themselves
    cache = tmp_path / "http-cache"

    def run(*args: str) -> Result:
        return run_update(*args, cache=cache)

    run.cache = cache
    return run
