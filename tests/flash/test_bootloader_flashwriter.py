"""`rcar-k8s flash bootloader` against the Flash Writer stand-in (tests/flash/flashwriter.py) on a pty.

The S-record files are made the way the BSP makes them: GNU objcopy -O srec --srec-forceS3 with the
load address (arm-trusted-firmware's Makefile for bl2/bl31, tools/renesas/rcar_layout_create for
bootparam/cert_header), so they carry an S0 header, S3 data records and an S7 end record.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from generator.errors import UserError
from generator.flash import bootloader
from tests.conftest import require_tool, run_cli
from tests.flash.flashwriter import FlashWriter

# (part, default file, 4x2g file, program address, HyperFlash address): meta-renesas scarthgap deploy
# names (arm-trusted-firmware_git.bb do_deploy/do_ipl_opt_deploy, optee-os, u-boot_2020.10.bb) and the
# Flash Writer application note's addresses. Written out here, not taken from the code under test.
TABLE = [
    ("bootparam", "bootparam_sa0.srec", "bootparam_sa0-4x2g.srec", 0xE6320000, 0x000000),
    ("bl2", "bl2-h3ulcb.srec", "bl2-h3ulcb-4x2g.srec", 0xE6304000, 0x040000),
    ("cert_header", "cert_header_sa6.srec", "cert_header_sa6-4x2g.srec", 0xE6320000, 0x180000),
    ("bl31", "bl31-h3ulcb.srec", "bl31-h3ulcb-4x2g.srec", 0x44000000, 0x1C0000),
    ("tee", "tee-h3ulcb.srec", "tee-h3ulcb.srec", 0x44100000, 0x200000),
    ("u-boot", "u-boot-elf-h3ulcb.srec", "u-boot-elf-h3ulcb.srec", 0x50000000, 0x640000),
]
SIZES = {
    "bootparam": 0x200,
    "bl2": 0x2A000,
    "cert_header": 0x1000,
    "bl31": 0x16000,
    "tee": 0x30000,
    "u-boot": 0x40000,
}


def make_srec(path: Path, addr: int, size: int, seed: int) -> bytes:
    """A real objcopy S-record of `size` pseudo-random bytes loaded at `addr`; returns the bytes."""
    objcopy = require_tool("objcopy")
    data = bytes((i * 131 + seed * 17 + (i >> 8)) & 0xFF for i in range(size))
    raw = path.with_suffix(".bin")
    raw.write_bytes(data)
    subprocess.run(
        [
            objcopy,
            "-I",
            "binary",
            "-O",
            "srec",
            "--srec-forceS3",
            f"--change-addresses=0x{addr:x}",
            str(raw),
            str(path),
        ],
        check=True,
    )
    raw.unlink()
    return data


def deploy_dir(tmp: Path, dram: str = "4x1g", addr_of: dict[str, int] | None = None) -> dict[str, bytes]:
    contents = {}
    for i, (name, file, file_4x2g, program, _flash) in enumerate(TABLE):
        addr = (addr_of or {}).get(name, program)
        contents[name] = make_srec(tmp / (file_4x2g if dram == "4x2g" else file), addr, SIZES[name], i)
    return contents


@pytest.fixture
def old_flash() -> bytearray:
    """HyperFlash with a previous boot chain in every slot, so each write must erase first."""
    flash = bytearray(b"\xff" * 0x4000000)
    for *_, flash_addr in TABLE:
        flash[flash_addr : flash_addr + 0x100] = b"\x5a" * 0x100
    return flash


@pytest.fixture
def fw(old_flash):
    board = FlashWriter(flash=old_flash).start()
    yield board
    board.stop()
    assert board.error is None, board.error


def _bl(tmp: Path, serial: str, *extra: str):
    return run_cli(
        "flash",
        "bootloader",
        "--files-dir",
        str(tmp),
        "--serial",
        serial,
        "--yes",
        "--log",
        str(tmp / "console.log"),
        *extra,
        timeout=300,
    )


def test_writes_every_part_through_rom_upload_and_sup(tmp_path: Path, old_flash):
    """Boot ROM upload, `sup` (host follows to 921600), six xls2 runs; the flash holds every file."""
    contents = deploy_dir(tmp_path)
    mot = tmp_path / "AArch64_Flash_writer_SCIF_DUMMY_CERT_E6300400_ULCB.mot"
    make_srec(mot, 0xE6300400, 0x800, 99)
    board = FlashWriter(flash=old_flash, boot_rom=True).start()
    try:
        res = _bl(tmp_path, board.path, "--flash-writer", str(mot), "--sup")
    finally:
        board.stop()
    assert board.error is None, board.error
    console = (tmp_path / "console.log").read_text(errors="replace")
    assert res.returncode == 0, res.stderr + console[-2000:]
    assert board.loaded_mot.startswith(b"S0")
    assert board.baud == 921600 and "sup" in board.events
    # Understood after the speed change: the host switched too (a garbled "xls2" is "command not found").
    assert board.commands == ["SUP"] + ["XLS2"] * 6
    for name, *_, flash_addr in TABLE:
        data = contents[name]
        assert bytes(board.flash[flash_addr : flash_addr + len(data)]) == data, name
    assert len([e for e in board.events if e.startswith("erased")]) == 6
    # Flash Writer's switch prompts are shown to the user (switch.c SwChgHyperFlash_SKIT).
    assert res.stderr.count("Flash Writer asks: SW1 ON! (Push Y)") == 6
    assert res.stderr.count("Flash Writer asks: SW6[3] ON! (Push Y)") == 6


def test_running_flash_writer_prompt_lf_cr(tmp_path: Path, fw: FlashWriter):
    """Flash Writer already at '>': Enter gives LF CR '>' (common.c GetStr), which must be recognised."""
    contents = deploy_dir(tmp_path)
    res = _bl(tmp_path, fw.path, "--only", "u-boot")
    assert res.returncode == 0, res.stderr
    assert b"\n\r>" in bytes(fw.transcript)
    assert fw.commands == ["XLS2"]
    start = 0x640000
    assert bytes(fw.flash[start : start + len(contents["u-boot"])]) == contents["u-boot"]


def test_misplaced_bl2_refused_before_anything_is_written(tmp_path: Path, fw: FlashWriter, old_flash):
    """bl2 linked at the pre-2.17 address E6302000: Flash Writer would erase the boot parameters."""
    deploy_dir(tmp_path, addr_of={"bl2": 0xE6302000})
    before = bytes(fw.flash)
    res = _bl(tmp_path, fw.path)
    assert res.returncode == 2
    err = res.stderr.strip().splitlines()[-1]
    assert "bl2-h3ulcb.srec starts at H'E6302000" in err
    assert "erase H'00000000-H'0007FFFF (the bootparam area)" in err
    assert fw.commands == [] and bytes(fw.flash) == before


def test_bootparam_at_wrong_address_program_over_size_fails(tmp_path: Path, fw: FlashWriter):
    """Driven past the pre-check: Flash Writer's "Program over size Error" is a failure, not success."""
    part = bootloader.BOARDS["h3ulcb"].parts[0]
    path = tmp_path / part.file
    make_srec(path, 0xE6310000, 0x200, 1)  # below the program top: the flash start wraps around
    wrong = bootloader.predict(
        part, path, bootloader.Srec(part.program_addr, part.program_addr, part.program_addr + 0x1FF)
    )
    before = bytes(fw.flash[:0x40000])
    child, ser, close = _console(fw)
    try:
        bootloader.sync_prompt(child, 10)
        with pytest.raises(UserError, match="Program over size Error while writing bootparam_sa0.srec"):
            bootloader.write_part(child, ser, wrong, say=lambda s: None, timeout=30)
    finally:
        close()
    _wait_for(lambda: fw.events)
    assert "over size" in fw.events
    assert bytes(fw.flash[:0x40000]) == before


