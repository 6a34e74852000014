"""R20: end of support of the Kubernetes minor, the containerd and runc lines and the Yocto series."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from generator.matrix import facts
from generator.matrix import versions as V
from generator.matrix.rules.base import WARNING, Context, Hit, Rule, _containerd


def runc_support(line: str, date: dt.date) -> str | None:
    """None when the runc line is supported at ``date``, else why not."""
    released = sorted((d, ln) for ln, d in facts.RUNC_RELEASED.data.items() if d <= date)
    lines = [ln for _, ln in released]
    if line not in lines:
        return f"runc {line} was not released by {date}"
    window = lines[-facts.RUNC_SUPPORTED_LINES :]
    if line not in window:
        return f"runc {line} is outside runc's support window at {date} ({', '.join(window)})"
    return None


def _r20(ctx: Context) -> Iterator[Hit]:
    row = ctx.row
    if ctx.date > row.eol:
        yield Hit("kubernetes", f"Kubernetes {row.minor} reached end of life on {row.eol} (date {ctx.date})")
    known = facts.K8S_LIFECYCLE.data.get(row.minor)
    if known and known[2] != row.eol:
        yield Hit("kubernetes", f"row eol {row.eol} disagrees with upstream's {known[2]}")
    if ctx.runtime == "containerd":
        ver = str(_containerd(ctx)["version"])
        eol = facts.CONTAINERD_EOL.data.get(V.minor(ver))
        if eol is None:
            yield Hit("containerd", f"containerd {V.minor(ver)}'s end of support is not recorded")
        elif ctx.date > eol:
            yield Hit(
                "containerd",
                f"containerd {V.minor(ver)} reached end of support on {eol} (date {ctx.date}); "
                "move to a supported line",
            )
    why = runc_support(V.minor(ctx.comp("runc")["version"]), ctx.date)
    if why:
        yield Hit("runc", why)
    yocto = facts.YOCTO.data.get(ctx.series)
    if yocto and yocto[2] and ctx.date > yocto[2]:
        yield Hit("yocto", f"Yocto {ctx.series} support ended {yocto[2]} (date {ctx.date})")


RULES: tuple[Rule, ...] = (
    Rule(
        "R20",
        "lifecycle",
        "warn when the Kubernetes minor, the containerd line, the runc line or the Yocto series "
        "is past end of support at the planned date",
        facts.K8S_LIFECYCLE.source + "; " + facts.CONTAINERD_EOL.source + "; " + facts.RUNC_RELEASED.source,
        WARNING,
        _r20,
    ),
)
