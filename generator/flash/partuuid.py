"""Find the root partition's PARTUUID in a wic image (MBR or GPT), as Linux spells it.

meta-renesas' ``rcar-singlepart-noloader.wks`` uses ``--use-uuid`` on a single ext4 partition, so
``root=PARTUUID=...`` names the root filesystem whatever the kernel calls the eMMC.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from generator.errors import UserError

SECTOR = 512


@dataclass(frozen=True)
class RootPartition:
    number: int  # 1-based, as in U-Boot's "mmc 1:<n>" and Linux's p<n>
    partuuid: str
    scheme: str  # "mbr" or "gpt"


def find_root(head: bytes) -> RootPartition:
    """Parse the first sectors of an image (at least 34 sectors for GPT) and return partition 1's id."""
    if len(head) < SECTOR or head[510:512] != b"\x55\xaa":
        raise UserError("the image has no partition table (no MBR signature): is it a .wic image?")
    entries = [head[446 + 16 * i : 446 + 16 * (i + 1)] for i in range(4)]
    if entries[0][4] == 0xEE:  # protective MBR → GPT
        return _gpt(head)
    for number, entry in enumerate(entries, start=1):
        ptype, _start, count = entry[4], *struct.unpack_from("<II", entry, 8)
        if ptype != 0 and count:
            disk_id = struct.unpack_from("<I", head, 440)[0]
            return RootPartition(number, f"{disk_id:08x}-{number:02x}", "mbr")
    raise UserError("the image's MBR lists no partitions")


def _gpt(head: bytes) -> RootPartition:
    hdr = head[SECTOR : 2 * SECTOR]
    if hdr[:8] != b"EFI PART":
        raise UserError("the image has a protective MBR but no GPT header")
    entries_lba, count, size = struct.unpack_from("<QII", hdr, 72)
    for i in range(count):
        off = entries_lba * SECTOR + i * size
        if off + size > len(head):
            break
        entry = head[off : off + size]
        if entry[:16] != b"\0" * 16:
            return RootPartition(i + 1, str(uuid.UUID(bytes_le=entry[16:32])), "gpt")
    raise UserError("the image's GPT lists no partitions")
