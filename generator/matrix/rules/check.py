"""Applying the rules: every row and runtime profile, plus one UNCONFIRMED warning per unknown hash."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from generator.errors import UserError
from generator.matrix import facts, schema, store
from generator.matrix.model import Matrix, Row, from_data
from generator.matrix.rules.base import UNCONFIRMED, WARNING, Context, Finding, Rule
from generator.matrix.rules.table import RULES


def row_runtimes(row: Row) -> list[str]:
    return ["containerd"] + (
        ["docker"] if ("docker" in row.components or "cri-dockerd" in row.components) else []
    )


def _walk_unconfirmed(obj: Any, at: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """(key path, key, reason) for every `unconfirmed` / `*_unconfirmed` value under obj."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, str) and (k == "unconfirmed" or k.endswith("_unconfirmed")) and v:
                yield at, k, str(v)
            elif isinstance(v, (dict, list)):
                yield from _walk_unconfirmed(v, (*at, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk_unconfirmed(v, (*at, i))


def _what(path: tuple[Any, ...], key: str, node: Any) -> str:
    """Name what is missing: "kubeadm sha256", "git commit", "kube-proxy image digest"."""
    if key != "unconfirmed":
        return key.removesuffix("_unconfirmed") + " digest"
    if not isinstance(node, dict):
        return "value"
    if "sha256" in node:
        return f"{path[-1]} sha256" if path else "sha256"
    if "commit" in node:
        return f"{path[-1]} commit" if path else "commit"
    if "digest" in node:
        return f"{path[-1]} image digest" if path else "image digest"
    return "value"


def unconfirmed(row: Row) -> Iterator[tuple[str, str, tuple[Any, ...]]]:
    """(component, message, key path within the component) for every value the matrix could not confirm."""
    for cname, comp in row.components.items():
        for path, key, reason in _walk_unconfirmed(comp, ()):
            node: Any = comp
            for p in path:
                node = node[p]
            what = _what(path, key, node)
            yield cname, f"{cname}: {what} unconfirmed ({reason})", path


def evaluate(ctx: Context, rules: Iterable[Rule] = RULES) -> list[Finding]:
    """Every rule that applies to ctx.runtime, as findings for ctx.row."""
    out = []
    for rule in rules:
        if ctx.runtime not in rule.runtimes:
            continue
        for hit in rule.check(ctx):
            out.append(Finding(rule.id, hit.severity or rule.severity, ctx.minor, hit.component, hit.message))
    return out


def _as_matrix(matrix_or_data: Matrix | dict[str, Any] | Path | str) -> tuple[Matrix, store.Lines]:
    if isinstance(matrix_or_data, Matrix):
        return matrix_or_data, {}
    if isinstance(matrix_or_data, dict):
        schema.validate(matrix_or_data, {}, "<matrix>")
        return from_data(matrix_or_data, Path("<matrix>")), {}
    path = Path(matrix_or_data)
    data, lines = store.load_located(path)
    schema.validate(data, lines, str(path))
    return from_data(data, path), lines


def load_checked(path: Path | None = None) -> tuple[Matrix, store.Lines]:
    """Load + schema-validate the lock file (UserError with file:line on a bad shape)."""
    from generator import paths

    return _as_matrix(Path(path) if path else paths.MATRIX_FILE)


def yocto_go(series: str) -> str:
    try:
        return facts.YOCTO.data[series][1]
    except KeyError:
        raise UserError(f"unknown Yocto series '{series}' (known: {', '.join(facts.YOCTO.data)})") from None


def check_matrix(
    matrix_or_data: Matrix | dict[str, Any] | Path | str,
    *,
    date: dt.date | None = None,
    build: str = "binary",
    yocto: str | None = None,
    go: str | None = None,
    lines: store.Lines | None = None,
) -> list[Finding]:
    """All findings for every row and runtime profile, plus one UNCONFIRMED warning per unknown hash/commit.

    ``matrix_or_data``: a loaded Matrix, the parsed dict, or a path (then schema errors raise UserError).
    """
    matrix, found_lines = _as_matrix(matrix_or_data)
    lines = lines if lines is not None else found_lines
    date = date or dt.date.today()
    series = yocto or str(matrix.yocto.get("series"))
    have_go = go or facts.YOCTO.data.get(series, (None, str(matrix.yocto.get("go"))))[1]
    findings: list[Finding] = []
    seen: set[tuple[str, str | None, str, str]] = set()
    for i, row in enumerate(matrix.rows):
        for runtime in row_runtimes(row):
            ctx = Context(row, matrix.yocto, series, have_go, build, runtime, date)
            for f in evaluate(ctx):
                k = (f.rule, f.minor, f.component, f.message)
                if k not in seen:
                    seen.add(k)
                    line = lines.get(("rows", i, "components", f.component)) or lines.get(("rows", i))
                    findings.append(Finding(f.rule, f.severity, f.minor, f.component, f.message, line))
        for cname, msg, sub in unconfirmed(row):
            line = lines.get(("rows", i, "components", cname, *sub))
            findings.append(Finding(UNCONFIRMED, WARNING, row.minor, cname, msg, line))
    for top in ("yocto", "addons"):
        for path, key, reason in _walk_unconfirmed(matrix.data.get(top) or {}, (top,)):
            name = str(path[-1]) if len(path) > 1 else top
            findings.append(
                Finding(
                    UNCONFIRMED,
                    WARNING,
                    None,
                    name,
                    f"{'.'.join(map(str, path))}: {key.replace('_', ' ')} ({reason})",
                    lines.get(path),
                )
            )
    return findings
