"""`rcar-k8s flash sd`: real bmaptool on regular files, and every refusal on recorded device descriptions.

Device facts come from fixture lsblk JSON + sysfs trees (tests/flash/fixtures); the write path runs the
real bmaptool. Every failure must be a single `rcar-k8s: error:` line with nothing written.
"""

from __future__ import annotations

import lzma
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool, run_cli
from tests.flash import wicimage

FIX = Path(__file__).parent / "fixtures"


@pytest.fixture
def img(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(raw .wic, .wic.xz, .wic.bmap) built with the real mkfs.ext4, xz and bmaptool create."""
    require_tool("mkfs.ext4")
    bmaptool = require_tool("bmaptool")
    raw = wicimage.build(tmp_path / "core-image.wic", part_mib=3)
    with raw.open("ab") as f:  # a hole at the end so the bmap really maps only part of the image
        f.truncate(raw.stat().st_size + (2 << 20))
    subprocess.run([bmaptool, "create", "-o", str(tmp_path / "core-image.wic.bmap"), str(raw)], check=True)
    xz = tmp_path / "core-image.wic.xz"
    xz.write_bytes(lzma.compress(raw.read_bytes()))
    return raw, xz, tmp_path / "core-image.wic.bmap"


def _one_line_error(res) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    errors = [line for line in res.stderr.splitlines() if line.startswith("rcar-k8s: error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr, res.stderr
    return errors[0]


def _nothing_written(dest_dir: Path, name: str) -> None:
    assert not (dest_dir / name).exists()
    assert not [p for p in dest_dir.iterdir() if p.name.startswith(f".{name}.")], "temp file left behind"


def test_to_file_writes_identical_image_from_xz(img, tmp_path: Path):
    raw, xz, _bmap = img
    out = tmp_path / "out"
    out.mkdir()
    res = run_cli("flash", "sd", "--image", str(xz), "--to-file", str(out / "card.img"))  # bmap found by name
    assert res.returncode == 0, res.stderr
    assert (out / "card.img").read_bytes() == raw.read_bytes()
    assert "wrote and verified" in res.stdout


@pytest.mark.parametrize("case", ["truncated-xz", "truncated-raw", "missing-bmap", "mismatched-bmap",
                                  "garbage-bmap"])
def test_to_file_bad_inputs_write_nothing(img, tmp_path: Path, case: str):
    raw, xz, bmap = img
    out = tmp_path / "out"
    out.mkdir()
    image, extra, phrase = xz, [], ""
    if case == "truncated-xz":
        xz.write_bytes(xz.read_bytes()[: xz.stat().st_size // 2])
        phrase = "truncated or corrupt"
    elif case == "truncated-raw":
        raw.write_bytes(raw.read_bytes()[: 2 << 20])
        image, phrase = raw, "truncated image or bmap of another build"
    elif case == "missing-bmap":
        bmap.unlink()
        phrase = "core-image.wic.bmap not found"
    elif case == "mismatched-bmap":
        # Same size, different content: only the checksums can tell; bmaptool's pre-pass catches it.
        data = bytearray(raw.read_bytes())
        data[1 << 20: (1 << 20) + 16] = b"another build!!!"
        other = tmp_path / "other.wic"
        other.write_bytes(bytes(data))
        image, phrase = other, "checksum mismatch"
        extra = ["--bmap", str(bmap)]
    elif case == "garbage-bmap":
        bmap.write_text("<html>not a bmap</html>")
        phrase = "not a valid bmap file"
    res = run_cli("flash", "sd", "--image", str(image), *extra, "--to-file", str(out / "card.img"))
    assert phrase in _one_line_error(res)
    _nothing_written(out, "card.img")


def test_to_file_missing_directory(img, tmp_path: Path):
    _raw, xz, _ = img
    res = run_cli("flash", "sd", "--image", str(xz), "--to-file", str(tmp_path / "nope" / "card.img"))
    assert "does not exist" in _one_line_error(res)


def test_regular_file_is_not_a_block_device(img, tmp_path: Path):
    """The real stat() path: a file given as --device is refused and left unchanged."""
    _raw, xz, _ = img
    victim = tmp_path / "sdz"
    victim.write_bytes(b"precious")
    res = run_cli("flash", "sd", "--image", str(xz), "--device", str(victim), "--yes")
    assert "is not a block device" in _one_line_error(res)
    assert victim.read_bytes() == b"precious"


REFUSALS = {
    "usb-sd-mounted": "is mounted (/media/dev/root)",
    "vm-root-disk": "holds the running root filesystem",
    "usb-ssd-root-luks": "holds the running root filesystem",
    "internal-nvme": "is not removable or hot-pluggable",
    "internal-emmc": "is an eMMC soldered to this host",
    "tiny-sd-slot": "is too small: 4.0 MiB < image",
    "partition": "is a partition",
    # Hot-pluggable but on SATA (a hot-swap bay), not a usb/mmc card reader (issue 20 item 5).
    "hotswap-sata": "is on the sata transport, not usb/mmc",
}


def _fixture_args(case: str, dev_dir: Path) -> list[str]:
    name = next((FIX / "sysfs" / case / "class" / "block").iterdir()).name
    return ["--device", str(dev_dir / name), "--sysfs-root", str(FIX / "sysfs" / case),
            "--lsblk-json", str(FIX / "lsblk" / f"{case}.json")]


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_fixture_device_refusals(img, tmp_path: Path, case: str):
    _raw, xz, _ = img
    res = run_cli("flash", "sd", "--image", str(xz), "--yes", *_fixture_args(case, tmp_path))
    assert REFUSALS[case] in _one_line_error(res)


def test_fixture_not_a_block_device(img, tmp_path: Path):
    """A name with no sysfs block entry (e.g. /dev/ttyUSB0 typed by mistake)."""
    _raw, xz, _ = img
    res = run_cli("flash", "sd", "--image", str(xz), "--yes", "--device", str(tmp_path / "ttyUSB0"),
                  "--sysfs-root", str(FIX / "sysfs" / "usb-sd-card"),
                  "--lsblk-json", str(FIX / "lsblk" / "usb-sd-card.json"))
    assert "is not a block device" in _one_line_error(res)


def test_good_card_but_unreadable_device_node(img, tmp_path: Path):
    """All checks pass for the USB card; opening the node fails → one line, nothing written."""
    _raw, xz, _ = img
    res = run_cli("flash", "sd", "--image", str(xz), "--yes", *_fixture_args("usb-sd-card", tmp_path))
    err = _one_line_error(res)
    assert "cannot open" in err and "nothing written" in err
    assert not (tmp_path / "sdb").exists()


def test_good_card_needs_confirmation(img, tmp_path: Path):
    """Without --yes and without a terminal the tool refuses (after showing model and size)."""
    _raw, xz, _ = img
    dev = tmp_path / "sdb"
    dev.write_bytes(b"")  # exists so the open-for-write check passes; fixture mode knows it as a card
    res = run_cli("flash", "sd", "--image", str(xz), *_fixture_args("usb-sd-card", tmp_path), input="")
    assert "add --yes" in _one_line_error(res)
    assert "Generic- STORAGE DEVICE (usb), 29.7 GiB" in res.stderr
    assert dev.read_bytes() == b""


def test_real_loop_device_refused(img, tmp_path: Path):
    """Real lsblk and real sysfs on a real block device: a loop device is not removable."""
    losetup = shutil.which("losetup")
    if losetup is None or os.geteuid() != 0 or not Path("/dev/loop-control").exists():
        pytest.skip("skipped: needs root and loop devices to create a real block device")
    backing = tmp_path / "backing.img"
    backing.write_bytes(b"\0" * (16 << 20))
    res = subprocess.run([losetup, "--find", "--show", str(backing)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"skipped: losetup failed here ({res.stderr.strip()})")
    loop = res.stdout.strip()
    try:
        _raw, xz, _ = img
        cli = run_cli("flash", "sd", "--image", str(xz), "--device", loop, "--yes")
        assert "is a loop device" in _one_line_error(cli)
    finally:
        subprocess.run([losetup, "-d", loop], check=False)
    assert backing.read_bytes() == b"\0" * (16 << 20)


def test_other_transport_allowed_only_with_exact_size(img, tmp_path: Path):
    """--confirm-size must name the disk's exact size; then the usual checks go on (here: open fails)."""
    _raw, xz, _ = img
    wrong = run_cli("flash", "sd", "--image", str(xz), "--yes", "--confirm-size", "32000000000",
                    *_fixture_args("hotswap-sata", tmp_path))
    assert "--confirm-size 31914983424" in _one_line_error(wrong)
    res = run_cli("flash", "sd", "--image", str(xz), "--yes", "--confirm-size", "31914983424",
                  *_fixture_args("hotswap-sata", tmp_path))
    assert "cannot open" in _one_line_error(res)
    human = run_cli("flash", "sd", "--image", str(xz), "--yes", "--confirm-size", "29.7 GiB",
                    *_fixture_args("hotswap-sata", tmp_path))
    assert "cannot open" in _one_line_error(human)
