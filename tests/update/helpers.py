"""Helpers shared by the `matrix update` tests (imported by module name; tests/update is on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
API = "https://api.github.com"
RAW = "https://raw.githubusercontent.com"
GH = "https://github.com"
DL = "https://dl.k8s.io/release"


def fixture_text(url: str) -> str:
    for entry in json.loads((FIXTURES / "manifest.json").read_text()):
        if entry["url"] == url:
            return (FIXTURES / "upstream" / entry["file"]).read_text(encoding="utf-8")
    raise KeyError(url)


def snapshot(path: Path) -> tuple[bytes, int]:
    """Bytes and mtime (ns): 'untouched' means both are equal."""
    return path.read_bytes(), path.stat().st_mtime_ns