def test_unexpected_clear_range_is_answered_no(tmp_path: Path, fw: FlashWriter):
    """Flash Writer proposes another erase range than predicted: 'n', nothing erased, one-line error."""
    part = bootloader.BOARDS["h3ulcb"].parts[1]
    path = tmp_path / part.file
    make_srec(path, part.program_addr, 0x50000, 2)  # larger than the prediction below assumes
    small = bootloader.predict(
        part, path, bootloader.Srec(part.program_addr, part.program_addr, part.program_addr + 0x2A000 - 1)
    )
    before = bytes(fw.flash)
    child, ser, close = _console(fw)
    try:
        bootloader.sync_prompt(child, 10)
        with pytest.raises(UserError, match=r"erase H'00040000-H'000BFFFF .*expected H'00040000-H'0007FFFF"):
            bootloader.write_part(child, ser, small, say=lambda s: None, timeout=30)
    finally:
        close()
    _wait_for(lambda: fw.events)  # the board thread handles the 'n' after the tool has raised
    assert fw.events == ["clear refused 00040000-000BFFFF"]
    assert bytes(fw.flash) == before


def test_dram_4x2g_uses_meta_renesas_variant_files(tmp_path: Path):
    deploy_dir(tmp_path, dram="4x2g")
    res = run_cli("flash", "bootloader", "--files-dir", str(tmp_path), "--dram", "4x2g", "--dry-run")
    assert res.returncode == 0, res.stderr
    files = {
        line.split()[0]: line.split()[1]
        for line in res.stdout.splitlines()
        if line.split() and line.split()[0] in [row[0] for row in TABLE]
    }
    assert files == {
        "bootparam": "bootparam_sa0-4x2g.srec",
        "bl2": "bl2-h3ulcb-4x2g.srec",
        "cert_header": "cert_header_sa6-4x2g.srec",
        "bl31": "bl31-h3ulcb-4x2g.srec",
        "tee": "tee-h3ulcb.srec",
        "u-boot": "u-boot-elf-h3ulcb.srec",
    }
    default = run_cli("flash", "bootloader", "--files-dir", str(tmp_path), "--dry-run")
    assert default.returncode == 2 and "missing in" in default.stderr and "bl2-h3ulcb.srec" in default.stderr


