"""``rcar-k8s flash sd``: image → SD card (or image file) with bmaptool, refusing unsafe targets.

Order matters: every check that can fail runs before the target is opened for writing, so a refusal
or a bad image leaves the card (or --to-file path) untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from generator.errors import UserError
from generator.flash import bmap as bmapmod
from generator.flash import device
from generator.flash.imagefile import expanded_size


def _fixture_is_block(sysfs_root: Path):  # noqa: ANN202 - test hook used only with --sysfs-root
    return lambda dev: (sysfs_root / "class" / "block" / Path(dev).name / "dev").is_file()


def _confirm(facts: device.DeviceFacts, assume_yes: bool) -> None:
    print(f"flash sd: about to overwrite {facts.describe()}", file=sys.stderr)
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise UserError("refusing to overwrite without confirmation: stdin is not a terminal, add --yes")
    answer = input(f"Everything on {facts.path} will be destroyed. Type 'yes' to continue: ")
    if answer.strip() != "yes":
        raise UserError("not confirmed; nothing written")


def _check_writable(dev: str) -> None:
    try:
        fd = os.open(dev, os.O_RDWR | os.O_EXCL)  # O_EXCL on a block device: fails if in use
    except OSError as exc:
        raise UserError(
            f"cannot open {dev} for writing: {exc.strerror} (run as root / disk group; "
            "is it in use?); nothing written"
        ) from exc
    os.close(fd)


def run_sd(args: argparse.Namespace) -> int:
    image: Path = args.image
    bmap = bmapmod.load(args.bmap or bmapmod.default_bmap(image))
    if not bmap.ranges or not all(r[2] for r in bmap.ranges):
        raise UserError(
            f"{bmap.path.name} has no per-range checksums (bmap format < 1.3?): the write could "
            "not be verified; recreate it with `bmaptool create`; nothing written"
        )
    size = expanded_size(image)  # truncated/corrupt .xz fails here
    if size != bmap.image_size:
        raise UserError(
            f"image {image.name} expands to {size} bytes but {bmap.path.name} describes "
            f"{bmap.image_size}: truncated image or bmap of another build; nothing written"
        )

    if args.to_file:
        dest: Path = args.to_file
        if not dest.parent.is_dir():
            raise UserError(f"--to-file directory {dest.parent} does not exist; nothing written")
        if dest.exists() and not dest.is_file():
            raise UserError(f"--to-file {dest} exists and is not a regular file; nothing written")
        bmapmod.preverify(image, bmap)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        try:
            bmapmod.copy(image, bmap, tmp)
            bmapmod.read_back(tmp, bmap)
            os.replace(tmp, dest)  # appears only complete and verified
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        print(f"flash sd: wrote and verified {dest} ({device.human(size)})")
        return 0

    fixture = args.lsblk_json is not None
    facts = device.probe(
        args.device,
        sysfs_root=args.sysfs_root,
        lsblk_json=args.lsblk_json.read_text() if fixture else None,
        **({"is_block": _fixture_is_block(args.sysfs_root)} if fixture else {}),
    )
    why = device.refusal(facts, size)
    if why:
        raise UserError(f"refusing to write: {why}")
    bmapmod.preverify(image, bmap)
    _check_writable(args.device)
    _confirm(facts, args.yes)
    from rich.console import Console

    err = Console(stderr=True)
    with err.status(f"writing {image.name} to {args.device} with bmaptool"):
        bmapmod.copy(image, bmap, args.device)
    with err.status(f"reading back {args.device}"):
        bmapmod.read_back(args.device, bmap)
    print(f"flash sd: wrote and verified {facts.describe()}; it is safe to remove the card")
    return 0
