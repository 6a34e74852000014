"""Write the boot chain to the H3 Starter Kit's HyperFlash with Renesas Flash Writer (``xls2``).

Files and addresses: meta-renesas scarthgap deploy output (arm-trusted-firmware_git.bb do_deploy and
do_ipl_opt_deploy, optee, u-boot_2020.10.bb) and the Flash Writer application note §3.4.1.
Dialogue: renesas-rcar/flash_writer v1.0.12 sources (see tests/flash/flashwriter.py for the file and
function of each prompt). Two properties of that dialogue decide the design:

- Flash Writer does not write a file at the "save address" you type: it writes it at
  ``save + (lowest S-record address - program top)`` (dgmodul4.c XLoadSpiflash0_2, uint32) and first
  erases every 256 KiB sector that range touches. A file linked at another address than the table
  says therefore lands, and erases, elsewhere: e.g. a bl2 linked at E6302000 typed as E6304000
  erases H'00000000-..., the boot parameters. So every file's S-records are read first and the write
  happens only if its lowest address IS the program address and its erase range stays in its slot.
- Each step is answered when its prompt appears; the erase range Flash Writer proposes must be
  exactly the predicted one ("n" otherwise), and a write counts only with " complete!" and the
  predicted start/end in the Save Information block.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from generator.errors import UserError

SECTOR = 0x40000  # HyperFlash sector; XLoadSpiflash0_2 MaskSectorSize 0xFFFC0000
FLASH_SIZE = 0x4000000  # S25FL512_END_ADDRESS + 1 (also the HyperFlash limit in XLoadSpiflash0_2)
U32 = 0xFFFFFFFF
SUP_BAUD = 921600
DRAM_CHOICES = ("4x1g", "4x2g")


@dataclass(frozen=True)
class Part:
    name: str
    file: str
    program_addr: int
    flash_addr: int
    dram_variant: bool = False  # meta-renesas also deploys <stem>-4x2g.srec (H3ULCB[4x2g])


@dataclass(frozen=True)
class Board:
    parts: tuple[Part, ...]
    default_dram: str


BOARDS: dict[str, Board] = {
    "h3ulcb": Board(
        parts=(
            Part("bootparam", "bootparam_sa0.srec", 0xE6320000, 0x000000, dram_variant=True),
            Part("bl2", "bl2-h3ulcb.srec", 0xE6304000, 0x040000, dram_variant=True),
            Part("cert_header", "cert_header_sa6.srec", 0xE6320000, 0x180000, dram_variant=True),
            Part("bl31", "bl31-h3ulcb.srec", 0x44000000, 0x1C0000, dram_variant=True),
            Part("tee", "tee-h3ulcb.srec", 0x44100000, 0x200000),
            Part("u-boot", "u-boot-elf-h3ulcb.srec", 0x50000000, 0x640000),
        ),
        # The machine's own ATF build (ATFW_OPT:r8a7795 ... RCAR_DRAM_LPDDR4_MEMCONF=0) is the 4 GiB
        # (4 x 1 GiB) Starter Kit; H3ULCB[4x2g] adds the 8 GiB set as extra files.
        default_dram="4x1g",
    ),
}
PART_NAMES = tuple(p.name for p in BOARDS["h3ulcb"].parts)


def file_for(part: Part, dram: str) -> str:
    """meta-renesas names: bl2-h3ulcb-4x2g.srec, bootparam_sa0-4x2g.srec, ... (do_ipl_opt_deploy)."""
    if dram == "4x1g" or not part.dram_variant:
        return part.file
    stem, _, ext = part.file.rpartition(".")
    return f"{stem}-{dram}.{ext}"


@dataclass(frozen=True)
class Srec:
    first: int  # address of the first data record
    low: int  # lowest data address (what Flash Writer's loader keeps as workAdd_Min)
    high: int  # highest data address


def scan_srec(path: Path) -> Srec:
    """Addresses of an S-record file; a malformed line or a bad checksum is a UserError."""
    first = None
    low, high = U32, 0
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line:
                continue
            where = f"{path.name} line {lineno}"
            if line[:1] not in (b"S", b"s") or len(line) < 4:
                raise UserError(
                    f"{where} is not an S-record ({line[:20]!r}): is {path.name} a Motorola S-record file?"
                )
            kind = chr(line[1])
            try:
                body = bytes.fromhex(line[2:].decode("ascii"))
            except ValueError:
                raise UserError(f"{where}: not hexadecimal") from None
            if not body or body[0] != len(body) - 1 or (sum(body) & 0xFF) != 0xFF:
                raise UserError(f"{where}: bad length or checksum (truncated or damaged file)")
            width = {"1": 2, "2": 3, "3": 4}.get(kind)
            if width is None:
                continue  # S0 header, S5/S6 counts, S7/S8/S9 start address
            addr = int.from_bytes(body[1 : 1 + width], "big")
            data_len = len(body) - 2 - width
            if data_len <= 0:
                continue
            first = addr if first is None else first
            low, high = min(low, addr), max(high, addr + data_len - 1)
    if first is None:
        raise UserError(f"{path.name} has no data records")
    return Srec(first, low, high)


@dataclass(frozen=True)
class Write:
    """One xls2 run and what Flash Writer must report for it."""

    part: Part
    path: Path
    srec: Srec
    start: int  # PrgSpiStatAdd
    end: int  # PrgSpiEndAdd
    clear: tuple[int, int]  # ClrSpiStartSecTopAdd, ClrSpiSecEndAdd


def predict(part: Part, path: Path, srec: Srec) -> Write:
    """Flash Writer's own arithmetic (dgmodul4.c XLoadSpiflash0_2), uint32 like the C code."""
    start = (part.flash_addr + (srec.low - part.program_addr)) & U32
    end = (start + (srec.high - srec.low)) & U32
    return Write(part, path, srec, start, end, (start & ~(SECTOR - 1) & U32, end | (SECTOR - 1)))