def test_oversized_file_would_erase_the_next_slot(tmp_path: Path):
    deploy_dir(tmp_path)
    make_srec(tmp_path / "bl31-h3ulcb.srec", 0x44000000, 0x48000, 3)  # > 256 KiB: reaches tee at 0x200000
    res = run_cli("flash", "bootloader", "--files-dir", str(tmp_path), "--dry-run")
    assert res.returncode == 2
    assert "would reach H'00200000 (the tee area)" in res.stderr


def _wait_for(cond, timeout: float = 10) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)


def _console(fw: FlashWriter):
    from generator.flash.console import open_console

    cm = open_console(fw.path, 115200)
    child = cm.__enter__()
    return child, child.serial, lambda: cm.__exit__(None, None, None)


# --- every way Flash Writer can refuse a part, each printed where flash_writer v1.0.12 prints it ---
@pytest.mark.parametrize(
    ("program", "flash", "said", "event", "advice"),
    [
        # dgLS_Load_Offset2: a program top outside DRAM H'40000000-H'BFFFFFFF / RAM H'E6300000-H'E635FFFF
        (0x30000000, 0x640000, "ERROR Load file.", "load error 30000000", "the program address is wrong"),
        # XLoadSpiflash0_2: a save address past S25FL512_END_ADDRESS (H'3FFFFFF)
        (0x50000000, 0x4000000, "Address Input Error", "address error 4000000", "flash address is wrong"),
        # SetAddInputKey: an address that is not a multiple of 4; Flash Writer asks again
        (0xE6304002, 0x040000, "Memory Boundary Error", "boundary error E6304002", "power-cycle the board"),
    ],
    ids=["load-file-error", "address-input-error", "memory-boundary-error"],
)
def test_flash_writer_error_fails_the_part_and_sends_nothing_more(
    tmp_path: Path, fw: FlashWriter, program: int, flash: int, said: str, event: str, advice: str
):
    """A part whose addresses Flash Writer refuses: one-line UserError naming the error and what to
    do; the file is not sent and no further answer is typed."""
    part = bootloader.Part("u-boot", "u-boot-elf-h3ulcb.srec", program, flash)
    path = tmp_path / part.file
    make_srec(path, program, 0x1000, 5)
    w = bootloader.predict(part, path, bootloader.scan_srec(path))
    before = bytes(fw.flash)
    child, ser, close = _console(fw)
    try:
        bootloader.sync_prompt(child, 10)
        with pytest.raises(UserError) as exc:
            bootloader.write_part(child, ser, w, say=lambda s: None, timeout=30)
    finally:
        close()
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"Flash Writer: {said} while writing u-boot-elf-h3ulcb.srec") and advice in msg
    _wait_for(lambda: event in fw.events)
    time.sleep(0.5)  # anything the tool still sent would reach the board by now
    assert fw.events == [event]
    last = f"{program:X}\r" if said == "Memory Boundary Error" else f"{flash:X}\r"
    assert bytes(fw.received).endswith(last.encode())  # the last thing typed: the refused address
    assert bytes(fw.flash) == before


