"""The kernel build fails on OUR dropped options only, never on the BSP's own defconfig mismatches.

poky scarthgap meta/classes-recipe/kernel-yocto.bbclass do_kernel_configcheck: with
KCONF_AUDIT_LEVEL >= 1 every `symbol_why.py --mismatches` line is a warning, and
`if warnings_detected and kmeta_audit_werror: bb.fatal(...)` - so KMETA_AUDIT_WERROR at level 2
makes any mismatch in linux-renesas' defconfig fatal. do_rcar_k8s_kconfig_check is our gate.
"""

from __future__ import annotations

import re

from .conftest import LAYER

CLASS = LAYER / "classes/rcar_k8s_kernel.bbclass"
APPENDS = {
    "linux-renesas": LAYER / "dynamic-layers/rcar-gen3/recipes-kernel/linux/linux-renesas_%.bbappend",
    "linux-yocto": LAYER / "recipes-kernel/linux/linux-yocto_%.bbappend",
}


class D:
    """The two getVar calls the class's inline python makes."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def getVar(self, name: str) -> str | None:  # noqa: N802 - BitBake's API
        return self.values.get(name)


def _werror(append_default: str, user: str | None) -> str:
    text = CLASS.read_text()
    expr = re.search(r'^KMETA_AUDIT_WERROR = "\$\{@(.*)\}"$', text, re.M).group(1)
    assert re.search(r'^RCAR_K8S_KCONF_WERROR \?\?= "\$\{RCAR_K8S_KCONF_WERROR_DEFAULT\}"$', text, re.M)
    werror = append_default if user is None else user
    return eval(expr, {}, {"d": D({"RCAR_K8S_KCONF_WERROR": werror})})  # noqa: S307 - our own class


def _default(kernel: str) -> str:
    m = re.search(r'^RCAR_K8S_KCONF_WERROR_DEFAULT:rcar-k8s = "([^"]*)"$', APPENDS[kernel].read_text(), re.M)
    assert m, kernel
    return m.group(1)


def test_poky_audit_is_not_fatal_by_default_on_either_kernel():
    for kernel in APPENDS:
        assert _werror(_default(kernel), None) == "", kernel


def test_opting_in_still_works():
    assert _werror(_default("linux-renesas"), "1") == "1"


def test_our_gate_stays_fatal_and_runs_before_compile():
    text = CLASS.read_text()
    assert "addtask rcar_k8s_kconfig_check after do_configure before do_compile" in text
    body = text.split("python do_rcar_k8s_kconfig_check() {", 1)[1]
    assert "bb.fatal(" in body.split("\n}", 1)[0]
