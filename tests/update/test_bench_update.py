"""The request counts quoted in docs/matrix-update.md are what scripts/bench_update.py measures."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _counts(lines: list[str]) -> list[list[str]]:
    return [
        [c.strip() for c in ln.strip("|").split("|")][:-1]  # all but the wall time
        for ln in lines
        if ln.startswith("| cold") or ln.startswith("| warm")
    ]


def test_documented_numbers_are_measured() -> None:
    spec = importlib.util.spec_from_file_location("bench_update", REPO / "scripts" / "bench_update.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bench.main() == 0
    measured = _counts(out.getvalue().splitlines())
    documented = _counts((REPO / "docs" / "matrix-update.md").read_text().splitlines())
    assert measured and measured == documented
    _, requests, ok, not_modified, redirects, challenges, tokens, conditional, _ = measured[1]
    # warm: a body only for the anonymous registry tokens (never cached: credentials); every other
    # request is conditional and answered 304 (or, at registry.k8s.io, 307 to the backend that says 304)
    assert challenges == "0" and ok == tokens
    assert int(requests) == int(ok) + int(not_modified) + int(redirects)
    assert int(conditional) == int(requests) - int(tokens)
