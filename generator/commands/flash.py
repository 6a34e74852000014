"""Put a built image on an H3 Starter Kit: SD card, eMMC (through U-Boot) or the bootloaders.

  rcar-k8s flash sd --image IMG.wic.xz --device /dev/sdX [--bmap IMG.wic.bmap] [--yes]
  rcar-k8s flash sd --image IMG.wic.xz --to-file card.img
      Write the image with bmaptool using its .wic.bmap (found next to the image unless --bmap).
      Refuses a device that is not a block device, not removable/hot-pluggable, an eMMC, mounted,
      holding the running root filesystem, or smaller than the image. Shows model and size and asks
      for confirmation (or --yes). The image is checked against the bmap BEFORE the device is opened
      (truncated image / wrong bmap → nothing written), bmaptool verifies checksums while writing,
      and the mapped blocks are read back from the device and checked again.

  rcar-k8s flash emmc --serial /dev/ttyUSB0 --tftp-dir /srv/tftp --image IMG.wic.xz [--board-rev h3-es3]
      Drive the board's U-Boot over the serial console: stop autoboot, get an address by DHCP (or
      --ipaddr/--serverip), then per chunk: tftpboot, crc32 (vs the host's zlib CRC32), mmc write to
      eMMC (mmc dev 1), mmc read back, crc32 again. Then check /boot/Image and the DTB are readable,
      set bootargs (root=PARTUUID from the image) and bootcmd (ext4load + booti with the DTB for
      --board-rev: h3-es3/h3-es2 → r8a77951-ulcb.dtb, h3e-2g → r8a779m1-ulcb.dtb) and saveenv.
      Your TFTP server must serve --tftp-dir; one chunk file at a time is placed in its
      rcar-k8s-flash/ subdirectory. --dry-run prints the exact U-Boot command sequence.
      --serial also takes pyserial URLs (socket://host:port for ser2net consoles).

  rcar-k8s flash bootloader --serial /dev/ttyUSB0 --files-dir DEPLOY_DIR --dry-run
  rcar-k8s flash bootloader --serial /dev/ttyUSB0 --files-dir DEPLOY_DIR --flash-writer FW.mot --yes
      Write bootparam/BL2/cert header/BL31/OP-TEE/U-Boot .srec files to HyperFlash with Renesas
      Flash Writer (xls2), after the board was put in SCIF download mode. --dry-run lists every
      file, program address, flash address and step. The real mode needs --yes and checks every
      file exists first.

Exit status: 0 written and verified, 2 refused or failed (one-line reason).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator.errors import UserError

NAME = "flash"
HELP = "write an image to an SD card, to eMMC via U-Boot, or the bootloaders via Flash Writer"


def register(parser: argparse.ArgumentParser) -> None:
    from generator.flash import bootloader, emmc

    sub = parser.add_subparsers(dest="method", metavar="METHOD")

    sd = sub.add_parser("sd", help="write the .wic(.xz) to an SD card with bmaptool")
    sd.add_argument("--image", type=Path, required=True, help=".wic or .wic.xz image")
    sd.add_argument("--bmap", type=Path, help="block map (default: <image without .xz>.bmap)")
    dest = sd.add_mutually_exclusive_group(required=True)
    dest.add_argument("--device", help="whole-disk block device of the SD card, e.g. /dev/sdb")
    dest.add_argument("--to-file", type=Path, help="write a disk image file instead of a device")
    sd.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    # Injectable host views so tests can describe devices with fixture trees.
    sd.add_argument("--sysfs-root", type=Path, default=Path("/sys"), help=argparse.SUPPRESS)
    sd.add_argument("--lsblk-json", type=Path, help=argparse.SUPPRESS)
    sd.set_defaults(func=run, method="sd")

    em = sub.add_parser("emmc", help="write the image to eMMC through U-Boot over serial + TFTP")
    em.add_argument("--image", type=Path, required=True, help=".wic or .wic.xz image")
    em.add_argument("--serial", help="serial console: /dev/ttyUSB0 or a pyserial URL (socket://host:port)")
    em.add_argument("--baud", type=int, default=115200)
    em.add_argument("--tftp-dir", type=Path, help="directory your TFTP server serves")
    em.add_argument(
        "--board-rev",
        choices=emmc.BOARD_REVS,
        default="h3-es3",
        help="SoC revision, selects the DTB (default h3-es3; ES2.0 uses the same DTB)",
    )
    em.add_argument(
        "--target",
        choices=sorted(emmc.TARGETS),
        default="h3ulcb",
        help="U-Boot block device profile (qemu-virt: the test stand-in)",
    )
    em.add_argument("--chunk-size", help="bytes per TFTP chunk, e.g. 32M (default: the target's maximum)")
    em.add_argument("--ipaddr", help="board IP (default: DHCP)")
    em.add_argument("--serverip", help="TFTP server IP (default: from DHCP)")
    em.add_argument("--prompt", default="=> ", help="U-Boot prompt (default '=> ')")
    em.add_argument(
        "--char-delay",
        type=float,
        default=0.002,
        help="seconds between typed characters (slow UARTs drop input)",
    )
    em.add_argument("--log", type=Path, help="write the console transcript here")
    em.add_argument("--dry-run", action="store_true", help="print the U-Boot command sequence, touch nothing")
    em.set_defaults(func=run, method="emmc")

    bl = sub.add_parser("bootloader", help="write IPL/ATF/OP-TEE/U-Boot .srec via Renesas Flash Writer")
    bl.add_argument("--serial", help="serial console of the board in SCIF download mode")
    bl.add_argument("--files-dir", type=Path, required=True, help="deploy dir with the .srec files")
    bl.add_argument("--board", choices=sorted(bootloader.BOARDS), default="h3ulcb")
    bl.add_argument("--flash-writer", type=Path, help="Flash Writer .mot to upload first (omit if it runs)")
    bl.add_argument("--sup", action="store_true", help="raise the link to 921600 baud with `sup` first")
    bl.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="write only this part (repeatable): " + ", ".join(bootloader.PART_NAMES),
    )
    bl.add_argument("--yes", action="store_true", help="required for the real (non --dry-run) mode")
    bl.add_argument("--dry-run", action="store_true", help="list files, addresses and steps; touch nothing")
    bl.add_argument("--log", type=Path, help="write the console transcript here")
    bl.set_defaults(func=run, method="bootloader")

    parser.set_defaults(func=run, method=None, _parser=parser)


def run(args: argparse.Namespace) -> int:
    if args.method is None:
        args._parser.print_help(sys.stderr)
        return 2
    if args.method == "sd":
        from generator.flash.sd import run_sd

        return run_sd(args)
    if args.method == "emmc":
        return _run_emmc(args)
    from generator.flash.bootloader import run_bootloader

    return run_bootloader(args)


def _run_emmc(args: argparse.Namespace) -> int:
    from generator.flash import emmc
    from generator.flash.console import open_console
    from generator.flash.uboot import UBoot

    network = emmc.Network(args.ipaddr, args.serverip)
    chunk = emmc.parse_size(args.chunk_size) if args.chunk_size else None
    plan = emmc.make_plan(args.image, args.target, args.board_rev, chunk, network)
    if args.dry_run:
        for line in emmc.dry_run_lines(plan):
            print(line)
        return 0
    if not args.serial or not args.tftp_dir:
        raise UserError("flash emmc needs --serial and --tftp-dir (or --dry-run to only print the commands)")
    if not args.tftp_dir.is_dir():
        raise UserError(f"--tftp-dir {args.tftp_dir} is not a directory: point it at your TFTP server's root")

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    err = Console(stderr=True)
    log = args.log.open("w", encoding="utf-8") if args.log else None
    try:
        with open_console(args.serial, args.baud, logfile=log) as child:
            uboot = UBoot(child, prompt=args.prompt, char_delay=args.char_delay)
            err.print(f"waiting for U-Boot on {args.serial} (reset or power the board now)")
            uboot.stop_autoboot()
            emmc.check_banner(uboot.banner, args.board_rev)
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
            ) as progress:
                emmc.execute(plan, uboot, args.tftp_dir, progress)
    finally:
        if log:
            log.close()
    t = plan.target
    print(
        f"flash emmc: wrote {plan.size} bytes to {t.iface} {t.dev} in {plan.chunk_count} chunk(s), "
        f"every chunk CRC32-verified after read-back; bootcmd boots /boot/Image + /boot/{plan.dtb} "
        f"from partition {plan.root.number} (PARTUUID={plan.root.partuuid})"
        + ("; environment saved" if t.save_env else f"; {t.note}")
    )
    return 0
