"""standin_disk.initrd_for with the real cpio and gzip, on an initramfs packed the way
scripts/build-standin.sh packs it (``find . | cpio -o -H newc --quiet | gzip -1``), no QEMU.

The appended archive must replace /init when unpacked in order (what the kernel does with concatenated
archives, Documentation/driver-api/early-userspace/buffer-format.rst); a missing cpio or a damaged
initramfs is one line naming the program and the fix (issue 19), not a traceback or a wrong reason.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from generator.errors import UserError
from generator.qemu import standin_disk
from tests.conftest import require_tool

# build-standin.sh's /init, as the heredoc expands it (INITRD_MODS shortened)
INIT = """\
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc; $B mount -t sysfs sys /sys; $B mount -t devtmpfs dev /dev
for m in virtio_blk ext4; do $B insmod /lib/modules/$m.ko || echo "STANDIN-INITRD: insmod $m failed"; done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do $B sleep 0.1; i=$((i+1)); done
$B mount -t ext4 -o rw /dev/vda /newroot || { echo "STANDIN-INITRD: cannot mount /dev/vda"; $B poweroff -f; }
echo "STANDIN-INITRD: switching to systemd"
$B umount /proc /sys; $B umount /dev
exec $B switch_root /newroot /sbin/init
"""


def _standin(tmp_path: Path) -> SimpleNamespace:
    require_tool("cpio")
    tree = tmp_path / "initrd"
    for d in ("bin", "proc", "sys", "dev", "newroot", "lib/modules"):
        (tree / d).mkdir(parents=True)
    (tree / "bin/busybox").write_bytes(b"\x7fELF busybox stand-in")
    (tree / "lib/modules/virtio_blk.ko").write_bytes(b"\x7fELF module")
    (tree / "init").write_text(INIT)
    (tree / "init").chmod(0o755)
    st = tmp_path / "standin"
    st.mkdir()
    packed = subprocess.run(
        "find . | cpio -o -H newc --quiet | gzip -1", shell=True, cwd=tree, capture_output=True, check=True
    ).stdout
    (st / "initrd.gz").write_bytes(packed)
    return SimpleNamespace(dir=st)


def test_appended_init_replaces_the_first_when_unpacked_in_order(tmp_path: Path) -> None:
    st = _standin(tmp_path)
    out = standin_disk.initrd_for(st, "/dev/vda2", tmp_path / "initrd-p2.gz")
    # gzip members one after another, cpio archives one after another: unpack all, later files win
    raw = gzip.decompress(out.read_bytes())
    root = tmp_path / "unpacked"
    root.mkdir()
    res = subprocess.run(["cpio", "-idu", "--quiet"], input=raw, cwd=root, capture_output=True)
    assert res.returncode == 0, res.stderr
    # GNU cpio stops at the first TRAILER!!!: read the second archive on its own, as the kernel does
    first = gzip.decompress((st.dir / "initrd.gz").read_bytes())
    second = raw[len(first) :]
    listed = subprocess.run(["cpio", "-it", "--quiet"], input=second, capture_output=True, check=True)
    assert listed.stdout.decode().split() == ["init"]
    subprocess.run(["cpio", "-idu", "--quiet"], input=second, cwd=root, check=True, capture_output=True)
    init = (root / "init").read_text()
    assert init == INIT.replace("/dev/vda", "/dev/vda2") and (root / "init").stat().st_mode & 0o111
    assert (root / "bin/busybox").read_bytes() == b"\x7fELF busybox stand-in"


def test_missing_cpio_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = _standin(tmp_path)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(UserError) as exc:
        standin_disk.initrd_for(st, "/dev/vda2", tmp_path / "out.gz")
    assert str(exc.value).startswith(
        "`cpio` not found: the stand-in's initramfs needs GNU cpio (apt install cpio"
    )
    assert not (tmp_path / "out.gz").exists()


def test_damaged_initrd_says_cpios_reason(tmp_path: Path) -> None:
    st = _standin(tmp_path)
    (st.dir / "initrd.gz").write_bytes(gzip.compress(b"not a cpio archive\n"))
    with pytest.raises(UserError) as exc:
        standin_disk.initrd_for(st, "/dev/vda2", tmp_path / "out.gz")
    msg = str(exc.value)
    # cpio's own words, not "has no /init" (the old code ignored cpio's exit status)
    assert msg.startswith(f"reading /init out of {st.dir}/initrd.gz failed (cpio: ") and "\n" not in msg
    assert "rebuild the stand-in" in msg
    (st.dir / "initrd.gz").write_bytes(b"plain bytes, not gzip")
    with pytest.raises(UserError, match=r"not a readable gzip initramfs .*rebuild the stand-in"):
        standin_disk.initrd_for(st, "/dev/vda2", tmp_path / "out.gz")


def test_failing_cpio_output_step_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cpio reads fine but cannot write (here a cpio that fails on -o, like a full /tmp): one line."""
    st = _standin(tmp_path)
    real = shutil.which("cpio")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "cpio").write_text(
        f'#!/bin/sh\ncase "$1" in -o) echo "cpio: write error: No space left on device" >&2; exit 2;; esac\n'
        f'exec {real} "$@"\n'
    )
    (bindir / "cpio").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    with pytest.raises(UserError) as exc:
        standin_disk.initrd_for(st, "/dev/vda2", tmp_path / "out.gz")
    assert str(exc.value) == (
        "packing the stand-in's /init failed (cpio: write error: No space left on device): "
        + standin_disk.CPIO_FIX
    )
