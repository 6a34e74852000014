"""QEMU command line and image discovery (no boot): runqemu's deploy-dir conventions, KVM/TCG choice."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

import pytest

from generator.errors import UserError
from generator.qemu import machine
from tests.conftest import run_cli

FIXTURES = Path(__file__).parent / "fixtures"
CONF = "core-image-minimal-qemuarm64.qemuboot.conf"
KERNEL = "Image--6.6.23+git0+1234567890-r0-qemuarm64-20261125101010.bin"


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    shutil.copy(FIXTURES / CONF, tmp_path / CONF)
    (tmp_path / KERNEL).write_bytes(b"kernel")
    (tmp_path / "core-image-minimal-qemuarm64.rootfs.ext4").write_bytes(b"rootfs")
    return tmp_path


def test_deploy_dir_follows_runqemu(deploy: Path) -> None:
    spec = machine.from_deploy_dir(deploy)
    assert spec.kernel == deploy / KERNEL
    assert spec.rootfs == deploy / "core-image-minimal-qemuarm64.rootfs.ext4"
    assert spec.mem_mb == machine.MIN_MEM_MB  # qemuarm64's QB_MEM 256 is too small for kubeadm
    assert spec.console == "ttyAMA0"
    assert "swiotlb=0" in spec.append
    assert "snapshot=on" in spec.rootfs_opt  # the user's image is never written
    if shutil.which(machine.QEMU):
        cmd = machine.command(spec)
        joined = " ".join(cmd)
        assert f"file={deploy}/core-image-minimal-qemuarm64.rootfs.ext4" in joined
        assert "virtio-blk-pci,drive=disk0" in joined
        append = cmd[cmd.index("-append") + 1]
        assert append.startswith("root=/dev/vda rw console=ttyAMA0")
        accel = cmd[cmd.index("-accel") + 1]
        assert accel == ("kvm" if machine.kvm_usable() else "tcg")
        if platform.machine() == "x86_64":
            assert accel == "tcg"  # an x86 /dev/kvm cannot run an arm64 guest


def test_deploy_dir_without_rootfs_is_a_user_error(deploy: Path) -> None:
    (deploy / "core-image-minimal-qemuarm64.rootfs.ext4").unlink()
    with pytest.raises(UserError, match="names root file system"):
        machine.from_deploy_dir(deploy)


def test_cli_needs_exactly_one_image(tmp_path: Path) -> None:
    r = run_cli("qemu-test")
    assert r.returncode == 2 and "pick exactly one image" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("qemu-test", "--kernel", str(tmp_path / "Image"))
    assert r.returncode == 2 and "--rootfs" in r.stderr
    r = run_cli("qemu-test", "--deploy-dir", str(tmp_path))
    assert r.returncode == 2 and "no *.qemuboot.conf" in r.stderr
    r = run_cli("qemu-test", "--kernel", str(tmp_path / "Image"), "--rootfs", str(tmp_path / "x.ext4"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = run_cli("qemu-test", "--standin", "--k8s", "1.2")
    assert r.returncode == 2 and "not in the matrix" in r.stderr
