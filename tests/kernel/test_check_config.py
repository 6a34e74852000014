"""`rcar-k8s check-config` on real configs: Debian's arm64 kernels (6.1 and 5.10), the
defconfig+fragments result written by kconfiglib, and hand-broken copies."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import kconfig_tree
import pytest
from conftest import debian_config

from generator.kernel import fragments
from generator.kernel.check import check_config_text
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def node_config(tree61, tmp_path_factory) -> Path:
    """arm64 defconfig + the fragments of a flannel/iptables node, written by kconfiglib (Linux 6.1)."""
    src, kconf = tree61
    profiles = fragments.profiles_for("flannel", "iptables")
    kconfig_tree.apply(
        kconf, src / "arch/arm64/configs/defconfig", [fragments.render(p, "6.1") for p in profiles]
    )
    out = tmp_path_factory.mktemp("node") / ".config"
    kconf.write_config(str(out), header="#\n# Linux/arm64 6.1.0 Kernel Configuration\n#\n")
    return out


def test_node_config_passes_with_every_option_built_in(node_config):
    res = run_cli("check-config", str(node_config), "--profile", "flannel")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "result: OK" in res.stdout
    report = check_config_text(node_config.read_text(), ["base", "ikconfig", "iptables", "flannel"])
    assert report.kernel == "6.1.0" and report.arch == "arm64"
    assert report.result("CGROUP_BPF").status == "builtin"
    assert report.result("BRIDGE_NETFILTER", "flannel").status == "builtin"
    assert report.result("RT_GROUP_SCHED").status == "off"
    assert report.result("NFT_COUNTER").status == "n/a"  # built into nf_tables from 5.17
    assert "5.17" in report.result("NFT_COUNTER").note


@pytest.mark.parametrize("symbol", ["CGROUP_BPF", "BRIDGE_NETFILTER", "OVERLAY_FS"])
def test_removed_required_option_is_reported_with_its_reason(node_config, tmp_path, symbol):
    broken = tmp_path / "broken.config"
    text = node_config.read_text()
    assert f"CONFIG_{symbol}=y" in text
    broken.write_text(text.replace(f"CONFIG_{symbol}=y", f"# CONFIG_{symbol} is not set"))
    res = run_cli("check-config", str(broken), "--profile", "flannel")
    assert res.returncode == 1, res.stdout
    line = next(ln for ln in res.stdout.splitlines() if f"CONFIG_{symbol}" in ln and "MISS" in ln)
    report = check_config_text(broken.read_text(), ["base", "iptables", "flannel"])
    failed = [r for r in report.failures() if r.symbol == symbol]
    assert failed and failed[0].why in line and "required" in line
    assert "result: FAIL" in res.stdout


def test_option_that_must_be_off_is_wrong_when_on(node_config, tmp_path):
    broken = tmp_path / "rt.config"
    broken.write_text(
        node_config.read_text().replace("# CONFIG_RT_GROUP_SCHED is not set", "CONFIG_RT_GROUP_SCHED=y")
    )
    report = check_config_text(broken.read_text())
    assert report.result("RT_GROUP_SCHED").status == "wrong"
    assert report.ok  # optional: a warning, not a failure
    assert report.result("RT_GROUP_SCHED") in report.warnings()


def test_debian_arm64_6_1_config(tmp_path):
    """Debian's arm64 kernel: everything a node needs, as modules; no /proc/config.gz (IKCONFIG off)."""
    cfg = tmp_path / "config-6.1.0-arm64"
    cfg.write_text(debian_config("6.1"))
    res = run_cli(
        "check-config",
        str(cfg),
        "--profile",
        "flannel,calico,cilium",
        "--profile",
        "ipvs",
        "--format",
        "json",
    )
    data = json.loads(res.stdout)
    assert data["kernel"].startswith("6.1.") and data["arch"] == "arm64"
    by = {(o["symbol"], o["profile"]): o for o in data["options"]}
    assert by[("CGROUP_BPF", "base")]["status"] == "builtin"
    assert by[("BRIDGE_NETFILTER", "iptables")]["status"] == "module"
    assert by[("IKCONFIG", "ikconfig")]["status"] == "missing"
    assert not by[("IKCONFIG", "ikconfig")]["required"]
    failed = [o["symbol"] for o in data["options"] if o["required"] and not o["ok"]]
    assert res.returncode == (1 if failed else 0), failed
    assert failed == []  # a general-purpose distro kernel has them all


def test_debian_arm64_5_10_config_uses_5_10_symbols(tmp_path):
    text = debian_config("5.10")
    report = check_config_text(text, ["base", "iptables", "nftables"])
    assert report.kernel.startswith("5.10.")
    assert report.result("NF_NAT_IPV4").status == "n/a"  # merged into NF_NAT in 5.1: not "missing"
    assert "5.1" in report.result("NF_NAT_IPV4").note
    assert report.result("NFT_COUNTER", "nftables").status in ("builtin", "module")  # separate module on 5.10
    assert "nftables" in report.refused and "5.13" in report.refused["nftables"]
    assert not report.ok
    # Same file through the CLI, gzip-compressed like /proc/config.gz.
    gz = tmp_path / "config.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    res = run_cli("check-config", str(gz), "--profile", "nftables")
    assert res.returncode == 1 and "REFUSED profile nftables" in res.stdout and "5.13" in res.stdout
    res = run_cli("check-config", str(gz))
    assert res.returncode == 0, res.stdout


def test_kernel_version_override_and_headerless_config(tmp_path):
    text = re.sub(r"^# Linux/.*$", "#", debian_config("6.1"), flags=re.M)
    report = check_config_text(text)
    assert report.kernel is None and any("--kernel-version" in n for n in report.notes)
    assert report.result("NFT_COUNTER").status == "missing"  # unknown version: everything expected
    assert check_config_text(text, kernel_version="6.1").result("NFT_COUNTER").status == "n/a"


def _one_line_error(res):
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rcar-k8s: error: "), res.stderr
    return lines[0]


def test_bad_input_is_one_line_exit_2(tmp_path, node_config):
    assert "no such file" in _one_line_error(run_cli("check-config", str(tmp_path / "nope.config")))
    notcfg = tmp_path / "notes.txt"
    notcfg.write_text("hello\nthis is not a kernel config\n")
    assert "not a kernel config" in _one_line_error(run_cli("check-config", str(notcfg)))
    binary = tmp_path / "vmlinux"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(64))
    assert "not a kernel config" in _one_line_error(run_cli("check-config", str(binary)))
    full = gzip.compress(node_config.read_bytes())
    trunc = tmp_path / "config.gz"
    trunc.write_bytes(full[: len(full) // 2])
    assert "broken gzip" in _one_line_error(run_cli("check-config", str(trunc)))
    assert "directory" in _one_line_error(run_cli("check-config", str(tmp_path)))
    assert "exactly one" in _one_line_error(run_cli("check-config"))
    assert "unknown profile" in _one_line_error(
        run_cli("check-config", str(node_config), "--profile", "weave")
    )


def test_running_kernel_reports_or_explains():
    """--running on this host: a report (exit 0/1) when a config exists, else the one-line hint."""
    res = run_cli("check-config", "--running", "-q")
    if res.returncode == 2:
        assert "CONFIG_IKCONFIG_PROC" in _one_line_error(res)
    else:
        assert res.returncode in (0, 1) and "result:" in res.stdout
