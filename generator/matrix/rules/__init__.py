"""The compatibility rules R1-R21 as data, and ``check_matrix`` which applies them.

One module per concern: ``skew`` (R1-R5), ``runtime`` (R6-R11, R13, R19, containerd_config),
``kernel`` (R12), ``yocto`` (R14-R16), ``images`` (R17-R18), ``lifecycle`` (R20), ``cni`` (R21);
``base`` holds the shared types, ``table`` the ordered RULES, ``check`` applies them.

Each ``Rule`` has an id, a one-line text, its upstream source, the severity of a violation and a
pure ``check(ctx)`` over one row (``Context``: the row, the Yocto series and its Go, build mode,
runtime and the date the image is planned for). A check yields ``Hit``s; a hit may lower the
severity to ``warning`` where upstream itself is provisional (e.g. containerd has not listed the
newest Kubernetes minor yet). The numbers follow versions.md "Constraints a resolver must encode".

Public API (used by the resolver, the layer templates and the update command):

  check_matrix(matrix_or_data, *, date=None, build="binary", yocto=None, go=None) -> list[Finding]
  containerd_config(row) -> dict   # config version, SystemdCgroup table, sandbox image key path
  RULES, RULES_BY_ID, UNCONFIRMED
"""

from __future__ import annotations

from generator.matrix.rules.base import (
    BUILDS,
    ERROR,
    RUNTIMES,
    UNCONFIRMED,
    WARNING,
    Context,
    Finding,
    Hit,
    Rule,
)
from generator.matrix.rules.check import (
    check_matrix,
    evaluate,
    load_checked,
    row_runtimes,
    unconfirmed,
    yocto_go,
)
from generator.matrix.rules.lifecycle import runc_support
from generator.matrix.rules.runtime import CTD, containerd_config
from generator.matrix.rules.skew import SKEW, kube_versions
from generator.matrix.rules.table import RULES, RULES_BY_ID
from generator.matrix.rules.yocto import built_components

__all__ = [
    "BUILDS",
    "CTD",
    "ERROR",
    "RULES",
    "RULES_BY_ID",
    "RUNTIMES",
    "SKEW",
    "UNCONFIRMED",
    "WARNING",
    "Context",
    "Finding",
    "Hit",
    "Rule",
    "built_components",
    "check_matrix",
    "containerd_config",
    "evaluate",
    "kube_versions",
    "load_checked",
    "row_runtimes",
    "runc_support",
    "unconfirmed",
    "yocto_go",
]
