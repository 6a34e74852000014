"""Options whose absence breaks a node, checked on real inputs: Debian's arm64 kernel configs loaded
into the real Kconfig trees with kconfiglib, one option turned off the way Kconfig allows, then
`rcar-k8s check-config` must fail and name what the user would see.

Upstream behind each item (ids in generator/kernel/requirements.SOURCES):
* CFS_BANDWIDTH: runc@v1.4.3 fs2/cpu.go writes cpu.max and returns the error (R1);
* NF_CT_NETLINK: kube-proxy >= 1.32 cleans stale UDP conntrack entries over netlink (K1);
* NETFILTER_XT_MATCH_RECENT: sessionAffinity ClientIP rules in kube-proxy's one iptables-restore (K2);
* IPV6=m: net/bridge/Kconfig `depends on IPV6 || IPV6=n` caps BRIDGE/BRIDGE_NETFILTER at m (KB);
* NETFILTER_XT_MATCH_IPVS: moby's and runc's check-config "Generally Necessary" (S2M);
* RT_GROUP_SCHED on linux-yocto: meta-virtualization's cfg/kubernetes.cfg sets it =y after our
  SRC_URI fragments; k8s-last.cfg, the last KERNEL_FEATURES entry, turns it off again.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import kconfig_tree
import pytest
from conftest import debian_config

from generator.kernel import fragments
from generator.kernel.check import DEFAULT_PROFILES, check_config_text
from generator.kernel.requirements import LAST_FRAGMENT, REASSERT_LAST
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]
YOCTO = REPO / "meta-rcar-k8s/recipes-kernel/linux"
CLASS = REPO / "meta-rcar-k8s/classes/rcar_k8s_kernel.bbclass"


def _debian_with(kconf, version: str, tmp_path: Path, changes: dict[str, str]) -> Path:
    """Debian's arm64 config for ``version`` loaded into its own Kconfig tree, ``changes`` applied
    as a fragment (Kconfig resolves the consequences), written back as a real .config."""
    base = tmp_path / "debian.config"
    base.write_text(debian_config(version))
    frag = "".join(
        f"# CONFIG_{s} is not set\n" if v == "n" else f"CONFIG_{s}={v}\n" for s, v in changes.items()
    )
    kconfig_tree.apply(kconf, base, [frag])
    out = tmp_path / f"debian-{version}-{'-'.join(f'{s}={v}' for s, v in changes.items())}.config"
    header = next(ln for ln in debian_config(version).splitlines() if "Kernel Configuration" in ln)
    kconf.write_config(str(out), header=f"#\n{header}\n#\n")
    return out


def _check(path: Path, *profiles: str):
    args = ["check-config", str(path)]
    for p in profiles:
        args += ["--profile", p]
    return run_cli(*args)


@pytest.fixture(params=["6.1", "6.12"])
def debian(request, tmp_path):
    """(Kconfig, version) for Debian's 6.1 (CI) and 6.12 (fetched; closest to linux-yocto 6.6) kernels."""
    _, kconf = request.getfixturevalue("tree61" if request.param == "6.1" else "tree612")
    return kconf, request.param


# symbol, profile that requires it, the failure check-config must name
BREAKS = [
    ("CFS_BANDWIDTH", "base", "containers with CPU limits fail to start"),
    ("NF_CT_NETLINK", "iptables", "UDP Services (cluster DNS) keep sending to deleted pods"),
    # kube-proxy's conntrack cleanup is the same code in nftables mode (K1): a node checked with
    # `--no-iptables --profile nftables` must fail on it too
    ("NF_CT_NETLINK", "nftables", "UDP Services (cluster DNS) keep sending to deleted pods"),
    (
        "NETFILTER_XT_MATCH_RECENT",
        "iptables",
        "sessionAffinity: ClientIP makes kube-proxy's whole iptables-restore",
    ),
]