def plan(board: str, dram: str, files_dir: Path, only: list[str] | None) -> list[Write]:
    """Every file present, an S-record, linked where the table says, erasing only its own slot."""
    layout = BOARDS[board].parts
    parts = select_parts(board, only)
    paths = [(p, files_dir / file_for(p, dram)) for p in parts]
    missing = [path.name for _, path in paths if not path.is_file()]
    if missing:
        hint = " (the -4x2g files come from meta-renesas' H3ULCB[4x2g] build)" if dram == "4x2g" else ""
        raise UserError(
            f"missing in {files_dir}: {', '.join(missing)}{hint}; build with bitbake or "
            "pass --only; nothing written"
        )
    ordered = sorted(layout, key=lambda p: p.flash_addr)
    writes = []
    for part, path in paths:
        srec = scan_srec(path)
        w = predict(part, path, srec)
        if srec.first != part.program_addr or srec.low != part.program_addr:
            at = f"H'{srec.low:08X}"
            if srec.first != srec.low:
                at += f" (first record H'{srec.first:08X})"
            raise UserError(
                f"{path.name} starts at {at} but {part.name} is programmed at H'{part.program_addr:08X}: "
                f"Flash Writer would write it at H'{w.start:08X} and erase H'{w.clear[0]:08X}-"
                f"H'{w.clear[1]:08X}{_victims(ordered, part, w)}; use the file built for this "
                "board/--dram; nothing written"
            )
        nxt = next((p.flash_addr for p in ordered if p.flash_addr > part.flash_addr), FLASH_SIZE)
        if w.clear[1] >= nxt:
            raise UserError(
                f"{path.name} is {srec.high - srec.low + 1} bytes: erasing H'{w.clear[0]:08X}-"
                f"H'{w.clear[1]:08X} would reach H'{nxt:08X}{_victims(ordered, part, w)}; "
                "nothing written"
            )
        writes.append(w)
    return writes


def _victims(ordered: tuple[Part, ...] | list[Part], part: Part, w: Write) -> str:
    hit = [p.name for p in ordered if p is not part and w.clear[0] <= p.flash_addr <= w.clear[1]]
    return f" (the {', '.join(hit)} area)" if hit else ""


def select_parts(board: str, only: list[str] | None) -> tuple[Part, ...]:
    parts = BOARDS[board].parts
    if not only:
        return parts
    unknown = sorted(set(only) - {p.name for p in parts})
    if unknown:
        names = ", ".join(p.name for p in parts)
        raise UserError(f"unknown --only {', '.join(unknown)}: choose from {names}")
    return tuple(p for p in parts if p.name in only)


