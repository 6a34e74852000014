"""Fast checks of the pieces around the consoles: PARTUUIDs vs sfdisk, board revisions, Flash Writer plan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from generator.errors import UserError
from generator.flash import emmc
from generator.flash.partuuid import find_root
from tests.conftest import REPO, require_tool, run_cli


@pytest.mark.parametrize("label", ["dos", "gpt"])
def test_partuuid_matches_sfdisk(tmp_path: Path, label: str):
    """Our PARTUUID reader agrees with util-linux for both table types wic can produce."""
    sfdisk = require_tool("sfdisk")
    img = tmp_path / "disk.img"
    img.write_bytes(b"\0" * (4 << 20))
    subprocess.run([sfdisk, "-q", str(img)], input=f"label: {label}\nstart=2048, type=L\n", text=True,
                   check=True, capture_output=True)

    def ask(*args: str) -> str:
        res = subprocess.run([sfdisk, *args], capture_output=True, text=True, check=True)
        return res.stdout.strip().lower()

    # Linux spells an MBR PARTUUID as <disk id>-<partition number>; GPT has a per-partition GUID.
    if label == "dos":
        want = f"{int(ask('--disk-id', str(img)), 16):08x}-01"
    else:
        want = ask("--part-uuid", str(img), "1")
    root = find_root(img.read_bytes()[: 34 * 512])
    assert (root.number, root.partuuid, root.scheme) == (1, want, "mbr" if label == "dos" else "gpt")


def test_no_partition_table_is_user_error():
    with pytest.raises(UserError, match="no partition table"):
        find_root(b"\0" * 17408)


@pytest.mark.parametrize(("rev", "dtb"), [("h3-es3", "r8a77951-ulcb.dtb"), ("h3-es2", "r8a77951-ulcb.dtb"),
                                          ("h3e-2g", "r8a779m1-ulcb.dtb")])
def test_dtb_per_board_revision(rev: str, dtb: str):
    assert emmc.dtb_for(rev) == dtb


def test_es1_refused_with_reason():
    with pytest.raises(UserError, match="r8a77950-ulcb.dtb"):
        emmc.dtb_for("h3-es1")


@pytest.mark.parametrize(("banner", "rev", "ok"), [
    ("CPU: Renesas Electronics R8A7795 rev 3.0\n", "h3-es3", True),
    ("CPU: Renesas Electronics R8A7795 rev 2.0\n", "h3-es3", True),  # same DTB
    ("CPU: Renesas Electronics R8A779M1 rev 3.0\n", "h3-es3", False),
    ("CPU: Renesas Electronics R8A7795 rev 1.1\n", "h3-es3", False),
    ("", "h3e-2g", True),  # already at the prompt: nothing to compare
    # The board's U-Boot (4d0082a2 cpu_info.c) has no R8A779M1 name: an H3e-2G prints this line too.
    ("CPU: Renesas Electronics R8A7795 rev 3.0\n", "h3e-2g", True),
    ("CPU: Renesas Electronics R8A7795 rev 2.0\n", "h3e-2g", False),
])
def test_banner_contradicting_board_rev(banner: str, rev: str, ok: bool):
    if ok:
        emmc.check_banner(banner, rev)
    else:
        with pytest.raises(UserError, match="--board-rev"):
            emmc.check_banner(banner, rev)


def test_chunk_size_validation():
    assert emmc.parse_size("32M") == 32 << 20
    for bad in ("1000", "0", "12X"):
        with pytest.raises(UserError):
            emmc.parse_size(bad)


def test_capacity_parsing_trusts_only_exact_counts():
    assert emmc.capacity_blocks("Capacity: 16.0 MB = 0.0 GB (32768 x 512)") == 32768
    # `mmc info` rounds (print_size): 29.1 GiB may be less than an image that "fits"; the plan reads
    # the image's last block instead (tests/flash/test_emmc_board_uboot.py proves it on U-Boot).
    assert emmc.capacity_blocks("User Capacity: 29.1 GiB\nBoot Capacity: 4 MiB") is None


def _srec_dir(tmp_path: Path, skip: str = "") -> Path:
    from tests.flash.test_bootloader_flashwriter import SIZES, TABLE, make_srec
    for i, (name, file, _file_4x2g, program, _flash) in enumerate(TABLE):
        if file != skip:
            make_srec(tmp_path / file, program, SIZES[name], i)
    return tmp_path


def test_bootloader_dry_run_lists_every_file_address_and_step(tmp_path: Path):
    res = run_cli("flash", "bootloader", "--files-dir", str(_srec_dir(tmp_path)), "--dry-run")
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line.split()[1:5] for line in res.stdout.splitlines()
            if line and line.split()[0] in {"bootparam", "bl2", "cert_header", "bl31", "tee", "u-boot"}}
    assert rows == {  # anchors.md §5.2; erase ranges as Flash Writer computes them (256 KiB sectors)
        "bootparam": ["bootparam_sa0.srec", "0xe6320000", "0x0", "H'00000000-H'0003FFFF"],
        "bl2": ["bl2-h3ulcb.srec", "0xe6304000", "0x40000", "H'00040000-H'0007FFFF"],
        "cert_header": ["cert_header_sa6.srec", "0xe6320000", "0x180000", "H'00180000-H'001BFFFF"],
        "bl31": ["bl31-h3ulcb.srec", "0x44000000", "0x1c0000", "H'001C0000-H'001FFFFF"],
        "tee": ["tee-h3ulcb.srec", "0x44100000", "0x200000", "H'00200000-H'0023FFFF"],
        "u-boot": ["u-boot-elf-h3ulcb.srec", "0x50000000", "0x640000", "H'00640000-H'0067FFFF"],
    }
    assert res.stdout.count("send xls2") == 6
    assert "send 1C0000" in res.stdout and "send 44000000" in res.stdout


def test_bootloader_real_mode_needs_yes(tmp_path: Path):
    res = run_cli("flash", "bootloader", "--files-dir", str(_srec_dir(tmp_path)), "--serial", "/dev/null")
    assert res.returncode == 2 and "add --yes" in res.stderr


def test_bootloader_checks_all_files_before_touching_serial(tmp_path: Path):
    files = _srec_dir(tmp_path, skip="tee-h3ulcb.srec")
    # The serial port does not exist: the missing-file check must fire first.
    res = run_cli("flash", "bootloader", "--files-dir", str(files), "--serial", str(tmp_path / "ttyNONE"),
                  "--yes")
    assert res.returncode == 2
    assert "missing in" in res.stderr and "tee-h3ulcb.srec" in res.stderr
    (files / "tee-h3ulcb.srec").write_text("this is not an srec\n")
    res = run_cli("flash", "bootloader", "--files-dir", str(files), "--serial", str(tmp_path / "ttyNONE"),
                  "--yes")
    assert "is not an S-record" in res.stderr
    good = (files / "u-boot-elf-h3ulcb.srec").read_text().splitlines()
    good[1] = good[1][:-2] + ("00" if good[1][-2:] != "00" else "01")  # damaged checksum
    (files / "tee-h3ulcb.srec").write_text("\n".join(good) + "\n")
    res = run_cli("flash", "bootloader", "--files-dir", str(files), "--serial", str(tmp_path / "ttyNONE"),
                  "--yes")
    assert "line 2: bad length or checksum" in res.stderr


def test_bootloader_only_subset_and_bad_serial(tmp_path: Path):
    res = run_cli("flash", "bootloader", "--files-dir", str(_srec_dir(tmp_path)), "--only", "u-boot",
                  "--serial", str(tmp_path / "ttyNONE"), "--yes")
    assert res.returncode == 2
    assert res.stderr.startswith("rcar-k8s: error: cannot open serial console")


def test_emmc_dry_run_needs_no_pyserial(tmp_path: Path):
    """--dry-run works on a host without pyserial; the real mode then says how to get it."""
    require_tool("mkfs.ext4")
    from tests.flash import wicimage
    image = wicimage.build(tmp_path / "x.wic", part_mib=2)
    code = ("import sys; sys.modules['serial'] = None; from generator.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    base = [sys.executable, "-c", code, "flash", "emmc", "--image", str(image)]
    dry = subprocess.run([*base, "--dry-run"], capture_output=True, text=True, cwd=REPO)
    assert dry.returncode == 0, dry.stderr
    assert "mmc part" in dry.stdout and "part list" not in dry.stdout
    (tmp_path / "tftp").mkdir()
    real = subprocess.run([*base, "--serial", "/dev/ttyUSB9", "--tftp-dir", str(tmp_path / "tftp")],
                          capture_output=True, text=True, cwd=REPO)
    assert real.returncode == 2 and "pyserial is not installed" in real.stderr


def test_emmc_without_serial_is_one_line(tmp_path: Path):
    require_tool("mkfs.ext4")
    from tests.flash import wicimage
    image = wicimage.build(tmp_path / "x.wic", part_mib=2)
    res = run_cli("flash", "emmc", "--image", str(image))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "--serial and --tftp-dir" in res.stderr
