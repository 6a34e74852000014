"""Real boots of the Debian arm64 stand-in under qemu-system-aarch64 (TCG here): the harness passes an
image carrying the layer's node files, and the named check fails when one piece is broken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from generator.matrix.model import load_matrix
from generator.qemu import standin
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
BOOT_TIMEOUT = "420"
CLI_TIMEOUT = 900


def qemu_test(tmp_path: Path, name: str, *args: str) -> tuple[int, dict, str]:
    out = tmp_path / f"{name}.json"
    r = run_cli(
        "qemu-test",
        *args,
        "--timeout",
        BOOT_TIMEOUT,
        "--json",
        str(out),
        "--console-log",
        str(tmp_path / f"{name}.console.log"),
        timeout=CLI_TIMEOUT,
    )
    assert out.is_file(), r.stderr[-2000:] + r.stdout[-2000:]
    return r.returncode, json.loads(out.read_text()), r.stdout


def by_name(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


def test_layer_files_make_the_standin_ready_and_plain_is_not(built: standin.Standin, tmp_path: Path) -> None:
    rc_plain, plain, _ = qemu_test(tmp_path, "plain", "--standin-plain")
    # Debian's runtime here; the pinned runtime test builds boot in test_runtime_boot.py
    rc, ours, text = qemu_test(tmp_path, "layer", "--standin", "--standin-runtime", "off")
    print(text)
    # the plain Debian image is not a Kubernetes node: the same checks fail on it
    p = by_name(plain)
    assert rc_plain == 1 and plain["result"] == "failed"
    for name in ("module:br_netfilter", "sysctl:net.ipv4.ip_forward", "hostname_unique", "kubelet_enabled"):
        assert p[name]["status"] == "failed", p[name]
    # with the layer's files it is
    c = by_name(ours)
    assert rc == 0 and ours["result"] == "passed", text
    for name in (
        "containerd_active",
        "cri_plugin",
        "node_files_installed",
        "kubelet_enabled",
        "module:overlay",
        "module:br_netfilter",
        "sysctl:net.bridge.bridge-nf-call-iptables",
        "sysctl:net.ipv4.ip_forward",
        "swap_off",
        "hostname_unique",
        "time_sync_unit",
        "kernel_config",
        "boot_settled",
    ):
        assert c[name]["status"] == "passed", c[name]
    # what the stand-in cannot show is skipped with the reason, never passed
    for name in (
        "cri_answers",
        "kubelet_waiting_for_config",
        "kubeadm_version",
        "kubelet_version",
        "kubeadm_preflight",
    ):
        assert c[name]["status"] == "skipped" and "not in this image" in c[name]["summary"], c[name]
    assert c["hostname_unique"]["summary"].startswith("hostname 'rcar-k8s-")
    assert ours["clean_poweroff"] and ours["qemu_exit_code"] == 0
    for key in ("kernel_banner", "init", "systemd", "login_prompt", "shell", "containerd_active", "settled"):
        assert key in ours["milestones_s"], ours["milestones_s"]
    assert 0 < ours["boot_to_ready_s"] < float(BOOT_TIMEOUT)
    ratio = ours["boot_to_ready_s"] / plain["boot_to_ready_s"]
    print(
        f"boot to ready (containerd active): layer {ours['boot_to_ready_s']} s, "
        f"plain {plain['boot_to_ready_s']} s,"
        f" ratio {ratio:.2f}"
    )


def test_missing_modules_load_file_fails_the_module_check(built: standin.Standin, tmp_path: Path) -> None:
    rc, rep, text = qemu_test(
        tmp_path,
        "nomod",
        "--standin",
        "--standin-runtime",
        "off",
        "--role",
        "control-plane",
        "--standin-drop",
        "/etc/modules-load.d/k8s.conf",
    )
    c = by_name(rep)
    assert rc == 1 and rep["result"] == "failed", text
    assert c["module:br_netfilter"]["status"] == "failed"
    assert c["sysctl:net.bridge.bridge-nf-call-iptables"]["status"] == "failed"
    assert c["containerd_active"]["status"] == "passed"  # only what we broke fails
    # control-plane role: the etcd-tmpfs recipe's own units mounted the tmpfs and ran the restore
    assert c["etcd_tmpfs"]["status"] == "passed", c["etcd_tmpfs"]
    assert c["etcd_restore_ran"]["status"] == "passed", c["etcd_restore_ran"]


def test_disabled_containerd_fails_via_a_yocto_style_deploy_dir(
    built: standin.Standin, tmp_path: Path
) -> None:
    """The --deploy-dir path (qemuboot.conf as poky writes it) with a real boot; containerd masked."""
    row = load_matrix().default_row
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    ov = standin.overlay_for(row, "worker", built.info)
    standin.prepare(built, ov, deploy / "core-image-minimal-qemuarm64.rootfs.ext4")
    kernel = "Image--6.1-standin-qemuarm64.bin"
    shutil.copy(built.dir / "vmlinuz", deploy / kernel)
    conf = (Path(__file__).parent / "fixtures/core-image-minimal-qemuarm64.qemuboot.conf").read_text()
    conf = conf.replace("Image--6.6.23+git0+1234567890-r0-qemuarm64-20261125101010.bin", kernel)
    conf = conf.replace(
        "qb_kernel_cmdline_append =  swiotlb=0",
        "qb_kernel_cmdline_append =  swiotlb=0 nokaslr kpti=0 mitigations=off",
    )
    (deploy / "core-image-minimal-qemuarm64.qemuboot.conf").write_text(conf)
    rc, rep, text = qemu_test(
        tmp_path,
        "noctd",
        "--deploy-dir",
        str(deploy),
        "--initrd",
        str(built.dir / "initrd.gz"),
        "--append",
        "systemd.mask=containerd.service",
        # the stand-in's ext4 has no sshd and no config partition; its root has an empty password
        "--login",
        "console",
    )
    c = by_name(rep)
    assert rc == 1 and rep["result"] == "failed", text
    assert c["containerd_active"]["status"] == "failed"
    assert "inactive" in c["containerd_active"]["summary"]
    assert c["module:br_netfilter"]["status"] == "passed"
    assert "deploy dir" in rep["image"]


def test_timeout_reports_where_it_got_stuck(built: standin.Standin, tmp_path: Path) -> None:
    out = tmp_path / "timeout.json"
    r = run_cli("qemu-test", "--standin-plain", "--timeout", "6", "--json", str(out), timeout=CLI_TIMEOUT)
    rep = json.loads(out.read_text())
    assert r.returncode == 1 and rep["result"] == "timeout", r.stdout
    assert rep["stuck_at"] in ("init", "systemd", "login_prompt") and "login prompt" in rep["error"]
    assert 0 < len(rep["console_tail"]) <= 50 and "stuck at milestone" in r.stdout
    assert not rep["clean_poweroff"]