def _relinked(path: Path, offset: int) -> None:
    """The file rebuilt linked `offset` bytes higher (same sector), e.g. by a bitbake run meanwhile."""
    srec = bootloader.scan_srec(path)
    make_srec(path, srec.low + offset, srec.high - srec.low + 1, 7)


def _load_stopped(path: Path) -> None:
    """The file's end record replaced by '.': Flash Writer's loader stops on '.' & CR and goes back
    to '>' without a word (dgLS_Load_Offset2), nothing saved."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("S7")]
    path.write_text("\n".join(lines + ["."]) + "\r")


@pytest.mark.parametrize(
    ("change", "said", "event"),
    [
        (
            lambda p: _relinked(p, 0x100),
            "Flash Writer saved bl2-h3ulcb.srec at H'00040100-H'0006A0FF, expected H'00040000-H'00069FFF",
            "saved 00040100-0006A0FF",
        ),
        (
            _load_stopped,
            "Flash Writer returned to its prompt without 'SAVE SPI-FLASH....... complete!' "
            "for bl2-h3ulcb.srec: nothing saved",
            "load stopped",
        ),
    ],
    ids=["saved-at-unexpected-address", "prompt-without-complete"],
)
def test_part_not_confirmed_stops_the_run(
    tmp_path: Path, fw: FlashWriter, old_flash, monkeypatch, capsys, change, said, event
):
    """bl2 changes between the check and its write: the whole `flash bootloader` run ends there with
    one line saying what happened and how to finish; cert_header and later are never started."""
    from generator import cli

    deploy_dir(tmp_path)
    planned = bootloader.plan

    def plan_then_rebuild(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        writes = planned(*args, **kwargs)
        change(tmp_path / "bl2-h3ulcb.srec")
        return writes

    monkeypatch.setattr(bootloader, "plan", plan_then_rebuild)
    monkeypatch.setenv("RCAR_K8S_TOOLS_NEXT_TO_PYTHON", "0")
    untouched = {addr: bytes(old_flash[addr : addr + 0x100]) for *_, addr in TABLE[2:]}
    rc = cli.main(["flash", "bootloader", "--files-dir", str(tmp_path), "--serial", fw.path, "--yes"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith(f"rcar-k8s: error: {said}")
    assert err[-1].endswith(
        "; stopped there (written before: bootparam); when fixed, finish with --only bl2 "
        "--only cert_header --only bl31 --only tee --only u-boot"
    )
    assert not [line for line in err if line.startswith("flash bootloader: cert_header")]
    _wait_for(lambda: event in fw.events)
    time.sleep(0.5)
    assert fw.commands == ["XLS2", "XLS2"]
    assert {addr: bytes(fw.flash[addr : addr + 0x100]) for addr in untouched} == untouched