def dialogue(w: Write) -> list[tuple[str, str]]:
    """(Flash Writer says, we answer) for one xls2 run; used by --dry-run."""
    lo, hi = w.clear
    return [
        (">", "xls2"),
        ("  Select (1-3)>", "3  (HyperFlash, SiP internal)"),
        ("SW1    ON! ... (Push Y key)", "y  (shown to you: SW1 must be ON)"),
        ("SW6[3] ON! ... (Push Y key)", "y  (shown to you: SW6 pin 3 must be ON)"),
        ("  Please Input : H'  [program top address]", f"{w.part.program_addr:X}"),
        ("  Please Input : H'  [flash save address]", f"{w.part.flash_addr:X}"),
        ("please send ! ('.' & CR stop load)", f"<contents of {w.path.name}>"),
        (f"H'{lo:08X}-{hi:08X},Clear OK?(y/n)", "y  (only if Flash Writer proposes exactly this range)"),
        ("SAVE SPI-FLASH....... complete!", f"(check: Stat H'{w.start:08X}, End H'{w.end:08X})"),
        (">", "(done)"),
    ]


def dry_run_lines(writes: list[Write], flash_writer: Path | None, sup: bool, dram: str) -> list[str]:
    out = ["# board: SCIF download mode, power on; the boot ROM says 'please send !' (docs/flashing.md)"]
    if flash_writer:
        out.append(f"send Flash Writer {flash_writer} → wait for the '>' prompt")
    else:
        out.append("# Flash Writer assumed running at its '>' prompt (pass --flash-writer to upload it)")
    if sup:
        out.append(f"sup → on 'Please change to 921.6Kbps ...' switch host to {SUP_BAUD} baud → Enter → '>'")
    out.append(f"# DRAM {dram}")
    out.append(f"{'part':<12} {'file':<30} {'program':>10} {'flash':>10}  erases")
    for w in writes:
        p = w.part
        out.append(
            f"{p.name:<12} {w.path.name:<30} {p.program_addr:>#10x} {p.flash_addr:>#10x}"
            f"  H'{w.clear[0]:08X}-H'{w.clear[1]:08X}"
        )
    for i, w in enumerate(writes, 1):
        out.append(f"# step {i}/{len(writes)}: {w.part.name}")
        out += [f"  wait {said!r:<48} send {answer}" for said, answer in dialogue(w)]
    out.append("# then set the boot switches back to HyperFlash boot and power-cycle")
    return out


# --- the live dialogue -------------------------------------------------------------------------
# Every text below is Flash Writer's own (tests/flash/test_flashwriter_source.py matches each one
# against the flash_writer sources). Its prompt: PutStr(">", 0) after a command's last CR LF, or
# LF CR ">" after an empty line (common.c GetStr ends input with PutChar(LF_CODE); PutChar(CR_CODE)).
PROMPT = re.compile(r"[\r\n]>")
HEADER = "===== Qspi/HyperFlash writing of Gen3 Board Command"
SELECT = r"Select \(1-3\)>"
ADDRESS = r"Please Input : H'"
SEND = r"please send ! \('\.' & CR stop load\)"
SUP_DONE = r"Please change to 921\.6Kbps baud rate setting of the terminal\.\r\n"
ERRORS = re.compile(
    r"(Program over size Error|ERROR Load file\.|Address Input Error|Memory Boundary Error|"
    r"Syntax Error|DEVICE ID Error|command not found|\x08 Exit )"
)
SWITCH = re.compile(r"([^\r\n\x08]*?)\s*Setting OK\? \(Push Y key\)")
CLEAR = re.compile(r"H'([0-9A-F]{8})-([0-9A-F]{8}),Clear OK\?\(y/n\)")
SAVED = re.compile(r"SAVE SPI-FLASH\.{7}[^\r\n]*? complete!")
INFO = re.compile(
    r" SpiFlashMemory Stat Address : H'([0-9A-F]{8})\r\n SpiFlashMemory End Address  : "
    r"H'([0-9A-F]{8})"
)
# What each error means for us (where the C code prints it) and what the user does about it.
RESET = "power-cycle the board in SCIF download mode and re-run with --flash-writer"
ADVICE = {
    # XLoadSpiflash0_2: save + (lowest S-record address - program top) + size passes H'3FFFFFF
    "Program over size Error": "the file's S-record addresses do not match the program address (a file "
    "built for another board or --dram?); check it with --dry-run",
    # dgLS_Load_Offset2: program top outside DRAM H'40000000-H'BFFFFFFF and RAM H'E6300000-H'E635FFFF
    "ERROR Load file.": "Flash Writer loads only into DRAM H'40000000-H'BFFFFFFF or RAM "
    "H'E6300000-H'E635FFFF: the program address is wrong for this board",
    # XLoadSpiflash0_2: HyperFlash save address past S25FL512_END_ADDRESS
    "Address Input Error": "the HyperFlash address is past H'3FFFFFF: the flash address is wrong for "
    "this board",
    # SetAddInputKey: the address is not a multiple of 4; Flash Writer waits for another one
    "Memory Boundary Error": f"addresses must be multiples of 4; Flash Writer still waits for one: {RESET}",
    "Syntax Error": f"Flash Writer still waits for an address: {RESET}",
    # CheckQspiFlashId: the HyperFlash did not answer with its ID
    "DEVICE ID Error": "set SW1 and SW6[3] ON as Flash Writer asked, then re-run",
    "command not found": "this Flash Writer has no xls2: use the ULCB build of Flash Writer",
    "\x08 Exit": "Flash Writer left xls2 without erasing",
}


