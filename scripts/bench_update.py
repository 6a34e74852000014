#!/usr/bin/env python3
"""Count the HTTP requests of a full `rcar-k8s matrix update`, cold cache vs warm cache.

Runs the real command in-process twice against the recorded upstream fixtures
(tests/update/fixtures/, served by requests-mock with ETag/If-None-Match semantics):

  cold: empty cache directory -> every response is a 200 with a body (plus registry redirects,
        auth challenges and anonymous token requests)
  warm: same cache directory, matrix already updated -> conditional requests only (304s), except
        the registry token requests (a token is a credential and is never cached)

  python scripts/bench_update.py            # prints a Markdown table (docs/matrix-update.md quotes it)
"""

from __future__ import annotations

import collections
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests_mock  # noqa: E402

from tests.update import conftest  # noqa: E402

DATE = "2026-12-20"


def sizes() -> dict[str, int]:
    manifest = json.loads((conftest.FIXTURES / "manifest.json").read_text())
    return {e["url"]: (conftest.FIXTURES / "upstream" / e["file"]).stat().st_size for e in manifest}


def run(label: str, matrix: Path, cache: Path, size: dict[str, int]) -> dict[str, object]:
    with requests_mock.Mocker() as m:
        statuses = conftest.serve(m)
        t0 = time.perf_counter()
        result = conftest.run_update("--matrix", str(matrix), "--date", DATE, cache=cache)
        elapsed = time.perf_counter() - t0
        history = list(m.request_history)
    if result.code != 0:
        raise SystemExit(f"{label} run failed (exit {result.code}): {result.err.strip()}")
    if len(statuses) != len(history):
        raise SystemExit(f"{label}: a request went to a URL outside the fixtures")
    by_host = collections.Counter(urlsplit(r.url).hostname for r in history)
    body = sum(size[r.url] for r, s in zip(history, statuses, strict=True) if s == 200)
    tokens = [r for r in history if r.path == "/token"]
    return {
        "label": label,
        "requests": len(history),
        "200": statuses.count(200),
        "304": statuses.count(304),
        "307": statuses.count(307),
        "401": statuses.count(401),
        "tokens": len(tokens),
        "conditional": sum(1 for r in history if "If-None-Match" in r.headers),
        "body_bytes": body,
        "by_host": dict(sorted(by_host.items())),
        "seconds": elapsed,
        "summary": result.out.splitlines()[0],
    }


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-update-"))
    try:
        matrix, cache = tmp / "matrix.yml", tmp / "cache"
        shutil.copyfile(conftest.MATRIX_BEFORE, matrix)
        size = sizes()
        cold = run("cold (empty cache)", matrix, cache, size)
        warm = run("warm (same cache, repeated run)", matrix, cache, size)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        "| run | HTTP requests | 200 (body) | 304 (not modified) | 307 (redirect) | 401 (auth challenge) "
        "| registry tokens | conditional | body bytes | wall time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in (cold, warm):
        print(
            f"| {r['label']} | {r['requests']} | {r['200']} | {r['304']} | {r['307']} | {r['401']} | "
            f"{r['tokens']} | {r['conditional']} | {r['body_bytes']:,} | {r['seconds']:.2f} s |"
        )
    print()
    print("requests per host (cold): " + ", ".join(f"{h} {n}" for h, n in cold["by_host"].items()))
    print(f"cold: {cold['summary']}")
    print(f"warm: {warm['summary']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
