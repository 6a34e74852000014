"""Read ``.wic`` / ``.wic.xz`` / ``.wic.gz`` / ``.wic.bz2`` images as a plain byte stream.

The expanded size comes from the container (xz index, file size) so checks can run before any
byte is written; a truncated file is reported here, not halfway through a flash.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
from pathlib import Path
from typing import BinaryIO

from generator import program
from generator.errors import UserError

COMPRESSED = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}


def open_image(path: Path) -> BinaryIO:
    if not path.is_file():
        raise UserError(f"image {path} does not exist (point --image at the .wic or .wic.xz in "
                        "tmp/deploy/images/h3ulcb/)")
    opener = COMPRESSED.get(path.suffix)
    try:
        return opener(path, "rb") if opener else path.open("rb")  # type: ignore[return-value]
    except OSError as exc:
        raise UserError(f"cannot read image {path}: {exc.strerror or exc}") from exc


def expanded_size(path: Path) -> int:
    """Size of the image once decompressed; UserError if the container is truncated or corrupt."""
    if not path.is_file():
        raise UserError(f"image {path} does not exist")
    if path.suffix == ".xz":
        xz = shutil.which("xz")
        if xz is None:
            raise UserError("xz is not installed (apt install xz-utils): needed to check .xz images")
        res = program.run([xz, "--robot", "--list", str(path)], check=False,
                          fix="reinstall xz (apt install xz-utils)")
        for line in res.stdout.splitlines():
            fields = line.split("\t")
            if res.returncode == 0 and fields[0] == "totals":
                return int(fields[4])
        why = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "unreadable xz index"
        raise UserError(f"image {path} is truncated or corrupt ({why.split(': ')[-1]}): download or "
                        "build it again")
    if path.suffix in COMPRESSED:
        # gzip/bz2 carry no reliable size index: decompress once (also proves the file is complete).
        total = 0
        try:
            with COMPRESSED[path.suffix](path, "rb") as f:
                while block := f.read(1 << 20):
                    total += len(block)
        except (EOFError, OSError, lzma.LZMAError) as exc:
            raise UserError(f"image {path} is truncated or corrupt ({exc}): "
                            "download or build it again") from exc
        return total
    return path.stat().st_size


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes (short only at end of stream); decompression errors become UserError."""
    parts: list[bytes] = []
    need = size
    try:
        while need:
            block = stream.read(need)
            if not block:
                break
            parts.append(block)
            need -= len(block)
    except (EOFError, lzma.LZMAError, OSError) as exc:
        raise UserError(f"image is truncated or corrupt while reading: {exc}") from exc
    return b"".join(parts)