@pytest.mark.parametrize(("symbol", "profile", "failure"), BREAKS)
def test_missing_option_fails_check_config_naming_the_failure(debian, tmp_path, symbol, profile, failure):
    kconf, version = debian
    cfg = _debian_with(kconf, version, tmp_path, {symbol: "n"})
    assert f"# CONFIG_{symbol} is not set" in cfg.read_text()
    # a profile beyond the defaults is checked as a user of that mode would: without iptables
    extra = [] if profile in DEFAULT_PROFILES else [profile]
    res = run_cli("check-config", str(cfg), *(["--no-iptables", "--profile", profile] if extra else []))
    assert res.returncode == 1, res.stdout
    line = next(ln for ln in res.stdout.splitlines() if f"CONFIG_{symbol}" in ln and "MISS" in ln)
    assert "required" in line and failure in line, line
    assert "what breaks on this kernel:" in res.stdout and failure in res.stdout.split("what breaks")[1]
    profiles = [p for p in DEFAULT_PROFILES if not extra or p != "iptables"] + extra
    report = check_config_text(cfg.read_text(), profiles)
    assert [(r.symbol, r.profile) for r in report.failures()] == [(symbol, profile)]
    assert failure in report.result(symbol, profile).breaks


def test_ipv6_module_caps_bridge_and_fails_check_config(debian, tmp_path):
    """IPV6=m: Kconfig itself drops BRIDGE and BRIDGE_NETFILTER to m (net/bridge/Kconfig)."""
    kconf, version = debian
    assert "IPV6 || IPV6 = n" in kconfig_tree.kconfiglib.expr_str(kconf.syms["BRIDGE"].direct_dep)
    cfg = _debian_with(kconf, version, tmp_path, {"IPV6": "m", "BRIDGE": "y", "BRIDGE_NETFILTER": "y"})
    text = cfg.read_text()
    assert "CONFIG_IPV6=m" in text and "CONFIG_BRIDGE=m" in text and "CONFIG_BRIDGE_NETFILTER=m" in text
    res = _check(cfg, "flannel")
    assert res.returncode == 1, res.stdout
    line = next(ln for ln in res.stdout.splitlines() if "CONFIG_IPV6=m" in ln)
    assert "BAD" in line and "br_netfilter" in line and "never a module" in line, line
    # IPv6 off is allowed (Kconfig then lets BRIDGE be y); only the module is refused
    cfg_off = _debian_with(kconf, version, tmp_path, {"IPV6": "n", "BRIDGE": "y", "BRIDGE_NETFILTER": "y"})
    report = check_config_text(cfg_off.read_text(), ["base", "iptables", "flannel"])
    assert report.result("IPV6").status == "off" and report.ok
    assert report.result("BRIDGE").status == "builtin"


def test_fragments_keep_bridge_built_in_over_an_ipv6_module_base(debian, tmp_path):
    """A BSP defconfig with IPV6=m (the old R-Car one had it): our base fragment's IPV6=y keeps the
    bridge =y; without that line Kconfig would build it as a module."""
    kconf, version = debian
    base = tmp_path / "ipv6m.config"
    base.write_text(debian_config(version).replace("CONFIG_IPV6=y", "CONFIG_IPV6=m"))
    texts = [fragments.render(p, version) for p in fragments.profiles_for("flannel", "iptables")]
    requested = kconfig_tree.apply(kconf, base, texts)
    assert kconfig_tree.dropped(kconf, requested) == {}
    assert kconf.syms["BRIDGE"].str_value == "y" and kconf.syms["BRIDGE_NETFILTER"].str_value == "y"
    without_ipv6 = [t.replace("CONFIG_IPV6=y\n", "") for t in texts]
    requested = kconfig_tree.apply(kconf, base, without_ipv6)
    assert kconfig_tree.dropped(kconf, requested)["BRIDGE"][:2] == ("y", "m")


def test_docker_profile_requires_the_ipvs_match(debian, tmp_path):
    kconf, version = debian
    cfg = _debian_with(kconf, version, tmp_path, {"NETFILTER_XT_MATCH_IPVS": "n"})
    res = _check(cfg, "docker")
    assert res.returncode == 1, res.stdout + res.stderr
    line = next(ln for ln in res.stdout.splitlines() if "CONFIG_NETFILTER_XT_MATCH_IPVS" in ln)
    assert "MISS" in line and "check-config.sh" in line
    assert _check(tmp_path / "debian.config", "docker").returncode == 0


