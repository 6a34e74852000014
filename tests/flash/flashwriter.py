"""Renesas Flash Writer (ULCB build) on a pty, written from its sources' dialogue.

Source: renesas-rcar/flash_writer at SOURCE_TAG/SOURCE_COMMIT below, built for the Starter Kit
(makefile BOARD=ULCB: RCAR_GEN3_SALVATOR with RCAR_GEN3_ULCB=1; SERIAL_FLASH and EMMC at their makefile
default ENABLE). tests/flash/test_flashwriter_source.py reads those sources from the mirror and checks
every string below against them. What is reproduced and where it comes from:

- common.c PutStr(str, 1) ends a line with CR LF; GetStr() echoes typed characters, ignores LF, ends
  at CR and then prints LF CR (``PutChar(LF_CODE); PutChar(CR_CODE)``); DelStr(n) = n BS, n spaces, n BS.
- main.c StartMess/DecCom: banner, ``>``; the first key: CR -> LF CR ``>``, other keys echoed; then
  ``GetStr`` + command table lookup (dgtable.c, upper-cased exact match) + ``PutStr(">", 0)``;
  unknown -> "command not found".
- Message.c: StartMessMonitor (the banner) and AllHelpMess (``h``), both through PutMess (ENB_RTN).
- dgmodul1.c dgScifSpeedUp_921600 (SUP): two lines, then the SCIF is switched to 921600 baud and the
  next ``>`` goes out at the new speed.
- dgmodul4.c XLoadSpiflash0_2 (XLS2) / SelQspiFlashSetSw / SetAddInputKey / dgLS_Load_Offset2 /
  CkHyperFlashClearSectorSize, switch.c SwChgHyperFlash_SKIT, hyperflashdrv.c
  SectorEraseHyperFlashRange: every prompt, the S-record loader with its address offset, the
  ``PrgSpiStatAdd``/clear-range arithmetic (uint32, 256 KiB sectors), "Clear OK?(y/n)" only when the
  range is not blank, "Program over size Error", "ERROR Load file.", "Address Input Error",
  "Memory Boundary Error", " complete!" and the Save Information block. Each error is printed where
  the C code prints it, so a host that types a misaligned address, a save address past the flash or
  a program address outside DRAM/System RAM gets the board's own answer.
- The link speed is real: the stand-in reads the baud rate the host set on the pty (termios) and
  garbles every byte that crosses the line while the two speeds differ, like a UART would.

The HyperFlash is a 64 MiB bytearray with NOR semantics (erase -> 0xFF per 256 KiB sector, program
can only clear bits), so a wrong erase or a write without erase shows in the flash contents. The
boot ROM's SCIF download banner is not in these sources; its text is the application note's
(docs/application-note.md §5.1).
"""

from __future__ import annotations

import os
import pty
import select
import termios
import threading
import tty

CR, LF, BS = b"\r", b"\n", b"\x08"
FLASH_SIZE = 0x4000000  # S25FL512_END_ADDRESS + 1 (dgmodul4.h)
SECTOR_MASK = 0xFFFC0000  # XLoadSpiflash0_2 MaskSectorSize
WORK_START = 0x50000000  # LS_WORK_DRAM_SADD
WORK_END = 0x53FFFFFF  # LS_WORK_DRAM_EADD_64M
SYSTEMRAM_SADD, PUBLICRAM_EADD = 0xE6300000, 0xE635FFFF
# The Flash Writer these strings come from. No recipe of meta-renesas at the commit kas pins
# (ed600900, scarthgap) builds Flash Writer, so the pin lives here: the newest release tag of
# https://github.com/renesas-rcar/flash_writer ("Release Flash writer V1.0.12", 2021-06-04).
SOURCE_TAG = "v1.0.12"
SOURCE_COMMIT = "89e18eaa543e548b4a49c7731dd998c4898eacd9"
# Message.c StartMessMonitor: "Flash writer for R-Car " SOC_NAME " Series " WRITER_VERSION " " WRITER_DATE
BANNER = "Flash writer for R-Car H3/M3/M3N Series V1.12 Jun.4,2021"
# Message.c AllHelpMess with SERIAL_FLASH == 1 and EMMC == 1
HELP = (
    "        HyperFlash/SPI Flash write command",
    " XCS            erase program to HyperFlash/SPI Flash",
    " XLS2           write program to HyperFlash/SPI Flash",
    " XLS3           write program to HyperFlash/SPI Flash(Binary)",
    "",
    "        eMMC write command",
    " EM_DCID        display register CID",
    " EM_DCSD        display register CSD",
    " EM_DECSD       display register EXT_CSD",
    " EM_SECSD       change register EXT_CSD byte",
    " EM_W           write program to eMMC",
    " EM_WB          write program to eMMC (Binary)",
    " EM_E           erase program to eMMC",
    " SUP            Scif speed UP (Change to speed up baud rate setting)",
    " H              help",
)
ROM_BANNER = (
    "SCIF Download mode (w/o verification)\r\n(C) Renesas Electronics Corp.\r\n\r\n"
    "-- Load Program to SystemRAM ---------------\r\nplease send !\r\n"
)
BAUDS = {termios.B115200: 115200, termios.B921600: 921600}
U32 = 0xFFFFFFFF


