"""The request counts quoted in docs/matrix-update.md are what scripts/bench_update.py measures."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _counts(lines: list[str]) -> list[list[str]]:
    return [
        [c.strip() for c in ln.strip("|").split("|")][:6]
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
    warm = measured[1]
    assert warm[2] == "0" and warm[1] == warm[3] == warm[4]  # warm: only conditional requests, all 304