def test_debian_arm64_configs_still_pass_every_profile_they_passed(tmp_path):
    """The real-world input: Debian's arm64 kernels pass every profile (6.1 and 6.12; 5.10 all but
    nftables, which kube-proxy refuses below 5.13)."""
    for version in ("5.10", "6.1", "6.12"):
        try:
            text = debian_config(version)
        except ValueError:
            pytest.fail(f"fixture debian-{version}.*-arm64.config.xz missing: run fixtures/fetch.sh configs")
        profiles = ["base", "ikconfig", "iptables", "ipvs", "flannel", "calico", "cilium", "docker"]
        if version != "5.10":
            profiles.append("nftables")
        report = check_config_text(text, profiles)
        failed = [(r.symbol, r.profile, r.status) for r in report.failures()]
        assert report.ok, (version, failed, report.refused)
        assert report.result("CFS_BANDWIDTH").status == "builtin"
        assert report.result("NF_CT_NETLINK", "iptables").status == "module"


# ---- RT_GROUP_SCHED on linux-yocto ----------------------------------------------------------------
# The lines of yocto-kernel-cache (branch yocto-6.6 @ eb283ea5) cfg/kubernetes.cfg that touch our
# base options, as recorded in /work/shared/reference/kernel.md §6 (the cache itself is not mirrored
# here); meta-virtualization scarthgap linux-yocto_virtualization.inc adds cfg/kubernetes.scc to
# KERNEL_FEATURES when DISTRO_FEATURES has k8s, which rcar-k8s.conf sets.
META_VIRT_KUBERNETES_CFG = """\
CONFIG_BLK_CGROUP=y
CONFIG_BLK_DEV_THROTTLING=y
CONFIG_CGROUP_PERF=y
CONFIG_CGROUP_HUGETLB=y
CONFIG_NET_CLS_CGROUP=y
CONFIG_CFS_BANDWIDTH=y
CONFIG_FAIR_GROUP_SCHED=y
CONFIG_RT_GROUP_SCHED=y
"""


def _yocto_fragments() -> dict[str, str]:
    profiles = fragments.profiles_for("flannel", "iptables")
    avail = dict(item.split(":") for item in fragments.available("6.6").split())
    return {avail[p]: (YOCTO / "linux-yocto" / avail[p]).read_text() for p in profiles}


def test_yocto_base_fragment_and_last_feature_carry_rt_group_sched_off():
    base = (YOCTO / "linux-yocto/k8s-base.cfg").read_text()
    assert "# CONFIG_RT_GROUP_SCHED is not set" in base  # so do_rcar_k8s_kconfig_check asserts it
    last = (YOCTO / "linux-yocto" / LAST_FRAGMENT).read_text()
    assert fragments.parse_fragment(last) == {"RT_GROUP_SCHED": "n"}
    assert set(REASSERT_LAST) == {"RT_GROUP_SCHED"}
    bbappend = (YOCTO / "linux-yocto_%.bbappend").read_text()
    assert f'RCAR_K8S_KERNEL_FEATURES_LAST:rcar-k8s = "{LAST_FRAGMENT}"' in bbappend
    cls = CLASS.read_text()
    assert 'KERNEL_FEATURES:append = " ${RCAR_K8S_KERNEL_FEATURES_LAST}"' in cls
    assert re.search(r"^SRC_URI:append = .*RCAR_K8S_KERNEL_FEATURES_LAST", cls, re.M)
    assert "inherit_defer ${@'rcar_k8s_kernel'" in bbappend  # deferred: its append comes after meta-virt's


