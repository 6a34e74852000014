"""Render host checks as the pass/fail list users see (doctor and build print the same thing)."""

from __future__ import annotations

from generator.host.checks import Check

MARK = {"pass": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip"}


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"[{MARK[c.status]}] {c.name:<{width}}  {c.detail}")
        if c.fix and c.status in ("fail", "warn"):
            lines.append(f"       {'':<{width}}  fix: {c.fix}")
    failed = [c.name for c in checks if c.failed]
    if failed:
        lines.append(f"doctor: {len(failed)} required check(s) failed: {', '.join(failed)}")
    else:
        lines.append("doctor: host is ready to build")
    return "\n".join(lines)
