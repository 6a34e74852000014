"""Write the boot chain to the H3 Starter Kit's HyperFlash with Renesas Flash Writer (``xls2``).

Layout and file names from meta-renesas scarthgap deploy output and the Flash Writer application note
(anchors.md §5.2). The dialogue is driven reactively: each Flash Writer question is answered when it
appears, so optional questions ("Clear OK?(y/n)", "(Push Y key)") do not break the sequence.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect

from generator.errors import UserError


@dataclass(frozen=True)
class Part:
    name: str
    file: str
    program_addr: int
    flash_addr: int


BOARDS: dict[str, tuple[Part, ...]] = {
    "h3ulcb": (
        Part("bootparam", "bootparam_sa0.srec", 0xE6320000, 0x000000),
        Part("bl2", "bl2-h3ulcb.srec", 0xE6304000, 0x040000),
        Part("cert_header", "cert_header_sa6.srec", 0xE6320000, 0x180000),
        Part("bl31", "bl31-h3ulcb.srec", 0x44000000, 0x1C0000),
        Part("tee", "tee-h3ulcb.srec", 0x44100000, 0x200000),
        Part("u-boot", "u-boot-elf-h3ulcb.srec", 0x50000000, 0x640000),
    ),
}
PART_NAMES = tuple(p.name for p in BOARDS["h3ulcb"])
SUP_BAUD = 921600
PROMPT = re.compile(r"(?:\r\n|\n)>")
SREC = re.compile(rb"^S[0-9][0-9A-Fa-f]+\r?$")


def select_parts(board: str, only: list[str] | None) -> tuple[Part, ...]:
    parts = BOARDS[board]
    if not only:
        return parts
    unknown = sorted(set(only) - {p.name for p in parts})
    if unknown:
        names = ", ".join(p.name for p in parts)
        raise UserError(f"unknown --only {', '.join(unknown)}: choose from {names}")
    return tuple(p for p in parts if p.name in only)


def check_files(files_dir: Path, parts: tuple[Part, ...], flash_writer: Path | None) -> None:
    """Every file present and an S-record, before the first byte goes to the board."""
    missing = [p.file for p in parts if not (files_dir / p.file).is_file()]
    if flash_writer is not None and not flash_writer.is_file():
        missing.append(str(flash_writer))
    if missing:
        raise UserError(f"missing in {files_dir}: {', '.join(missing)} (build with bitbake or pass --only)")
    for p in parts:
        with (files_dir / p.file).open("rb") as f:
            first = f.readline().rstrip(b"\n")
        if not SREC.match(first):
            raise UserError(f"{p.file} is not a Motorola S-record file (first line {first[:20]!r})")


def dialogue(part: Part) -> list[tuple[str, str]]:
    """(Flash Writer says, we answer) for one xls2 run; used by --dry-run and, reactively, by the driver."""
    return [
        (">", "xls2"),
        ("Select (1-3)>", "3  (HyperFlash, SiP internal)"),
        ("(Push Y key)", "Y  (each time it is asked)"),
        ("Please Input : H'  [program top address]", f"{part.program_addr:X}"),
        ("Please Input : H'  [flash save address]", f"{part.flash_addr:X}"),
        ("please send ! ('.' & CR stop load)", f"<contents of {part.file}>"),
        ("Clear OK?(y/n)", "y  (if asked: erase before writing)"),
        (">", "(done)"),
    ]


def dry_run_lines(
    parts: tuple[Part, ...], files_dir: Path, flash_writer: Path | None, sup: bool
) -> list[str]:
    out = [
        "# board: set SW to SCIF download mode (or use the CPLD), power on; the boot ROM says 'please send !'"
    ]
    if flash_writer:
        out.append(f"send Flash Writer {flash_writer} → wait for the '>' prompt")
    else:
        out.append("# Flash Writer assumed running at its '>' prompt (pass --flash-writer to upload it)")
    if sup:
        out.append(f"sup → switch host to {SUP_BAUD} baud when asked → Enter → '>'")
    out.append(f"{'part':<12} {'file':<28} {'program':>10} {'flash':>10}")
    for p in parts:
        exists = "" if (files_dir / p.file).is_file() else "   (MISSING)"
        out.append(f"{p.name:<12} {p.file:<28} {p.program_addr:>#10x} {p.flash_addr:>#10x}{exists}")
    for i, p in enumerate(parts, 1):
        out.append(f"# step {i}/{len(parts)}: {p.name}")
        out += [f"  wait {said!r:<48} send {answer}" for said, answer in dialogue(p)]
    out.append("# then set SW back to normal boot mode and power-cycle")
    return out


def _send_file(ser, path: Path) -> None:  # noqa: ANN001 (pyserial Serial)
    ser.write(path.read_bytes())  # blocking write: pyserial handles partial writes
    ser.flush()


def write_part(child, ser, files_dir: Path, part: Part, timeout: float = 600) -> None:  # noqa: ANN001
    """One xls2 dialogue, answered as questions appear."""
    child.send("xls2\r")
    addresses = [f"{part.program_addr:X}", f"{part.flash_addr:X}"]
    sent = False
    patterns = [
        r"\(1-3\)>",
        r"\(Push Y key\)",
        r"Please Input : H'",
        r"please send !",
        r"\(y/n\)",
        PROMPT,
        pexpect.TIMEOUT,
        pexpect.EOF,
    ]
    while True:
        idx = child.expect(patterns, timeout=timeout)
        if idx == 0:
            child.send("3\r")
        elif idx == 1:
            child.send("Y")
        elif idx == 2:
            if not addresses:
                raise UserError(f"Flash Writer asked for a third address while writing {part.name}")
            child.send(addresses.pop(0) + "\r")
        elif idx == 3:
            _send_file(ser, files_dir / part.file)
            sent = True
        elif idx == 4:
            child.send("y")
        elif idx == 5 and sent:
            return
        elif idx == 5:
            raise UserError(
                f"Flash Writer returned to its prompt before receiving {part.file}: "
                f"{(child.before or '').strip().splitlines()[-1:]}"
            )
        else:
            raise UserError(
                f"Flash Writer stopped answering while writing {part.name} (timeout {timeout:.0f}s)"
            )


def run_bootloader(args: argparse.Namespace) -> int:
    parts = select_parts(args.board, args.only)
    if args.dry_run:
        print("\n".join(dry_run_lines(parts, args.files_dir, args.flash_writer, args.sup)))
        return 0
    if not args.yes:
        raise UserError(
            "writing bootloaders can leave the board unbootable until re-flashed: review "
            "--dry-run, then add --yes"
        )
    if not args.serial:
        raise UserError("flash bootloader needs --serial (the board's console in SCIF download mode)")
    check_files(args.files_dir, parts, args.flash_writer)

    from generator.flash.console import open_console

    log = args.log.open("w", encoding="utf-8") if args.log else None
    try:
        with open_console(args.serial, 115200, logfile=log) as child:
            ser = child.serial
            if args.flash_writer:
                child.expect("please send", timeout=120)
                _send_file(ser, args.flash_writer)
            child.send("\r")
            child.expect(PROMPT, timeout=60)
            if args.sup:
                child.send("sup\r")
                child.expect("baud rate setting", timeout=10)
                time.sleep(0.2)
                ser.baudrate = SUP_BAUD
                child.send("\r")
                child.expect(PROMPT, timeout=10)
            for part in parts:
                print(f"flash bootloader: {part.name} ({part.file}) → H'{part.flash_addr:X}")
                write_part(child, ser, args.files_dir, part)
    except pexpect.TIMEOUT as exc:
        raise UserError("no answer from the board: is it in SCIF download mode and --serial right?") from exc
    finally:
        if log:
            log.close()
    print(f"flash bootloader: wrote {len(parts)} part(s); set the boot mode switches back and power-cycle")
    return 0