@pytest.mark.parametrize("fixture", ["tree612", "tree61"])
def test_kernel_yocto_order_with_meta_virtualization(request, fixture, tmp_path):
    """kernel-yocto's scc order (defconfig, SRC_URI .cfg, KERNEL_FEATURES; the last value wins) in
    kconfiglib: meta-virtualization's kubernetes.cfg turns RT_GROUP_SCHED on after our fragments,
    k8s-last.cfg as the last feature turns it off, and the build check sees the difference."""
    src, kconf = request.getfixturevalue(fixture)
    drops = _inc_drops()
    frags = _yocto_fragments()
    defconfig = src / "arch/arm64/configs/defconfig"
    last = (YOCTO / "linux-yocto" / LAST_FRAGMENT).read_text()

    kconfig_tree.apply(kconf, defconfig, [*frags.values(), META_VIRT_KUBERNETES_CFG])
    assert kconf.syms["RT_GROUP_SCHED"].str_value == "y"
    without = tmp_path / "without.config"
    kconf.write_config(str(without))
    dropped, _ = drops(frags, without.read_text())
    assert dropped == ["CONFIG_RT_GROUP_SCHED: k8s-base.cfg requests n, final .config has y"]

    kconfig_tree.apply(kconf, defconfig, [*frags.values(), META_VIRT_KUBERNETES_CFG, last])
    assert kconf.syms["RT_GROUP_SCHED"].str_value == "n"
    final = tmp_path / "with.config"
    kconf.write_config(str(final))
    assert drops(frags, final.read_text()) == ([], [])


def test_rt_group_sched_effect_in_the_kernel_source(tree61):
    """Why it must be off: with RT_GROUP_SCHED the cpu controller refuses to attach realtime tasks to
    a group without RT runtime, and cgroup v2 has no cpu.rt_runtime_us to give it any."""
    src, _ = tree61
    core = kconfig_tree.source_file(src, "kernel/sched/core.c")
    m = re.search(r"#ifdef CONFIG_RT_GROUP_SCHED\nstatic int cpu_cgroup_can_attach\(.*?\n#endif", core, re.S)
    assert m and "sched_rt_can_attach" in m.group(0) and "-EINVAL" in m.group(0)
    legacy = core.split("static struct cftype cpu_legacy_files[]", 1)[1].split("};", 1)[0]
    unified = core.split("static struct cftype cpu_files[]", 1)[1].split("};", 1)[0]
    assert '"rt_runtime_us"' in legacy and "rt_runtime" not in unified


def test_conntrack_netlink_reason_in_the_kernel_source(tree61):
    """Why kube-proxy's netlink cleanup fails without NF_CT_NETLINK: only that option builds the
    conntrack subsystem of nfnetlink, and nfnetlink answers -EINVAL for a subsystem it lacks."""
    src, _ = tree61
    makefile = kconfig_tree.source_file(src, "net/netfilter/Makefile")
    assert re.search(r"^obj-\$\(CONFIG_NF_CT_NETLINK\)\s*\+=\s*nf_conntrack_netlink\.o", makefile, re.M)
    nfnl = kconfig_tree.source_file(src, "net/netfilter/nfnetlink.c")
    rcv = nfnl.split("static int nfnetlink_rcv_msg(", 1)[1].split("nfnetlink_find_client", 1)[0]
    assert "ss = nfnetlink_get_subsys(type);" in rcv and "return -EINVAL;" in rcv


def _inc_drops():
    text = CLASS.read_text()
    m = re.search(r"^def rcar_k8s_kconfig_drops\(.*?(?=^\S)", text, re.S | re.M)
    ns: dict = {}
    exec(compile(m.group(0), str(CLASS), "exec"), ns)
    return ns["rcar_k8s_kconfig_drops"]


MIRROR_ROOT = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror"))
POKY = MIRROR_ROOT / "yoctoproject+poky/repo"
META_VIRT = MIRROR_ROOT / "lmp-mirrors+meta-virtualization/repo"

