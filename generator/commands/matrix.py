"""The version matrix (lock file generator/data/matrix.yml): check it, show it, resolve a stack.

  rcar-k8s matrix check   [--matrix FILE] [--date YYYY-MM-DD] [--build binary|source] [--yocto S] [--go V]
                          [--format text|json] [--sources DIR [--kubespray FILE]]
      Validate the matrix (shape, then rules R1-R21 for every row and runtime profile), and say how
      old it is: the age of `checked` at --date (STALE past 30 days), rows past their maintenance
      date, a default row that is not the newest supported minor.
      --sources DIR: also compare with local upstream mirrors DIR/OWNER+NAME/repo (tag commits, Go
      files, runc-version, containerd ConfigVersion, kube-vip tags, LAYERSERIES_COMPAT, Kubespray
      hashes); see docs/matrix.md.
      Exit 0: no errors (warnings and UNCONFIRMED hashes/commits are listed); 1: rule errors or a
      source disagreement; 2: the file is malformed (file:line) or a bad argument.
  rcar-k8s matrix show    [--matrix FILE] [--date YYYY-MM-DD]
      One table: rows = components, columns = supported Kubernetes minors.
  rcar-k8s matrix resolve --k8s 1.36 [--runtime containerd|docker] [--build binary|source]
                          [--yocto scarthgap] [--go 1.26.5] [--date YYYY-MM-DD] [--format text|json]
      The stack for one request and, per component, the rule(s) that chose it. Exit 1 with one
      sentence (rule, versions, ways out) when no stack satisfies the request, e.g.
      `--build source --yocto scarthgap --k8s 1.36` (Go 1.22.12 < 1.26).
  rcar-k8s matrix rules   [--format text|json|markdown]
      The rules table: id, severity, text, source.

Everything here is offline. Binary build is the default: kubeadm/kubelet/kubectl, containerd,
runc, crictl and the CNI plugins come as upstream-signed arm64 release artifacts checked against
the sha256 in the matrix, so scarthgap's Go 1.22 never has to compile Go >= 1.26 code and BitBake
runs far fewer tasks. See docs/matrix.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from generator.errors import UserError

NAME = "matrix"
HELP = "check, show and resolve the version matrix (the lock file)"


def _common(p: argparse.ArgumentParser, date: bool = True) -> None:
    p.add_argument(
        "--matrix",
        type=Path,
        default=None,
        metavar="FILE",
        help="matrix file (default: the committed lock file)",
    )
    if date:
        p.add_argument(
            "--date",
            default=None,
            metavar="YYYY-MM-DD",
            help="planned image release date for lifecycle warnings (default: today)",
        )


def _target(p: argparse.ArgumentParser) -> None:
    # No argparse `choices`: a bad value must be one line + exit 2, like every other user error.
    p.add_argument(
        "--build",
        default="binary",
        metavar="binary|source",
        help="binary: upstream arm64 artifacts (default); source: BitBake compiles with its Go",
    )
    p.add_argument(
        "--yocto",
        default=None,
        metavar="SERIES",
        help="Yocto series (default: the matrix's, scarthgap); kirkstone .. wrynose, master",
    )
    p.add_argument(
        "--go",
        default=None,
        metavar="VERSION",
        help="Go toolchain BitBake has, if not the series' own (e.g. a backported 1.26.5)",
    )


def _load_update() -> Any | None:
    """generator.matrix.update is optional (built separately); only its absence is tolerated."""
    try:
        return importlib.import_module("generator.matrix.update")
    except ModuleNotFoundError as exc:
        if exc.name != "generator.matrix.update":
            raise
        return None


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="matrix_command", metavar="ACTION")
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser(
        "check", help="validate the matrix against rules R1-R21", description=__doc__, formatter_class=fmt
    )
    _common(p)
    _target(p)
    p.add_argument("--format", default="text", metavar="text|json")
    p.add_argument(
        "--sources",
        type=Path,
        default=None,
        metavar="DIR",
        help="also compare with local upstream mirrors DIR/OWNER+NAME/repo (bare git, e.g. $MIRROR_ROOT): "
        "tag commits, Go versions, runc-version, kube-vip tags, LAYERSERIES_COMPAT, Kubespray hashes",
    )
    p.add_argument(
        "--kubespray",
        type=Path,
        default=None,
        metavar="FILE",
        help="with --sources: Kubespray's checksums.yml to compare hashes with (default: "
        "DIR/kubernetes-sigs+kubespray/repo at the commit each cross_check names)",
    )
    p.set_defaults(func=run_check)

    p = sub.add_parser("show", help="print the matrix as a table", description=__doc__, formatter_class=fmt)
    _common(p)
    p.set_defaults(func=run_show)

    p = sub.add_parser(
        "resolve",
        help="the stack for one Kubernetes minor, runtime and build mode",
        description=__doc__,
        formatter_class=fmt,
    )
    _common(p)
    _target(p)
    p.add_argument(
        "--k8s",
        default=None,
        metavar="MINOR",
        help="Kubernetes minor, e.g. 1.36 (default: the matrix default)",
    )
    p.add_argument("--runtime", default="containerd", metavar="containerd|docker")
    p.add_argument("--format", default="text", metavar="text|json")
    p.set_defaults(func=run_resolve)

    p = sub.add_parser(
        "rules", help="list the rules (id, severity, text, source)", description=__doc__, formatter_class=fmt
    )
    p.add_argument("--format", default="text", metavar="text|json|markdown")
    p.set_defaults(func=run_rules)

    update = _load_update()
    if update is not None and hasattr(update, "register_update"):
        update.register_update(sub.add_parser("update", help="refresh the matrix from upstream (network)"))

    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _format(args: argparse.Namespace, allowed: tuple[str, ...] = ("text", "json")) -> str:
    if args.format not in allowed:
        raise UserError(f"unknown --format '{args.format}' (use one of: {', '.join(allowed)})")
    return args.format


def _date(args: argparse.Namespace) -> dt.date:
    from generator.matrix.resolve import parse_date

    return parse_date(args.date) or dt.date.today()


def _freshness(matrix: Any, date: dt.date) -> Any:
    """Age of `checked` and staleness warnings at ``date`` (--date, else the system date)."""
    from generator.matrix.freshness import freshness

    return freshness(matrix, date)


# --- check ----------------------------------------------------------------------------------------


def run_check(args: argparse.Namespace) -> int:
    from generator.matrix.freshness import STALE
    from generator.matrix.rules import (
        BUILDS,
        ERROR,
        UNCONFIRMED,
        WARNING,
        Finding,
        check_matrix,
        load_checked,
    )

    fmt = _format(args)
    date = _date(args)
    if args.build not in BUILDS:
        raise UserError(f"unknown build mode '{args.build}' (use one of: {', '.join(BUILDS)})")
    matrix, lines = load_checked(args.matrix)
    if args.yocto:
        from generator.matrix.rules import yocto_go

        yocto_go(args.yocto)  # unknown series -> one-line error
    findings = check_matrix(matrix, date=date, build=args.build, yocto=args.yocto, go=args.go, lines=lines)
    fresh = _freshness(matrix, date)
    findings += [
        Finding(STALE, WARNING, minor, comp, msg, lines.get(("checked",)) if comp == "matrix" else None)
        for minor, comp, msg in fresh.warnings
    ]
    errors = [f for f in findings if f.severity == ERROR]
    sources = None
    if args.sources is not None:
        from generator.matrix.crosscheck import crosscheck

        sources = crosscheck(matrix, args.sources, args.kubespray)
    elif args.kubespray is not None:
        raise UserError("--kubespray FILE needs --sources DIR (the mirrors to compare with)")
    failed = bool(errors) or bool(sources and sources.disagreements)
    if fmt == "json":
        print(
            json.dumps(
                {
                    "matrix": str(matrix.path),
                    "date": date.isoformat(),
                    "rows": matrix.minors,
                    "checked": fresh.checked.isoformat(),
                    "checked_age_days": fresh.age_days,
                    "errors": len(errors),
                    "findings": [f.as_dict() for f in findings],
                    **({"sources": _sources_dict(sources)} if sources is not None else {}),
                },
                indent=2,
            )
        )
        return 1 if failed else 0
    file = str(matrix.path)
    warnings = [f for f in findings if f.severity != ERROR and f.rule != UNCONFIRMED]
    unconf = [f for f in findings if f.rule == UNCONFIRMED]

    def line(f: Any) -> str:
        at = f"{file}:{f.line}: " if f.line else ""
        row = f"[{f.minor}] " if f.minor else ""
        return f"  {at}{f.rule} {row}{f.component}: {f.message}"

    out = sys.stdout
    print(f"matrix check: {file} at {date} ({args.build} build), rows {', '.join(matrix.minors)}", file=out)
    print(f"  {fresh.summary()}", file=out)
    if errors:
        print(f"ERRORS ({len(errors)}):", file=out)
        for f in errors:
            print(line(f), file=out)
    if warnings:
        print(f"WARNINGS ({len(warnings)}):", file=out)
        for f in warnings:
            print(line(f), file=out)
    if unconf:
        # Many entries share one reason (e.g. every image digest): group by reason, list where.
        by_reason: dict[str, list[str]] = defaultdict(list)
        for f in unconf:
            what, _, reason = f.message.partition(" (")
            by_reason[reason.rstrip(")")].append(f"{f.minor + ' ' if f.minor else ''}{what}")
        print(f"UNCONFIRMED ({len(unconf)} values null in the matrix; warning, never guessed):", file=out)
        for reason, items in by_reason.items():
            print(f"  {len(items)} x {reason}", file=out)
            for item in items:
                print(f"      {item}", file=out)
    if sources is not None:
        print(
            f"SOURCES ({args.sources}): {sources.compared} upstream facts compared, "
            f"{len(sources.disagreements)} disagreement(s), "
            f"{len(sources.items) - len(sources.disagreements)} confirmable, "
            f"{len(sources.missing)} not in the mirrors",
            file=out,
        )
        for item in sources.items:
            print(item.line(), file=out)
        if sources.missing:
            print(f"  not compared (no mirror, tag or file): {', '.join(sorted(sources.missing))}", file=out)
    verdict = "FAILED" if failed else "ok"
    extra = f", {len(sources.disagreements)} source disagreement(s)" if sources is not None else ""
    print(
        f"{verdict}: {len(errors)} error(s), {len(warnings)} warning(s), {len(unconf)} unconfirmed{extra}",
        file=out,
    )
    return 1 if failed else 0


def _sources_dict(rep: Any) -> dict[str, Any]:
    return {
        "compared": rep.compared,
        "disagreements": len(rep.disagreements),
        "items": [
            {"kind": i.kind, "minor": i.minor, "what": i.what, "message": i.message} for i in rep.items
        ],
        "not_compared": sorted(rep.missing),
    }


# --- resolve --------------------------------------------------------------------------------------


def run_resolve(args: argparse.Namespace) -> int:
    from generator.matrix.resolve import resolve
    from generator.matrix.rules import load_checked

    fmt = _format(args)
    date = _date(args)
    matrix, _ = load_checked(args.matrix)
    res = resolve(
        matrix,
        args.k8s or matrix.default,
        runtime=args.runtime,
        build=args.build,
        yocto=args.yocto,
        go=args.go,
        date=date,
    )
    fresh = _freshness(matrix, date)
    stale = [(minor, comp, msg) for minor, comp, msg in fresh.warnings if minor in (None, res.row.minor)]
    if fmt == "json":
        out = res.as_dict()
        out["freshness"] = {
            "checked": fresh.checked.isoformat(),
            "checked_age_days": fresh.age_days,
            "warnings": [{"minor": m, "component": c, "message": msg} for m, c, msg in stale],
        }
        print(json.dumps(out, indent=2))
        return 0
    r = res.row
    print(
        f"Kubernetes {r.kubernetes} ({r.minor}) | runtime {res.runtime} | {res.build} build | "
        f"Yocto {res.series} (Go {res.go}) | date {res.date}"
    )
    print(
        f"lifecycle: released {r.released}, maintenance {r.maintenance}, end of life {r.eol}"
        + ("  ** PAST END OF LIFE at this date (R20) **" if res.past_eol else "")
    )
    width = max(len(c.component) for c in res.choices)
    for c in res.choices:
        rules = ",".join(c.rules) or "pin"
        print(f"  {c.component:<{width}}  {c.version:<14} [{rules}] {c.reason}")
        for f in c.fetch:
            if f["kind"] == "binary":
                print(f"  {'':<{width}}    {f['url']}  sha256={f['sha256'] or 'UNCONFIRMED'}")
            elif f["kind"] == "source":
                print(f"  {'':<{width}}    {f['repo']} {f['tag']} commit={f['commit'] or 'UNCONFIRMED'}")
            elif f["kind"] == "image" and res.build == "binary" and c.component != "control-plane":
                print(f"  {'':<{width}}    image {f['image']}")
    layers = ", ".join(f"{k}={v}" for k, v in res.layers.items())
    print(f"  layers: {layers}")
    print(f"  {fresh.summary()}")
    if res.findings or stale:
        print(f"warnings ({len(res.findings) + len(stale)}):")
        for f in res.findings:
            print(f"  {f.rule} {f.component}: {f.message}")
        for _, comp, msg in stale:
            print(f"  STALE {comp}: {msg}")
    return 0


# --- show -----------------------------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from generator.matrix.components import COMPONENTS
    from generator.matrix.rules import load_checked

    date = _date(args)
    matrix, _ = load_checked(args.matrix)
    table = Table(
        title=f"rcar-k8s matrix ({matrix.path.name}; Yocto {matrix.yocto['series']}, "
        f"Go {matrix.yocto['go']}, kernel {matrix.yocto['kernel']['version']})"
    )
    table.add_column("component", style="bold")
    for r in matrix.rows:
        mark = " (default)" if r.minor == matrix.default else ""
        table.add_column(f"{r.minor}{mark}", style="red" if date > r.eol else None)
    for label, get in (("released", lambda r: str(r.released)), ("end of life", lambda r: str(r.eol))):
        table.add_row(label, *(get(r) for r in matrix.rows))
    names = list(COMPONENTS) + sorted({c for r in matrix.rows for c in r.components} - set(COMPONENTS))
    for name in names:
        cells = []
        for r in matrix.rows:
            comp = r.components.get(name)
            if not comp:
                cells.append("-")
                continue
            extra = " (unconfirmed)" if _has_null_hash(comp) else ""
            cells.append(f"{comp['version']}{extra}")
        table.add_row(name, *cells)
    Console(width=max(100, 24 * (len(matrix.rows) + 1))).print(table)
    return 0


def _has_null_hash(comp: dict[str, Any]) -> bool:
    return any(a.get("sha256") is None for a in (comp.get("artifacts") or {}).values())


# --- rules ----------------------------------------------------------------------------------------


def run_rules(args: argparse.Namespace) -> int:
    from generator.matrix.rules import RULES

    fmt = _format(args, ("text", "json", "markdown"))
    if fmt == "json":
        print(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "title": r.title,
                        "severity": r.severity,
                        "text": r.text,
                        "source": r.source,
                        "runtimes": list(r.runtimes),
                    }
                    for r in RULES
                ],
                indent=2,
            )
        )
    elif fmt == "markdown":
        print("| id | rule | severity | checks | source |")
        print("|---|---|---|---|---|")
        for r in RULES:
            print(f"| {r.id} | {r.title} | {r.severity} | {r.text} | {r.source} |")
    else:
        for r in RULES:
            print(f"{r.id:<4} {r.severity:<8} {r.title}: {r.text}\n              source: {r.source}")
    return 0