class Stop(Exception):
    pass


class FlashWriter:
    """Run with ``start()``; the host opens ``path`` (a real tty) with pyserial."""

    def __init__(self, flash: bytearray | None = None, boot_rom: bool = False) -> None:
        self.flash = flash if flash is not None else bytearray(b"\xff" * FLASH_SIZE)
        self.boot_rom = boot_rom
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        attrs = termios.tcgetattr(self.slave)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        self.path = os.ttyname(self.slave)
        self._attrs0 = termios.tcgetattr(self.slave)
        self.baud = 115200  # the board's SCIF speed
        self.ram: dict[int, int] = {}
        self.transcript = bytearray()  # what the board sent, as sent
        self.received = bytearray()  # what the board understood
        self.commands: list[str] = []
        self.events: list[str] = []
        self.loaded_mot = b""
        self._inbuf, self._pos = b"", 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    # --- the line ---------------------------------------------------------------------------
    def host_baud(self) -> int:
        attrs = termios.tcgetattr(self.slave)
        return BAUDS.get(attrs[5], -1)

    def put(self, data: str | bytes) -> None:
        raw = data.encode("latin-1") if isinstance(data, str) else data
        self.transcript += raw
        if self.host_baud() != self.baud:
            raw = bytes(0x80 | (b ^ 0x55) for b in raw)  # framing errors on the host side
        os.write(self.master, raw)

    def get(self) -> int:
        while self._pos >= len(self._inbuf):
            if self._stop.is_set():
                raise Stop
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                continue
            if self.host_baud() != self.baud:  # the host sent at another speed: garbage arrives
                chunk = bytes(0x80 | (c ^ 0x55) for c in chunk)
            self._inbuf, self._pos = chunk, 0
        c = self._inbuf[self._pos]
        self._pos += 1
        self.received.append(c)
        return c

    def put_str(self, s: str, rtn: int) -> None:  # common.c PutStr
        self.put(s + ("\r\n" if rtn == 1 else ""))

    def put_mess(self, mess: tuple[str, ...]) -> None:  # common.c PutMess: PutStr(mess[i], ENB_RTN)
        for line in mess:
            self.put_str(line, 1)

    def put_hex(self, value: int, rtn: int) -> None:  # Data2HexAscii(value, str, 4); PutStr(str, rtn)
        self.put_str(f"{value & U32:08X}", rtn)

    def get_str(self) -> str:  # common.c GetStr
        buf: list[str] = []
        while True:
            c = self.get()
            if c == 0x0D:
                break
            if c == 0x08:
                if buf:
                    self.put(BS + b" " + BS)
                    buf.pop()
            elif c == 0x0A:
                pass
            else:
                self.put(bytes([c]))
                buf.append(chr(c))
        self.put(LF + CR)
        return "".join(buf)

    def del_str(self, n: int) -> None:  # common.c DelStr
        self.put(BS * n + b" " * n + BS * n)

    def wait_key_y(self) -> None:  # common.c WaitKeyIn_Y
        while chr(self.get()) not in "yY":
            pass

    def wait_key_yn(self) -> bool:  # common.c WaitKeyIn_YorN: True = No
        while True:
            c = chr(self.get())
            if c in "yY":
                return False
            if c in "nN":
                return True

    # --- the program ------------------------------------------------------------------------
    def start(self) -> FlashWriter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self.master)
        os.close(self.slave)

    def _run(self) -> None:
        try:
            if self.boot_rom:
                self._boot_rom()
            self._main()
        except Stop:
            pass
        except BaseException as exc:  # surfaced by tests through .error
            self.error = exc

    def _power_on_when_host_listens(self) -> None:
        """The user starts the tool, then powers the board: wait until the host has opened and set up
        the port (pyserial changes the termios flags and flushes input on open)."""
        while termios.tcgetattr(self.slave) == self._attrs0:
            if self._stop.wait(0.02):
                raise Stop
        self._stop.wait(0.3)

    def _boot_rom(self) -> None:
        """SCIF download mode: take an S-record file into System RAM, then start it."""
        self._power_on_when_host_listens()
        self.put(ROM_BANNER)
        mot = bytearray()
        while True:
            line = bytearray()
            while (c := self.get()) not in (0x0A, 0x0D):
                line.append(c)
            if line:
                mot += line + b"\n"
            if line[:2] in (b"S7", b"S8", b"S9"):
                break
        self.loaded_mot = bytes(mot)

    def _main(self) -> None:  # main.c StartMess + DecCom
        self.put_str("  ", 1)
        self.put_mess((BANNER,))
        self.put_str(">", 0)
        first = self.get()
        pending = ""
        if first == 0x0D:
            self.put(LF + CR)
            self.put_str(">", 0)
        elif first != 0x0A:
            self.put(bytes([first]))
            pending = chr(first)
        while True:
            line = pending + self.get_str()
            pending = ""
            token = line.split()[0].upper() if line.split() else ""
            if token:
                self.commands.append(token)
                handler = {"XLS2": self.xls2, "SUP": self.sup, "H": self.help}.get(token)
                if handler is None:
                    self.put_str("command not found", 1)
                else:
                    handler()
            self.put_str(">", 0)

    def help(self) -> None:  # dgmodul1.c dgHelp
        self.put_mess(HELP)

    def sup(self) -> None:  # dgmodul1.c dgScifSpeedUp_921600
        self.put_str("Scif speed UP", 1)
        self.put_str("Please change to 921.6Kbps baud rate setting of the terminal.", 1)
        self.baud = 921600  # SetScif2_DL: from here on the board talks at 921600
        self.events.append("sup")

    def _select_flash(self) -> bool:  # dgmodul4.c SelQspiFlashSetSw, switch.c SwChgHyperFlash_SKIT
        self.put_str("Please select,FlashMemory. ", 1)
        self.put_str("   1 : QspiFlash       (U5 : S25FS128S)", 1)
        self.put_str("   2 : QspiFlash Board (CN2: S25FL512S)", 1)
        self.put_str("   3 : HyperFlash      (SiP internal)", 1)
        while True:
            self.put_str("  Select (1-3)>", 0)
            s = self.get_str()
            if s[:1] == "3":
                break
            if s[:1] in ("1", "2"):
                raise AssertionError("stand-in emulates HyperFlash (3) only; the tool chose " + s)
        self.put_str("SW1    ON!                Setting OK? (Push Y key)", 0)
        self.wait_key_y()
        self.del_str(50)
        self.put_str("SW6[3] ON!                Setting OK? (Push Y key)", 0)
        self.wait_key_y()
        self.del_str(50)
        return True

    def _input_address(self, current: int) -> int:  # dgmodul4.c SetAddInputKey
        """The typed address, or `current` unchanged for '.' (which sets gUserPrgStartAdd instead)."""
        while True:
            self.put_str("  Please Input : H'", 0)
            key = self.get_str()
            tok = key.split()[0] if key.split() else ""
            if not tok:
                continue
            if tok[0] == ".":
                self.user_top = 0x40000000
                return current
            if len(tok) > 8:
                self.put_str("Syntax Error", 1)
                continue
            try:
                value = int(tok, 16)
            except ValueError:
                self.put_str("Syntax Error", 1)
                continue
            if value & 3:
                self.put_str("Memory Boundary Error", 1)
                self.events.append(f"boundary error {tok}")
                continue
            return value

    def xls2(self) -> None:  # dgmodul4.c XLoadSpiflash0_2(0)
        self.put_str("===== Qspi/HyperFlash writing of Gen3 Board Command =============", 1)
        self.put_str("Load Program to Spiflash", 1)
        self.put_str("Writes to any of SPI address.", 1)
        self._select_flash()
        self.put_str(" READ ID OK.", 1)
        self.put_str("Program Top Address & Qspi/HyperFlash Save Address ", 1)
        self.put_str("===== Please Input Program Top Address ============", 1)
        self.user_top = 0
        self.user_top = self._input_address(self.user_top)
        self.put_str(" ", 1)
        self.put_str("===== Please Input Qspi/HyperFlash Save Address ===", 1)
        save = self._input_address(0)
        top = self.user_top
        if save > FLASH_SIZE - 1:
            self.put_str("Address Input Error", 1)
            self.put_str("Range of H'000_0000 ~ H'3FF_FFFF", 1)
            self.events.append(f"address error {save:X}")
            return
        self.put_str("Work RAM(H'50000000-H'53FFFFFF) Clear....", 1)
        self.ram.clear()
        loaded = self._load_srec(top)
        if loaded is None:
            return
        lo, hi = loaded
        stat = (save + (lo - WORK_START)) & U32
        end = (stat + (hi - lo)) & U32
        size = (end - stat + 1) & U32
        if end > FLASH_SIZE - 1:
            self.put_str("Program over size Error", 1)
            self.put_str(" SpiFlashMemory Stat Address : H'", 0)
            self.put_hex(stat, 1)
            self.put_str(" SpiFlashMemory End Address  : H'", 0)
            self.put_hex(end, 1)
            self.events.append("over size")
            return
        clr_start, clr_end = stat & SECTOR_MASK, end | (~SECTOR_MASK & U32)
        self.put_str("SPI Data Clear(H'FF) Check :", 0)
        if self.flash[clr_start : clr_end + 1].count(0xFF) != clr_end + 1 - clr_start:
            s1, s2 = f"{clr_start:08X}", f"{clr_end:08X}"
            self.put_str("H'", 0)
            self.put_hex(clr_start, 0)
            self.put_str("-", 0)
            self.put_hex(clr_end, 0)
            self.put_str(",Clear OK?(y/n)", 0)
            if self.wait_key_yn():
                self.del_str(34)
                self.put_str(" Exit ", 1)
                self.events.append(f"clear refused {s1}-{s2}")
                return
            self.del_str(34)
            self.put_str("H'", 0)
            self.put_hex(clr_start, 0)
            self.put_str("-", 0)
            self.put_hex(clr_end, 0)
            self.put_str(" Erasing.", 0)
            for sector in range(clr_start, (clr_end & SECTOR_MASK) + 1, 0x40000):
                self.flash[sector : sector + 0x40000] = b"\xff" * 0x40000
                self.put_str(".", 0)
            self.put_str("Erase Completed ", 1)
            self.events.append(f"erased {s1}-{s2}")
        else:
            self.put_str(" OK ", 1)
        self.put_str("SAVE SPI-FLASH.......", 0)
        for i in range(size):  # NOR program: bits can only go from 1 to 0
            self.flash[stat + i] &= self.ram.get(lo + i, 0xFF)
        self.put_str(" complete!", 1)
        self.events.append(f"saved {stat:08X}-{end:08X}")
        self.put_str("", 1)
        self.put_str("======= Qspi/HyperFlash Save Information  =================", 1)
        self.put_str(" SpiFlashMemory Stat Address : H'", 0)
        self.put_hex(stat, 1)
        self.put_str(" SpiFlashMemory End Address  : H'", 0)
        self.put_hex(end, 1)
        self.put_str("===========================================================", 1)
        self.put_str("", 1)

    def _hex(self, nbytes: int) -> int:  # GetStr_ByteCount + HexAscii2Data
        digits = bytes(self.get() for _ in range(2 * nbytes))
        return int(digits, 16)

    def _load_srec(self, top: int) -> tuple[int, int] | None:  # dgmodul4.c dgLS_Load_Offset2
        if 0x40000000 <= top < WORK_START:
            offset, add = WORK_START - top, True
        elif WORK_START <= top < 0xC0000000 or SYSTEMRAM_SADD <= top <= PUBLICRAM_EADD:
            offset, add = top - WORK_START, False
        else:
            self.put_str(
                "ERROR Load file.   <Download  file  DRAM(H'40000000-H'BFFFFFFF) , "
                "RAM(H'E6300000-H'E635FFFF) ONLY > ",
                1,
            )
            self.events.append(f"load error {top:X}")
            return None
        lo, hi = U32, 0
        self.put_str("please send ! ('.' & CR stop load)", 1)
        while True:
            while (c := chr(self.get())) not in ".sS":
                pass
            if c == ".":  # '.' & CR: back to the prompt, nothing written, nothing said
                while self.get() != 0x0D:
                    pass
                self.events.append("load stopped")
                return None
            kind = chr(self.get())
            if kind == "0":
                while self.get() not in (0x0D, 0x0A):
                    pass
                continue
            if kind in "789" or kind not in "123":
                while self.get() not in (0x0D, 0x0A):
                    pass
                return lo, hi
            width = {"1": 2, "2": 3, "3": 4}[kind]
            count = self._hex(1) - width
            addr = self._hex(width)
            addr = (addr + offset if add else addr - offset) & U32
            lo = min(lo, addr)
            for _ in range(count - 1):
                self.ram[addr] = self._hex(1)
                addr += 1
            hi = max(hi, addr - 1)
            self._hex(1)  # checksum (Flash Writer does not verify it)
            self.get()  # CR or LF
