"""bmaptool around an image: find and sanity-check the .bmap, pre-verify, copy, read back.

Block mapping and checksumming during the copy are bmaptool's (``bmaptool copy``); this module only
reads the bmap header (sizes) and the per-range checksums for the read-back after writing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from generator import program
from generator.errors import UserError
from generator.flash.imagefile import COMPRESSED

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Bmap:
    path: Path
    image_size: int
    block_size: int
    checksum_type: str
    ranges: tuple[tuple[int, int, str], ...]  # (first block, last block, checksum)


def default_bmap(image: Path) -> Path:
    stem = image.with_suffix("") if image.suffix in COMPRESSED else image
    return stem.with_name(stem.name + ".bmap")


def load(path: Path) -> Bmap:
    if not path.is_file():
        raise UserError(f"block map {path} not found: pass --bmap (Yocto writes <image>.wic.bmap with "
                        "IMAGE_FSTYPES += \"wic.bmap\")")
    try:
        root = ET.parse(path).getroot()
        ranges = []
        for r in root.iter("Range"):
            first, _, last = r.text.strip().partition("-")
            ranges.append((int(first), int(last or first), r.get("chksum", "")))
        return Bmap(path, int(root.findtext("ImageSize")), int(root.findtext("BlockSize")),
                    (root.findtext("ChecksumType") or "sha1").strip(), tuple(ranges))
    except (ET.ParseError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{path} is not a valid bmap file ({exc})") from exc


def bmaptool() -> str:
    tool = shutil.which("bmaptool")
    if tool is None:
        raise UserError("bmaptool is not installed: apt install bmap-tools")
    return tool


def _last_error(text: str) -> str:
    lines = [ANSI.sub("", line).strip() for line in text.splitlines()]
    errors = [line.split("ERROR:", 1)[1].strip() for line in lines if "ERROR:" in line]
    return errors[-1] if errors else (next((line for line in reversed(lines) if line), "no output"))


def _why(res: subprocess.CompletedProcess[str]) -> str:
    return _last_error(res.stderr + res.stdout)


def copy(image: Path, bmap: Bmap, dest: str) -> None:
    """``bmaptool copy`` (verifies each range's checksum as it reads the image)."""
    program.run([bmaptool(), "copy", "--bmap", str(bmap.path), str(image), dest],
                what=f"bmaptool copy to {dest} failed", why=_why,
                fix="check that the card is inserted and writable, then flash again")


def preverify(image: Path, bmap: Bmap) -> None:
    """A full bmaptool pass into /dev/null: a truncated image or a bmap of another build fails here,
    before the target is touched."""
    program.run([bmaptool(), "copy", "--bmap", str(bmap.path), str(image), "/dev/null"],
                what=f"image {image.name} does not match {bmap.path.name}", why=_why,
                fix="nothing written; build the image again or pass its own block map with --bmap")


def read_back(dest: str, bmap: Bmap) -> None:
    """Re-read every mapped range from the written target and compare with the bmap's checksums."""
    if not bmap.ranges or not bmap.ranges[0][2]:
        raise UserError(f"{bmap.path.name} carries no range checksums: cannot verify the written data")
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # read the medium, not the page cache
        for first, last, want in bmap.ranges:
            h = hashlib.new(bmap.checksum_type)
            pos, end = first * bmap.block_size, min((last + 1) * bmap.block_size, bmap.image_size)
            while pos < end:
                block = os.pread(fd, min(1 << 20, end - pos), pos)
                if not block:
                    break
                h.update(block)
                pos += len(block)
            if h.hexdigest() != want:
                raise UserError(f"read-back of blocks {first}-{last} from {dest} does not match the bmap: "
                                "the card may be faulty or fake-capacity")
    finally:
        os.close(fd)
