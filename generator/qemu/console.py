"""Drive a QEMU guest's serial console with pexpect: milestones with timestamps, login, guest commands.

Times are seconds since QEMU was started (host monotonic clock). The guest's own systemd timestamps
(``ActiveEnterTimestampMonotonic``, microseconds since kernel start) are mapped onto the same axis with
``kernel_t0``: the smallest (host time seen - printk time) over all ``[ 12.345678]`` console lines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

import pexpect

# (name, pattern) in boot order; the first match of each is recorded once.
MILESTONES: tuple[tuple[str, bytes], ...] = (
    ("kernel_banner", rb"Linux version \d"),
    ("init", rb"Run \S+ as init process"),
    ("systemd", rb"systemd\[1\]: systemd \d+ running|systemd \d+ running in system mode|Welcome to "),
    ("login_prompt", rb"\S+ login: "),
)
PRINTK = re.compile(rb"\[\s*(\d+\.\d{3,})\] ")


class GuestTimeout(Exception):
    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} not seen within {seconds:.0f} s")
        self.what = what


class Console:
    def __init__(self, cmd: Sequence[str], log_path: Path | None = None) -> None:
        self.cmd = list(cmd)
        self.buf = b""
        self.marks: dict[str, float] = {}
        self.kernel_t0: float | None = None
        self._scanned = 0
        self._n = 0
        self._log = open(log_path, "wb") if log_path else None  # noqa: SIM115 - closed in close()
        self.t0 = time.monotonic()
        self.child = pexpect.spawn(self.cmd[0], self.cmd[1:], timeout=None, maxread=65536, echo=False)

    # ---------------------------------------------------------------- reading
    def now(self) -> float:
        return round(time.monotonic() - self.t0, 2)

    def pump(self, timeout: float) -> bool:
        """Read what is there (up to ``timeout`` s); record milestones. False on timeout; EOFError at exit."""
        try:
            data = self.child.read_nonblocking(65536, timeout=max(timeout, 0.01))
        except pexpect.TIMEOUT:
            return False
        except pexpect.EOF:
            raise EOFError("QEMU exited") from None
        now = time.monotonic() - self.t0
        self.buf += data
        if self._log:
            self._log.write(data)
            self._log.flush()
        tail = self.buf[self._scanned :]
        for name, pat in MILESTONES:
            if name not in self.marks and re.search(pat, self.buf[max(0, self._scanned - 200) :]):
                self.marks[name] = round(now, 2)
        for m in PRINTK.finditer(tail):
            off = now - float(m.group(1))
            if self.kernel_t0 is None or off < self.kernel_t0:
                self.kernel_t0 = off
        self._scanned = len(self.buf)
        return True

    def expect(
        self, pattern: bytes, timeout: float, start: int = 0, what: str | None = None
    ) -> re.Match[bytes]:
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.buf, start)
            if m:
                return m
            left = end - time.monotonic()
            if left <= 0:
                raise GuestTimeout(what or pattern.decode(errors="replace"), timeout)
            self.pump(min(left, 1.0))

    def send(self, text: str) -> None:
        self.child.send(text.encode())

    # ---------------------------------------------------------------- login + commands
    def login(self, user: str, password: str, timeout: float) -> None:
        m = self.expect(rb"\S+ login: ", timeout, what="login prompt")
        self.send(user + "\n")
        m = self.expect(rb"Password: |[#$] $|[#$] \x1b", 60, start=m.end(), what="password prompt or shell")
        if m.group(0).startswith(b"Password"):
            self.send(password + "\n")
            m = self.expect(
                rb"[#$] $|[#$] \x1b|Login incorrect", 60, start=m.end(), what="shell after password"
            )
            if b"incorrect" in m.group(0):
                raise GuestTimeout(f"login as {user} (wrong password; pass --password)", 0)
        self.marks["shell"] = self.now()
        # quiet kernel messages on the console, no echo/pager/colours so command output is clean
        self.send(
            "dmesg -n 1; stty -echo cols 250; export SYSTEMD_PAGER= SYSTEMD_COLORS=0 TERM=dumb PAGER=cat\n"
        )
        self.run("true", timeout=60)

    def run(self, shell_cmd: str, timeout: float = 60) -> tuple[int, str]:
        """Run a guest shell command; (exit code, output). The echoed command line never matches the
        markers because they are split by an empty quote pair."""
        self._n += 1
        n = self._n
        start = len(self.buf)
        self.send(f"echo __B''{n}__; {shell_cmd}; echo __E''{n}__ rc=$?\n")
        b = self.expect(rf"__B{n}__\r*\n".encode(), timeout, start, what=f"output of `{shell_cmd}`")
        e = self.expect(rf"__E{n}__ rc=(\d+)".encode(), timeout, b.end(), what=f"end of `{shell_cmd}`")
        out = self.buf[b.end() : e.start()].decode(errors="replace").replace("\r", "")
        lines = [ln for ln in out.split("\n") if not PRINTK.match(ln.encode())]  # stray kernel lines
        return int(e.group(1)), "\n".join(lines).strip()

    # ---------------------------------------------------------------- end
    def tail(self, n: int = 50) -> list[str]:
        text = self.buf.decode(errors="replace").replace("\r", "")
        return text.split("\n")[-n:]

    def guest_time(self, monotonic_us: int) -> float | None:
        """Guest CLOCK_MONOTONIC (us since kernel start) on the host axis, when printk times were seen."""
        if self.kernel_t0 is None or monotonic_us <= 0:
            return None
        return round(self.kernel_t0 + monotonic_us / 1e6, 2)

    def poweroff(self, timeout: float = 120) -> bool:
        """Clean shutdown via systemd; True when QEMU exited by itself."""
        try:
            self.send("poweroff\n")
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                self.pump(1.0)
        except EOFError:
            self.marks["qemu_exit"] = self.now()
            return True
        return False

    def close(self) -> int | None:
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close()
        if "qemu_exit" not in self.marks:
            self.marks["qemu_exit"] = self.now()
        if self._log:
            self._log.close()
            self._log = None
        return self.child.exitstatus
