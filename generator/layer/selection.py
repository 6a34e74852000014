"""What the parse-time guard allows per Kubernetes minor, rendered into conf/rcar-k8s/k8s-<minor>.inc.

The guard (classes/rcar_k8s_sanity.bbclass) compares every PREFERRED_VERSION the user left or set for a
component recipe against these version lines. The matrix rules engine (generator.matrix.rules, issue 2)
may publish ``allowed_lines(row) -> {component: [line, ...]}``; until it does, a row allows the release line
(major.minor) of its own pin, so patch updates pass and a line change (containerd 1.7 with 1.36) stops.
"""

from __future__ import annotations

from generator.layer.recipes import COMPONENTS
from generator.matrix.model import Row


def _line(version: str) -> str:
    return ".".join(version.split(".")[:2])


def allowed_lines(row: Row) -> dict[str, list[str]]:
    """recipe name -> allowed release lines (``["2.3"]``) for this row."""
    try:
        from generator.matrix import rules  # type: ignore[attr-defined]

        extra = rules.allowed_lines(row)
    except (ImportError, AttributeError):
        extra = {}
    out = {}
    for pn, c in sorted(COMPONENTS.items()):
        lines = {_line(row.version(c.matrix))}
        lines.update(str(x) for x in extra.get(c.matrix, []))
        out[pn] = sorted(lines)
    return out