def _send_file(ser, path: Path) -> None:  # noqa: ANN001 (pyserial Serial)
    ser.write(path.read_bytes())  # blocking write: pyserial handles partial writes
    ser.flush()


def sync_prompt(child, timeout: float = 60) -> None:  # noqa: ANN001 (pexpect child)
    """Press Enter, wait for '>', then swallow every further prompt already on its way."""
    import pexpect

    child.send("\r")
    child.expect(PROMPT, timeout=timeout)
    while True:
        try:
            child.expect(PROMPT, timeout=0.5)
        except pexpect.TIMEOUT:
            return


def switch_speed(child, ser, timeout: float = 10) -> None:  # noqa: ANN001
    """`sup`: Flash Writer announces the change, then talks at 921600 (dgmodul1.c); follow at once."""
    child.send("sup\r")
    child.expect(SUP_DONE, timeout=timeout)
    ser.baudrate = SUP_BAUD
    sync_prompt(child, timeout)


def write_part(child, ser, w: Write, say=print, timeout: float = 600) -> None:  # noqa: ANN001
    """One xls2 run, answered as its prompts appear; returns only after a verified save."""
    import pexpect

    child.send("xls2\r")
    idx = child.expect([HEADER, ERRORS, pexpect.TIMEOUT, pexpect.EOF], timeout=30)
    if idx != 0:
        raise UserError(
            f"Flash Writer did not start xls2 for {w.part.name}: {child.after if idx == 1 else 'no answer'}"
        )
    addresses = [f"{w.part.program_addr:X}", f"{w.part.flash_addr:X}"]
    saved, reported = False, None
    patterns = [
        SELECT,
        SWITCH,
        ADDRESS,
        SEND,
        CLEAR,
        SAVED,
        INFO,
        ERRORS,
        PROMPT,
        pexpect.TIMEOUT,
        pexpect.EOF,
    ]
    while True:
        idx = child.expect(patterns, timeout=timeout)
        if idx == 0:
            child.send("3\r")
        elif idx == 1:
            say(f"flash bootloader: Flash Writer asks: {' '.join(child.match.group(1).split())} (Push Y) → Y")
            child.send("y")
        elif idx == 2:
            if not addresses:
                raise UserError(
                    f"Flash Writer asked for a third address while writing {w.part.name}: {RESET}"
                )
            child.send(addresses.pop(0) + "\r")
        elif idx == 3:
            _send_file(ser, w.path)
        elif idx == 4:
            got = (int(child.match.group(1), 16), int(child.match.group(2), 16))
            if got != w.clear:
                child.send("n")
                raise UserError(
                    f"Flash Writer proposed to erase H'{got[0]:08X}-H'{got[1]:08X} for "
                    f"{w.path.name}, expected H'{w.clear[0]:08X}-H'{w.clear[1]:08X}: answered "
                    "n, nothing erased; did the file change since it was checked? Check it "
                    "with --dry-run"
                )
            child.send("y")
        elif idx == 5:
            saved = True
        elif idx == 6:
            reported = (int(child.match.group(1), 16), int(child.match.group(2), 16))
        elif idx == 7:
            err = child.match.group(1).strip("\x08 ")
            key = next(k for k in ADVICE if err.startswith(k.strip("\x08 ")))
            raise UserError(
                f"Flash Writer: {err} while writing {w.path.name} (program "
                f"H'{w.part.program_addr:X}, flash H'{w.part.flash_addr:X}): {ADVICE[key]}"
            )
        elif idx == 8:
            if not saved:
                # dgLS_Load_Offset2 returns to the prompt silently on '.' & CR, and so does any
                # failure whose text is not in ERRORS: nothing was saved.
                raise UserError(
                    f"Flash Writer returned to its prompt without 'SAVE SPI-FLASH....... "
                    f"complete!' for {w.path.name}: nothing saved; see its output with --log "
                    "(is the file a whole S-record file?)"
                )
            if reported != (w.start, w.end):
                shown = "nothing" if reported is None else f"H'{reported[0]:08X}-H'{reported[1]:08X}"
                raise UserError(
                    f"Flash Writer saved {w.path.name} at {shown}, expected "
                    f"H'{w.start:08X}-H'{w.end:08X}: the file changed since it was checked? "
                    "Do not power-cycle from HyperFlash; re-run with the right file"
                )
            return
        else:
            raise UserError(
                f"Flash Writer stopped answering while writing {w.part.name} "
                f"(timeout {timeout:.0f}s): {RESET}"
            )


