"""Build a small wic-shaped image for tests: MBR, one ext4 partition with /boot/Image and DTBs.

Mirrors meta-renesas' rcar-singlepart-noloader.wks (single ext4 root, --use-uuid) at a few MiB, using
the real mkfs.ext4 so U-Boot's ext4 driver reads a genuine filesystem.
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

DISK_ID = 0x5A17C0DE
PART_START = 2048  # sectors, i.e. the 1 MiB alignment wic uses


def build(path: Path, part_mib: int = 3, tail_bytes: int = 0,
          dtbs: tuple[str, ...] = ("r8a77951-ulcb.dtb",)) -> Path:
    """Write the image; ``tail_bytes`` adds a partial trailing block so chunk padding is exercised."""
    root = path.parent / (path.name + ".rootfs")
    (root / "boot").mkdir(parents=True, exist_ok=True)
    (root / "boot" / "Image").write_bytes(b"ARM64 test kernel placeholder\n" + os.urandom(200_000))
    for dtb in dtbs:
        (root / "boot" / dtb).write_bytes(b"\xd0\x0d\xfe\xed" + os.urandom(3000))
    part = path.parent / (path.name + ".part")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(root), "-E", "root_owner=0:0",
                    str(part), f"{part_mib}M"], check=True)
    sectors = part.stat().st_size // 512
    mbr = bytearray(512)
    struct.pack_into("<I", mbr, 440, DISK_ID)
    # status, CHS start (dummy), type 0x83, CHS end (dummy), LBA start, sector count
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", PART_START, sectors)
    mbr[510:512] = b"\x55\xaa"
    with path.open("wb") as out:
        out.write(mbr)
        out.write(os.urandom(PART_START * 512 - 512))  # noise before the partition, like a loader area
        out.write(part.read_bytes())
        out.write(os.urandom(tail_bytes))
    part.unlink()
    return path


def partuuid() -> str:
    return f"{DISK_ID:08x}-01"