# Runs in a subprocess with scarthgap's BitBake library: parses a stub linux-yocto_6.6.bb with the
# real bbappends (meta-virtualization's linux-%.bbappend and ours, in the given order), which
# inherits_defer our real class, and prints the final KERNEL_FEATURES and SRC_URI.
_BITBAKE_PARSE = r"""
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1] + "/bitbake/lib")
import bb, bb.data, bb.parse, bb.siggen
layer, appends, overrides = sys.argv[2], sys.argv[3].split(","), sys.argv[4]
tmp = tempfile.mkdtemp()
os.makedirs(tmp + "/classes")
open(tmp + "/classes/base.bbclass", "w").close()
recipe = tmp + "/linux-yocto_6.6.bb"
with open(recipe, "w") as f:
    f.write('LINUX_VERSION = "6.6.50"\n'
            'SRC_URI = "git://git.yoctoproject.org/linux-yocto.git;name=machine;branch=v6.6/standard/base '
            'git://git.yoctoproject.org/yocto-kernel-cache;type=kmeta;name=meta;branch=yocto-6.6;destsuffix=kernel-meta"\n'
            'KERNEL_FEATURES = "cfg/standard.scc"\n')
d = bb.data.init()
d.setVar("BBPATH", tmp + ":" + layer)
d.setVar("__bbclasstype", "recipe")
d.setVar("DISTROOVERRIDES", overrides)
d.setVar("OVERRIDES", "${DISTROOVERRIDES}")
d.setVar("DISTRO_FEATURES", "systemd usrmerge seccomp virtualization k8s ipv6")
d.setVar("PN", "linux-yocto")
d.setVar("__BBAPPEND", " ".join(appends))
bb.parse.siggen = bb.siggen.init(d)
d = bb.parse.handle(recipe, d, 0)[""]
print(json.dumps({v: d.getVar(v).split() for v in ("KERNEL_FEATURES", "SRC_URI")}))
"""


def _bitbake_parse(tmp_path: Path, order: list[str], overrides: str) -> dict:
    import json
    import subprocess

    for repo in (POKY, META_VIRT):
        if not repo.is_dir():
            pytest.skip(f"skipped: no mirror {repo} (prepare with: git clone --mirror <upstream> {repo})")
    bb_root, mv_root = tmp_path / "poky", tmp_path / "meta-virtualization"
    for repo, path, dest in ((POKY, "bitbake/lib", bb_root), (META_VIRT, "recipes-kernel/linux", mv_root)):
        if not dest.is_dir():
            dest.mkdir()
            archive = subprocess.run(
                ["git", "--git-dir", str(repo), "archive", "scarthgap", path], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    files = {
        "meta-virtualization": str(mv_root / "recipes-kernel/linux/linux-%.bbappend"),
        "ours": str(YOCTO / "linux-yocto_%.bbappend"),
    }
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            _BITBAKE_PARSE,
            str(bb_root),
            str(REPO / "meta-rcar-k8s"),
            ",".join(files[o] for o in order),
            overrides,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("order", [["meta-virtualization", "ours"], ["ours", "meta-virtualization"]])
def test_bitbake_applies_k8s_last_after_meta_virtualization_features(tmp_path, order):
    """Real BitBake (poky scarthgap's lib) on the real bbappends and class: k8s-last.cfg is the last
    KERNEL_FEATURES entry, after meta-virtualization's cfg/kubernetes.scc, whatever the bbappend
    order (the class is inherited deferred), and it is fetched (SRC_URI), so kernel-yocto finds it."""
    got = _bitbake_parse(tmp_path, order, "rcar-k8s")
    features = got["KERNEL_FEATURES"]
    assert features[-1] == LAST_FRAGMENT, features
    assert "../recipe-sysroot-native/kcfg/cfg/kubernetes.scc" in features[:-1]
    assert f"file://{LAST_FRAGMENT}" in got["SRC_URI"] and "file://k8s-base.cfg" in got["SRC_URI"]
    # another distro: the layer changes nothing
    other = _bitbake_parse(tmp_path, order, "poky")
    assert LAST_FRAGMENT not in other["KERNEL_FEATURES"] and f"file://{LAST_FRAGMENT}" not in other["SRC_URI"]
