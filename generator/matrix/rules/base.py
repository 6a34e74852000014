"""What every rule module shares: severities, the row context a check reads, hits, findings and ``Rule``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from generator.matrix.model import Row

ERROR = "error"
WARNING = "warning"
RUNTIMES = ("containerd", "docker")
BUILDS = ("binary", "source")
UNCONFIRMED = "UNCONFIRMED"  # pseudo-rule id: a hash/commit the matrix could not confirm


@dataclass(frozen=True)
class Context:
    row: Row
    yocto: dict[str, Any]  # the matrix's yocto section (kernel, systemd, layers)
    series: str  # Yocto series the build targets
    go: str  # Go toolchain BitBake has (the series' OE-core Go unless a newer one is provided)
    build: str = "binary"
    runtime: str = "containerd"
    date: dt.date = field(default_factory=dt.date.today)

    @property
    def minor(self) -> str:
        return self.row.minor

    def comp(self, name: str) -> dict[str, Any] | None:
        return self.row.components.get(name)


@dataclass(frozen=True)
class Hit:
    component: str
    message: str
    severity: str | None = None  # None: the rule's severity


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    minor: str | None
    component: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "minor": self.minor,
            "component": self.component,
            "message": self.message,
            "line": self.line,
        }


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    text: str
    source: str
    severity: str
    check: Callable[[Context], Iterable[Hit]] = field(repr=False)
    runtimes: tuple[str, ...] = RUNTIMES
    way_out: str = "fix the pin in generator/data/matrix.yml (see `rcar-k8s matrix check`)"


def _containerd(ctx: Context) -> dict[str, Any]:
    return ctx.row.comp("containerd")
