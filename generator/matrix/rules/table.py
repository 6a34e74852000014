"""The rule table R1-R21, in id order, assembled from the module of each concern."""

from __future__ import annotations

from generator.matrix.rules import cni, images, kernel, lifecycle, runtime, skew, yocto
from generator.matrix.rules.base import Rule

RULES: tuple[Rule, ...] = tuple(
    sorted(
        (
            *skew.RULES,
            *runtime.RULES,
            *kernel.RULES,
            *yocto.RULES,
            *images.RULES,
            *lifecycle.RULES,
            *cni.RULES,
        ),
        key=lambda r: int(r.id.removeprefix("R")),
    )
)
RULES_BY_ID = {r.id: r for r in RULES}