def _stopped(writes: list[Write], failed: int) -> str:
    """What a failure at writes[failed] leaves: the parts already written and the --only to finish."""
    done = [w.part.name for w in writes[:failed]]
    rest = writes[failed:]
    again = " ".join(f"--only {w.part.name}" for w in rest)
    return f"; stopped there (written before: {', '.join(done) or 'none'}); when fixed, finish with {again}"


def run_bootloader(args: argparse.Namespace) -> int:
    dram = args.dram or BOARDS[args.board].default_dram
    if args.flash_writer is not None and not args.flash_writer.is_file():
        raise UserError(f"--flash-writer {args.flash_writer} does not exist; nothing written")
    writes = plan(args.board, dram, args.files_dir, args.only)
    if args.dry_run:
        print("\n".join(dry_run_lines(writes, args.flash_writer, args.sup, dram)))
        return 0
    if not args.yes:
        raise UserError(
            "writing bootloaders can leave the board unbootable until re-flashed: review "
            "--dry-run, then add --yes"
        )
    if not args.serial:
        raise UserError("flash bootloader needs --serial (the board's console in SCIF download mode)")

    import pexpect

    from generator.flash.console import open_console

    log = args.log.open("w", encoding="utf-8") if args.log else None
    try:
        with open_console(args.serial, 115200, logfile=log) as child:
            ser = child.serial
            if args.flash_writer:
                child.expect("please send !", timeout=120)
                _send_file(ser, args.flash_writer)
            sync_prompt(child)
            if args.sup:
                switch_speed(child, ser)
            for i, w in enumerate(writes):
                print(
                    f"flash bootloader: {w.part.name} ({w.path.name}) → H'{w.start:X}-H'{w.end:X}",
                    file=sys.stderr,
                )
                try:
                    write_part(child, ser, w, say=lambda s: print(s, file=sys.stderr))
                except UserError as exc:
                    raise UserError(f"{exc.message}{_stopped(writes, i)}", exc.exit_code) from None
    except pexpect.TIMEOUT as exc:
        raise UserError("no answer from the board: is it in SCIF download mode and --serial right?") from exc
    finally:
        if log:
            log.close()
    print(
        f"flash bootloader: wrote {len(writes)} part(s) ({dram}), each confirmed by Flash Writer at the "
        "expected address; set the boot switches back and power-cycle"
    )
    return 0
