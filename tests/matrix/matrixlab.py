"""Break a copy of the committed matrix and ask the real CLI about it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.matrix import store
from tests.conftest import run_cli

TODAY = "2026-11-25"


def row(data: dict[str, Any], minor: str) -> dict[str, Any]:
    return next(r for r in data["rows"] if r["k8s"] == minor)


def comps(data: dict[str, Any], minor: str) -> dict[str, Any]:
    return row(data, minor)["components"]


def mutate(path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = store.load(path)
    change(data)
    store.write_atomic(path, store.dump(data))
    return path


def check_json(path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    res = run_cli("matrix", "check", "--matrix", str(path), "--date", TODAY, "--format", "json", *extra)
    assert res.returncode in (0, 1), res.stderr
    return res.returncode, json.loads(res.stdout)


def errors(report: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in report["findings"] if f["severity"] == "error"}
