"""Drive a U-Boot prompt over a pexpect child: stop autoboot, run commands, check ``$?``.

Every command is followed by ``echo rc=$?`` (U-Boot's hush shell) so failures are detected from
the exit status, not by guessing at message texts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pexpect

from generator.errors import UserError

AUTOBOOT = re.compile(r"Hit any key to stop autoboot|autoboot in \d+ seconds")
RC = re.compile(r"\brc=(\d+)\b")


@dataclass(frozen=True)
class Step:
    """One U-Boot command line; ``check`` validates its output (raises UserError)."""

    cmd: str
    check: Callable[[str], None] | None = None
    timeout: float = 60.0
    what: str = ""
    hint: str = ""  # replaces the generic failure message when the command fails


class UBoot:
    def __init__(
        self, child: pexpect.spawnbase.SpawnBase, prompt: str = "=> ", char_delay: float = 0.0
    ) -> None:
        self.child = child
        self.prompt = prompt
        # The prompt always starts a line; this keeps "crc32 ... ==> 1234abcd" from matching "=> ".
        self._prompt_re = re.compile(r"(?:\r\n|\n|\r)" + re.escape(prompt))
        self.char_delay = char_delay
        self.banner = ""

    def stop_autoboot(self, timeout: float = 120.0) -> None:
        """Reach the prompt whatever state U-Boot is in: booting, counting down, or idle."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        self.child.send("\r")
        while time.monotonic() < deadline:
            idx = self.child.expect([AUTOBOOT, self._prompt_re, pexpect.TIMEOUT, pexpect.EOF], timeout=3)
            seen.append(self.child.before or "")
            if idx == 0:
                self.child.send(" ")  # any key; a space is harmless if it lands at the prompt
            elif idx == 1:
                self.banner = "".join(seen)
                self._drain()
                return
            elif idx == 2:
                self.child.send("\x03\r")  # Ctrl-C aborts a running bootcmd, then ask for a prompt
            else:
                raise UserError("serial console closed while waiting for U-Boot (is the board powered?)")
        raise UserError(
            f"no U-Boot prompt {self.prompt!r} within {timeout:.0f}s: power-cycle or reset the "
            "board while this command waits, check --serial and the baud rate"
        )

    def _drain(self) -> None:
        """Swallow further prompts queued by our keystrokes so the next command starts clean."""
        self.child.sendline("")
        while True:
            try:
                self.child.expect(self._prompt_re, timeout=0.5)
            except pexpect.TIMEOUT:
                return

    def _sendline(self, line: str) -> None:
        if self.char_delay:
            for ch in line:
                self.child.send(ch)
                time.sleep(self.char_delay)
        else:
            self.child.send(line)
        self.child.send("\r")

    def _roundtrip(self, line: str, timeout: float) -> str:
        self._sendline(line)
        try:
            self.child.expect(self._prompt_re, timeout=timeout)
        except pexpect.TIMEOUT as exc:
            raise UserError(
                f"U-Boot did not return to the prompt within {timeout:.0f}s after `{line}`"
            ) from exc
        except pexpect.EOF as exc:
            raise UserError(f"serial console closed during `{line}`") from exc
        out = (self.child.before or "").replace("\r", "")
        # Drop the echoed command line.
        return out.split("\n", 1)[1] if "\n" in out else ""

    def run(self, step: Step) -> str:
        """Run one step; raise UserError on a non-zero ``$?`` or a failed check."""
        out = self._roundtrip(step.cmd, step.timeout)
        status = RC.search(self._roundtrip("echo rc=$?", 10))
        if status is None:
            raise UserError("U-Boot did not report `$?`: this tool needs the hush shell (CONFIG_HUSH_PARSER)")
        if status.group(1) != "0" and step.hint:
            raise UserError(step.hint)
        if status.group(1) != "0":
            last = out.strip().splitlines()[-1] if out.strip() else "no output"
            raise UserError(f"U-Boot command `{step.cmd}` failed (rc={status.group(1)}): {last}")
        if step.check:
            step.check(out)
        return out
