"""Read a kernel configuration: ``.config``, ``config.gz``, ``/proc/config.gz``, ``/boot/config-*``.

Every problem is a one-line ``UserError`` (exit 2): missing file, truncated gzip, not a config.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import UserError
from generator.kernel.versions import Version

_HEADER = re.compile(r"^#\s*Linux/(\S+)\s+(\d+\.\d+(?:\.\d+)?)\S*\s+Kernel Configuration", re.M)
_SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^#\s*CONFIG_([A-Za-z0-9_]+) is not set\s*$")


@dataclass
class KernelConfig:
    values: dict[str, str]  # SYMBOL -> y / m / n / "string" / number; n for "is not set"
    version: Version | None = None
    version_text: str | None = None
    arch: str | None = None
    source: str = "<text>"
    notes: list[str] = field(default_factory=list)

    def get(self, symbol: str) -> str | None:
        """The value, ``n`` for "is not set", None when the symbol is absent from the file."""
        return self.values.get(symbol)


def parse(text: str, source: str = "<text>") -> KernelConfig:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        m = _SET.match(line)
        if m:
            values[m.group(1)] = m.group(2).strip()
            continue
        m = _UNSET.match(line)
        if m:
            values[m.group(1)] = "n"
    header = _HEADER.search(text)
    if not values:
        raise UserError(
            f"{source}: not a kernel config (no CONFIG_ lines); pass a .config, config.gz or /proc/config.gz"
        )
    cfg = KernelConfig(values=values, source=source)
    if header:
        from generator.kernel.versions import parse_version

        cfg.arch, cfg.version_text = header.group(1), header.group(2)
        cfg.version = parse_version(header.group(2))
    return cfg


def decode(data: bytes, source: str) -> str:
    """Bytes of a plain or gzip-compressed config -> text."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise UserError(
                f"{source}: broken gzip ({exc}); copy the file again (zcat {source} must work)"
            ) from None
    if b"\x00" in data[:4096]:
        raise UserError(
            f"{source}: not a kernel config (binary data); pass a .config, config.gz or /proc/config.gz"
        )
    return data.decode("utf-8", errors="replace")


def read(path: Path) -> KernelConfig:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such file; pass a kernel .config or config.gz, or use --running"
        ) from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory; pass the .config file inside it") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied; run as a user that can read it") from None
    return parse(decode(data, str(path)), str(path))


def running_candidates(release: str | None = None) -> list[Path]:
    """Where kubeadm's validator looks for the running kernel's config, in its order."""
    r = release or os.uname().release
    return [
        Path(p)
        for p in (
            "/proc/config.gz",
            f"/boot/config-{r}",
            f"/usr/src/linux-{r}/.config",
            "/usr/src/linux/.config",
            f"/usr/lib/modules/{r}/config",
            f"/usr/lib/ostree-boot/config-{r}",
            f"/usr/lib/kernel/config-{r}",
            f"/usr/src/linux-headers-{r}/.config",
            f"/lib/modules/{r}/build/.config",
        )
    ]


def read_running() -> KernelConfig:
    for path in running_candidates():
        if path.is_file():
            return read(path)
    raise UserError(
        "no config for the running kernel (/proc/config.gz, /boot/config-$(uname -r), ...); "
        "try `modprobe configs`, or build with CONFIG_IKCONFIG_PROC=y (the ikconfig fragment)"
    )
