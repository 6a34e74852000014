"""Fragment rendering, the nftables refusal, and the layer's kernel wiring (bbappends + include)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import kconfig_tree
import pytest

from generator.errors import UserError
from generator.kernel import fragments
from generator.kernel.requirements import FRAGMENT_FILES, OPTIONS, PROFILES, SOURCES
from generator.matrix.model import load_matrix

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "meta-rcar-k8s"
INC = LAYER / "classes/rcar_k8s_kernel.bbclass"
RENESAS = LAYER / "dynamic-layers/rcar-gen3/recipes-kernel/linux"
YOCTO = LAYER / "recipes-kernel/linux"


def test_every_option_names_a_known_source_and_a_reason():
    for opt in OPTIONS:
        assert opt.why, opt
        assert all(s in SOURCES for s in opt.source.split(",")), opt
        assert opt.profile in PROFILES and opt.value in ("y", "n")


def test_nftables_refused_for_the_matrix_kernel_with_the_reason():
    kernel = load_matrix().yocto["kernel"]["version"]
    with pytest.raises(UserError, match=r"5\.13.*supported\.go"):
        fragments.render("nftables", kernel)
    with pytest.raises(UserError, match=r"kube-proxy mode nftables refused for kernel 5\.10"):
        fragments.check_kube_proxy_mode("nftables", kernel)
    fragments.check_kube_proxy_mode("iptables", kernel)
    assert "CONFIG_NFT_NUMGEN=y" in fragments.render("nftables", "5.13")


def test_layer_ships_the_fragments_for_each_kernel():
    m = load_matrix()
    renesas = {p.name for p in (RENESAS / "linux-renesas").glob("*.cfg")}
    yocto = {p.name for p in (YOCTO / "linux-yocto").glob("*.cfg")}
    assert renesas == set(FRAGMENT_FILES.values()) - {"kube-proxy-nftables.cfg"}
    assert yocto == set(FRAGMENT_FILES.values())
    assert "CONFIG_NFT_COUNTER=y" in (RENESAS / "linux-renesas/kube-proxy-iptables.cfg").read_text()
    assert "RT_GROUP_SCHED" not in (YOCTO / "linux-yocto/k8s-base.cfg").read_text()
    bbappend = (RENESAS / "linux-renesas_%.bbappend").read_text()
    assert 'RCAR_K8S_FRAGMENTS_KERNEL:rcar-k8s = "5.10"' in bbappend and "5.13" in bbappend
    assert m.yocto["kernel"]["recipe"] == "linux-renesas"


def test_layer_conf_gates_the_renesas_bbappend_on_the_rcar_gen3_collection():
    text = (LAYER / "conf/layer.conf").read_text()
    assert "rcar-gen3:${LAYERDIR}/dynamic-layers/rcar-gen3/*/*/*.bbappend" in text


def _inc_functions() -> dict:
    """The plain-Python helpers of the BitBake include, executed as they are written there."""
    text = INC.read_text()
    ns: dict = {}
    for name in ("rcar_k8s_kernel_profiles", "rcar_k8s_kconfig_drops"):
        m = re.search(rf"^def {name}\(.*?(?=^\S)", text, re.S | re.M)
        assert m, name
        exec(compile(m.group(0), str(INC), "exec"), ns)
    return ns


class _Vars:
    """Variables for the include's helpers (they only call getVar)."""

    def __init__(self, **values):
        self.values = values

    def getVar(self, name):  # noqa: N802 - BitBake's datastore API
        return self.values.get(name)


def test_include_selects_the_same_fragments_as_the_generator():
    select = _inc_functions()["rcar_k8s_kernel_profiles"]
    for cni, mode in itertools.product(fragments.CNIS, fragments.KUBE_PROXY_MODES):
        d = _Vars(RCAR_K8S_CNI=cni, RCAR_K8S_KUBE_PROXY_MODE=mode)
        assert select(d) == fragments.profiles_for(cni, mode), (cni, mode)


def test_include_drop_check_on_a_real_config(tree61, tmp_path):
    """The build-time check (do_rcar_k8s_kconfig_check) on kconfiglib's defconfig+fragments result."""
    drops = _inc_functions()["rcar_k8s_kconfig_drops"]
    src, kconf = tree61
    frags = {
        FRAGMENT_FILES[p]: fragments.render(p, "6.1") for p in fragments.profiles_for("calico", "iptables")
    }
    kconfig_tree.apply(kconf, src / "arch/arm64/configs/defconfig", list(frags.values()))
    out = tmp_path / ".config"
    kconf.write_config(str(out))
    text = out.read_text()
    assert drops(frags, text) == ([], [])
    broken = text.replace("CONFIG_IP_SET=y", "# CONFIG_IP_SET is not set").replace(
        "CONFIG_VXLAN=y", "CONFIG_VXLAN=m"
    )
    dropped, downgraded = drops(frags, broken)
    assert "CONFIG_IP_SET: cni-calico.cfg requests y, final .config has n" in dropped
    assert "CONFIG_VXLAN: cni-calico.cfg requests y, final .config has m" in downgraded
