"""How stale the matrix is at a date: the age of ``checked``, rows past their maintenance date, and
whether the default row is still the newest supported minor.

The matrix is a lock file read offline, so it cannot see releases made after ``checked``. These
findings say so plainly instead of letting an old lock file look current. ``today`` is always a
parameter (the CLI passes ``--date`` or the system date), so the checks are pure and testable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from generator.errors import UserError
from generator.matrix import versions as V
from generator.matrix.model import Matrix, parse_date

MAX_AGE_DAYS = 30  # past this, the offline lock file is likely behind upstream patch releases
UPDATE_HINT = "run `rcar-k8s matrix update` on a connected host"
STALE = "STALE"  # pseudo-rule id of these findings (like UNCONFIRMED)


@dataclass(frozen=True)
class Freshness:
    checked: dt.date
    today: dt.date
    warnings: tuple[tuple[str | None, str, str], ...]  # (minor, component, message)

    @property
    def age_days(self) -> int:
        return (self.today - self.checked).days

    def summary(self) -> str:
        age = self.age_days
        when = (
            f"{age} day{'s' if age != 1 else ''} before {self.today}" if age >= 0 else f"after {self.today}"
        )
        return f"matrix checked {self.checked} ({when}; warns past {MAX_AGE_DAYS} days)"


def freshness(matrix: Matrix, today: dt.date) -> Freshness:
    """Staleness findings for ``matrix`` at ``today`` (warnings only: a stale pin still builds)."""
    if not matrix.data.get("checked"):
        raise UserError(
            f"{matrix.path}: no `checked:` date (YYYY-MM-DD, the day upstream was last read); "
            "add it or run `rcar-k8s matrix update`"
        )
    checked = parse_date(matrix.data["checked"], f"{matrix.path}: checked")
    out: list[tuple[str | None, str, str]] = []
    age = (today - checked).days
    if age > MAX_AGE_DAYS:
        out.append(
            (
                None,
                "matrix",
                f"checked {checked}, {age} days before {today} (more than {MAX_AGE_DAYS}): newer patches, "
                f"hashes and end-of-life dates may exist that this offline matrix cannot see; {UPDATE_HINT}",
            )
        )
    for row in matrix.rows:
        if row.maintenance <= today <= row.eol:
            out.append(
                (
                    row.minor,
                    "kubernetes",
                    f"Kubernetes {row.minor} is past its maintenance date: maintenance mode since "
                    f"{row.maintenance} (date {today}), only critical fixes until end of life {row.eol}",
                )
            )
    supported = [r for r in matrix.rows if r.released <= today <= r.eol]
    if supported:
        newest = max(supported, key=lambda r: V.key(r.minor))
        if newest.minor != matrix.default:
            why = matrix.data.get("default_why")
            out.append(
                (
                    None,
                    "default",
                    f"default row {matrix.default} is not the newest supported minor at {today} "
                    f"({newest.minor})" + (f"; default_why: {why}" if why else ""),
                )
            )
    return Freshness(checked, today, tuple(out))
