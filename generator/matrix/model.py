"""Typed read access to the matrix: ``load_matrix()`` then ``matrix.row("1.36").version("containerd")``.

Everything that needs a version (templates, kas files, checks, image lists) reads it from here,
so each fact is decided in one place: the lock file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator import paths
from generator.errors import UserError
from generator.matrix import schema, store
from generator.matrix.components import COMPONENTS as COMPONENTS  # re-exported for callers of model


def parse_date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise UserError(f"{what}: '{value}' is not a date in YYYY-MM-DD form") from None


@dataclass(frozen=True)
class Row:
    """One supported Kubernetes minor and its full node stack."""

    minor: str
    released: dt.date
    maintenance: dt.date
    eol: dt.date
    components: dict[str, dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, compare=False)

    def comp(self, name: str) -> dict[str, Any]:
        try:
            return self.components[name]
        except KeyError:
            raise UserError(f"matrix row {self.minor} has no component '{name}'") from None

    def version(self, name: str) -> str:
        return str(self.comp(name)["version"])

    @property
    def kubernetes(self) -> str:
        return self.version("kubernetes")

    def artifacts(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(component, artifact name, artifact dict) for every downloadable artifact in the row."""
        out = []
        for cname, comp in self.components.items():
            for aname, art in (comp.get("artifacts") or {}).items():
                out.append((cname, aname, art))
        return out


@dataclass(frozen=True)
class Matrix:
    path: Path
    data: dict[str, Any] = field(repr=False)
    rows: tuple[Row, ...]

    @property
    def default(self) -> str:
        return str(self.data["default"])

    @property
    def yocto(self) -> dict[str, Any]:
        return self.data["yocto"]

    @property
    def minors(self) -> list[str]:
        return [r.minor for r in self.rows]

    def row(self, minor: str) -> Row:
        for r in self.rows:
            if r.minor == minor:
                return r
        known = ", ".join(self.minors)
        raise UserError(f"Kubernetes {minor} is not in the matrix (supported: {known}); pick one of those")

    @property
    def default_row(self) -> Row:
        return self.row(self.default)


def from_data(data: dict[str, Any], path: Path) -> Matrix:
    rows = []
    for i, raw in enumerate(data.get("rows") or []):
        where = f"{path}: rows[{i}]"
        try:
            minor = str(raw["k8s"])
            rows.append(
                Row(
                    minor=minor,
                    released=parse_date(raw["released"], f"{where}.released"),
                    maintenance=parse_date(raw.get("maintenance", raw["eol"]), f"{where}.maintenance"),
                    eol=parse_date(raw["eol"], f"{where}.eol"),
                    components=dict(raw["components"]),
                    raw=raw,
                )
            )
        except (KeyError, TypeError) as exc:
            raise UserError(
                f"{where}: missing field {exc}; see generator/data/matrix.yml for the shape"
            ) from None
    return Matrix(path=path, data=data, rows=tuple(rows))


def load_matrix(path: Path | None = None) -> Matrix:
    """Load and schema-check the lock file: a bad shape is a one-line UserError naming file:line."""
    path = Path(path) if path else paths.MATRIX_FILE
    data, lines = store.load_located(path)
    schema.validate(data, lines, str(path))
    return from_data(data, path)
