"""R12: the host the kubelet needs (cgroup v2: kernel and systemd)."""

from __future__ import annotations

from collections.abc import Iterator

from generator.matrix import facts
from generator.matrix import versions as V
from generator.matrix.rules.base import ERROR, Context, Hit, Rule


def _r12(ctx: Context) -> Iterator[Hit]:
    need = facts.CGROUP_V2.data
    if V.lt(ctx.minor, need["from_k8s"]):
        return
    kernel = str(ctx.yocto["kernel"]["version"])
    if V.lt(kernel, need["kernel"]):
        yield Hit(
            "kernel",
            f"Kubernetes {ctx.minor} refuses cgroup v1 (failCgroupV1) and cgroup v2 needs kernel >= "
            f"{need['kernel']}; the image has {kernel}",
        )
    systemd = ctx.yocto.get("systemd")
    if not systemd:
        yield Hit(
            "systemd",
            f"Kubernetes {ctx.minor} needs cgroup v2, which needs the systemd init manager; "
            "the matrix names no systemd",
        )
    elif V.lt(systemd, need["systemd"]):
        yield Hit("systemd", f"systemd {systemd} is older than {need['systemd']}, recommended for cgroup v2")


RULES: tuple[Rule, ...] = (
    Rule(
        "R12",
        "cgroup v2 host",
        "Kubernetes >= 1.35 needs cgroup v2: kernel >= 5.8 and systemd as init",
        facts.CGROUP_V2.source,
        ERROR,
        _r12,
    ),
)
