"""Staleness said plainly: `matrix check` and `matrix resolve` report the age of `checked` and warn when
it is past 30 days, when a row is past its maintenance date, or when the default row is not the newest
supported minor. "Today" is injected (`--date`, or the ``today`` argument), never read from the clock."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from generator.errors import UserError
from generator.matrix import store
from generator.matrix.freshness import MAX_AGE_DAYS, UPDATE_HINT, freshness
from generator.matrix.model import load_matrix
from tests.conftest import run_cli
from tests.matrix.matrixlab import mutate

D = dt.date.fromisoformat
TODAY = D("2026-12-01")  # the day this was written; the committed matrix says checked: 2026-11-25


def _messages(matrix, today: dt.date) -> list[str]:
    return [m for _, _, m in freshness(matrix, today).warnings]


def test_age_of_checked_and_the_30_day_warning(matrix_copy: Path) -> None:
    mutate(matrix_copy, lambda d: d.update(checked="2026-10-31", default="1.37"))
    m = load_matrix(matrix_copy)
    assert freshness(m, TODAY).age_days == 31
    stale = [msg for msg in _messages(m, TODAY) if "checked 2026-10-31" in msg]
    assert len(stale) == 1 and UPDATE_HINT in stale[0] and f"more than {MAX_AGE_DAYS}" in stale[0]
    # exactly 30 days is still fresh
    assert not [msg for msg in _messages(m, D("2026-11-30")) if "checked" in msg]
    assert freshness(m, D("2026-11-30")).summary().startswith("matrix checked 2026-10-31 (30 days before")


def test_past_maintenance_date_warns_from_that_day(matrix_copy: Path) -> None:
    m = load_matrix(matrix_copy)
    assert m.row("1.35").maintenance == D("2026-12-28")  # kubernetes.io/releases/1.35
    before = [msg for msg in _messages(m, D("2026-12-27")) if "maintenance" in msg]
    on = [msg for msg in _messages(m, D("2026-12-28")) if "maintenance" in msg]
    assert before == []
    assert len(on) == 1 and "Kubernetes 1.35 is past its maintenance date" in on[0]
    assert "end of life 2027-02-28" in on[0]
    # past end of life it is R20's business (an error-free warning there), not a maintenance note
    assert not [msg for msg in _messages(m, D("2027-03-01")) if "1.35 is past its maintenance" in msg]


def test_default_row_not_newest_supported(matrix_copy: Path) -> None:
    m = load_matrix(matrix_copy)
    assert m.default == "1.36"
    msgs = [msg for msg in _messages(m, TODAY) if msg.startswith("default row")]
    assert len(msgs) == 1 and "(1.37)" in msgs[0] and "default_why" in msgs[0]
    # before 1.37 was released, 1.36 was the newest supported minor: nothing to say
    assert not [msg for msg in _messages(m, D("2026-08-25")) if msg.startswith("default row")]
    mutate(matrix_copy, lambda d: d.update(default="1.37"))
    assert not [msg for msg in _messages(load_matrix(matrix_copy), TODAY) if msg.startswith("default row")]


def test_missing_checked_is_a_one_line_error(matrix_copy: Path) -> None:
    mutate(matrix_copy, lambda d: d.pop("checked"))
    with pytest.raises(UserError, match="no `checked:` date"):
        freshness(load_matrix(matrix_copy), TODAY)


def test_check_cli_reports_age_and_warnings(matrix_copy: Path) -> None:
    mutate(matrix_copy, lambda d: d.update(checked="2026-10-01"))
    res = run_cli("matrix", "check", "--matrix", str(matrix_copy), "--date", "2026-12-28")
    assert res.returncode == 0, res.stderr  # staleness warns, it does not fail the check
    out = res.stdout
    assert "matrix checked 2026-10-01 (88 days before 2026-12-28; warns past 30 days)" in out
    line = store.load_located(matrix_copy)[1][("checked",)]
    assert f"{matrix_copy}:{line}: STALE matrix: checked 2026-10-01, 88 days before 2026-12-28" in out
    assert "run `rcar-k8s matrix update` on a connected host" in out
    assert "STALE [1.35] kubernetes: Kubernetes 1.35 is past its maintenance date" in out
    assert "STALE default: default row 1.36 is not the newest supported minor" in out

    res = run_cli("matrix", "check", "--matrix", str(matrix_copy), "--date", "2026-12-28", "--format", "json")
    report = json.loads(res.stdout)
    assert report["checked"] == "2026-10-01" and report["checked_age_days"] == 88
    assert {f["component"] for f in report["findings"] if f["rule"] == "STALE"} == {
        "matrix",
        "kubernetes",
        "default",
    }


def test_resolve_cli_reports_age_and_warnings(matrix_copy: Path) -> None:
    res = run_cli("matrix", "resolve", "--matrix", str(matrix_copy), "--k8s", "1.35", "--date", "2027-01-02")
    assert res.returncode == 0, res.stderr
    assert "matrix checked 2026-11-25 (38 days before 2027-01-02; warns past 30 days)" in res.stdout
    assert "STALE matrix: checked 2026-11-25, 38 days before 2027-01-02" in res.stdout
    assert "STALE kubernetes: Kubernetes 1.35 is past its maintenance date" in res.stdout
    fresh = run_cli(
        "matrix", "resolve", "--matrix", str(matrix_copy), "--k8s", "1.36", "--date", "2026-12-01"
    )
    assert "matrix checked 2026-11-25 (6 days before 2026-12-01" in fresh.stdout
    assert "STALE matrix" not in fresh.stdout and "maintenance date" not in fresh.stdout
    js = run_cli(
        "matrix", "resolve", "--matrix", str(matrix_copy), "--date", "2027-01-02", "--format", "json"
    )
    data = json.loads(js.stdout)["freshness"]
    assert data["checked_age_days"] == 38 and any("more than 30" in w["message"] for w in data["warnings"])
