"""Fragment rendering, the nftables refusal, and the layer's kernel wiring (bbappends + include)."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import kconfig_tree
import pytest

from generator.errors import UserError
from generator.kernel import fragments
from generator.kernel.requirements import FRAGMENT_FILES, LAST_FRAGMENT, OPTIONS, PROFILES, SOURCES
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
        assert opt.profile in PROFILES and opt.value in ("y", "n", "yn")
        assert opt.breaks == "" or opt.required, opt  # only a required option breaks something
    # The options whose absence breaks a node (issue 21) name the failure check-config prints.
    named = {(o.symbol, o.profile) for o in OPTIONS if o.breaks}
    assert {
        ("CFS_BANDWIDTH", "base"),
        ("IPV6", "base"),
        ("NF_CT_NETLINK", "iptables"),
        ("NF_CT_NETLINK", "nftables"),
        ("NETFILTER_XT_MATCH_RECENT", "iptables"),
        ("NETFILTER_XT_MATCH_IPVS", "docker"),
    } <= named


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
    assert yocto == set(FRAGMENT_FILES.values()) | {LAST_FRAGMENT}
    assert "CONFIG_NFT_COUNTER=y" in (RENESAS / "linux-renesas/kube-proxy-iptables.cfg").read_text()
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
    for cni, mode, cri in itertools.product(fragments.CNIS, fragments.KUBE_PROXY_MODES, fragments.CRIS):
        d = _Vars(RCAR_K8S_CNI=cni, RCAR_K8S_KUBE_PROXY_MODE=mode, RCAR_K8S_CRI=cri)
        assert select(d) == fragments.profiles_for(cni, mode, cri), (cni, mode, cri)
    unset_cri = _Vars(RCAR_K8S_CNI="flannel", RCAR_K8S_KUBE_PROXY_MODE="iptables")
    assert select(unset_cri) == fragments.profiles_for("flannel", "iptables")  # containerd


def test_docker_runtime_gets_the_docker_fragment_with_the_ipvs_match():
    """moby@00148c88 contrib/check-config.sh and runc@v1.4.3 script/check-config.sh list
    NETFILTER_XT_MATCH_IPVS as generally necessary; RCAR_K8S_CRI = docker selects cri-docker.cfg."""
    assert "docker" in fragments.profiles_for("none", "none", "docker")
    assert "iptables" in fragments.profiles_for("none", "none", "docker")  # dockerd writes iptables rules
    assert "docker" not in fragments.profiles_for("flannel", "iptables")
    for kernel in ("5.10.218", "6.6"):
        text = fragments.render("docker", kernel)
        assert "CONFIG_NETFILTER_XT_MATCH_IPVS=y" in text and "CONFIG_IP_VS=y" in text
    for path in (RENESAS / "linux-renesas/cri-docker.cfg", YOCTO / "linux-yocto/cri-docker.cfg"):
        assert "CONFIG_NETFILTER_XT_MATCH_IPVS=y" in path.read_text()
    with pytest.raises(UserError, match="unknown container runtime 'podman'"):
        fragments.profiles_for("flannel", "iptables", "podman")


RUNC_MIRROR = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror")) / "opencontainers+runc/repo"


def _git_show(repo: Path, rev: str, path: str) -> str:
    import subprocess

    if not repo.is_dir():
        pytest.skip(
            f"skipped: no runc mirror at {repo} (prepare with: "
            f"git clone --mirror https://github.com/opencontainers/runc {repo})"
        )
    return subprocess.run(
        ["git", "--git-dir", str(repo), "show", f"{rev}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def test_runc_check_config_lists_the_docker_profile_flags():
    """The docker profile's required flags are in runc's own 'Generally Necessary' list (the version
    the matrix pins for containerd 2.3)."""
    script = _git_show(RUNC_MIRROR, "v1.4.3", "script/check-config.sh")
    necessary = script.split("Generally Necessary", 1)[1].split("Optional Features", 1)[0]
    flags = set(re.findall(r"[A-Z][A-Z0-9_]+", necessary.replace("{ADDRTYPE,COMMENT,CONNTRACK,IPVS}", "")))
    flags |= {f"NETFILTER_XT_MATCH_{m}" for m in ("ADDRTYPE", "COMMENT", "CONNTRACK", "IPVS")}
    assert "NETFILTER_XT_MATCH_IPVS" in flags
    docker = {o.symbol for o in OPTIONS if o.profile == "docker" and o.required}
    assert {"NETFILTER_XT_MATCH_IPVS", "NETFILTER_XT_MATCH_ADDRTYPE", "NETFILTER_XT_MATCH_CONNTRACK"} <= (
        docker
    )
    assert docker - flags <= {"IP_VS", "NETFILTER_XT_MARK", "IP_NF_RAW"}  # Kconfig prerequisite; moby-only


def test_cfs_bandwidth_reason_matches_runc_and_the_kernel(tree61):
    """runc writes cpu.max and returns the error; the kernel has cpu.max only with CFS_BANDWIDTH."""
    cpu_go = _git_show(RUNC_MIRROR, "v1.4.3", "vendor/github.com/opencontainers/cgroups/fs2/cpu.go")
    assert re.search(r'WriteFile\(dirPath, "cpu\.max", str\); err != nil \{\s*return err', cpu_go)
    file_go = _git_show(RUNC_MIRROR, "v1.4.3", "vendor/github.com/opencontainers/cgroups/file.go")
    assert "OpenFile(dir, file, unix.O_WRONLY)" in file_go  # no O_CREAT: a missing file is ENOENT
    assert '&os.PathError{Op: "openat2", Path: path, Err: err}' in file_go  # the message check-config quotes
    v2_go = _git_show(RUNC_MIRROR, "v1.4.3", "vendor/github.com/opencontainers/cgroups/systemd/v2.go")
    assert "return m.fsMgr.Set(r)" in v2_go  # the systemd driver writes the files too
    src, _ = tree61
    core = kconfig_tree.source_file(src, "kernel/sched/core.c")
    block = core.split('#ifdef CONFIG_CFS_BANDWIDTH\n\t{\n\t\t.name = "max",', 1)
    assert len(block) == 2, "cpu.max is no longer behind CONFIG_CFS_BANDWIDTH in kernel/sched/core.c"
    opt = next(o for o in OPTIONS if o.symbol == "CFS_BANDWIDTH")
    assert opt.required and "CPU limits fail to start" in opt.breaks


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
