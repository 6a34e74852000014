"""Is this block device safe to overwrite with an SD card image? Facts from lsblk JSON + sysfs.

Both sources are injectable (``sysfs_root``, ``lsblk_json``, ``is_block``) so tests describe devices
with recorded fixture trees; on a host they are ``/sys`` and ``lsblk --json``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from generator import program
from generator.errors import UserError

LSBLK_COLUMNS = "NAME,PATH,TYPE,RM,HOTPLUG,SIZE,MODEL,VENDOR,TRAN,MOUNTPOINTS"


@dataclass(frozen=True)
class DeviceFacts:
    path: str
    name: str
    is_block: bool
    kind: str = ""  # lsblk TYPE: disk, part, loop, rom...
    removable: bool = False  # sysfs "removable" (media can be swapped)
    hotplug: bool = False  # lsblk HOTPLUG (USB, MMC/SD, ... bus)
    mmc_type: str | None = None  # sysfs device/type on MMC hosts: "SD" card or "MMC" (eMMC)
    size: int = 0
    model: str = ""
    transport: str = ""
    mountpoints: tuple[str, ...] = field(default_factory=tuple)  # of the disk and everything on it

    def describe(self) -> str:
        what = " ".join(x for x in (self.model, f"({self.transport})" if self.transport else "") if x)
        return f"{self.path}: {what or 'unknown model'}, {human(self.size)}"


def human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


def _stat_is_block(path: str) -> bool:
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _flag(value: object) -> bool:
    return value in (True, 1, "1", "true")


def run_lsblk(device: str) -> str:
    res = program.run(["lsblk", "--json", "--bytes", "--output", LSBLK_COLUMNS, device],
                      what=f"lsblk cannot inspect {device}",
                      fix="check the device path (`lsblk` lists the disks); lsblk is in util-linux")
    return res.stdout


def _mounts(node: dict) -> list[str]:
    points = [p for p in node.get("mountpoints") or [node.get("mountpoint")] if p]
    for child in node.get("children") or []:
        points += _mounts(child)
    return points


def probe(device: str, sysfs_root: Path = Path("/sys"), lsblk_json: str | None = None,
          is_block: Callable[[str], bool] = _stat_is_block) -> DeviceFacts:
    name = Path(os.path.realpath(device)).name if sysfs_root == Path("/sys") else Path(device).name
    if not is_block(device):
        return DeviceFacts(device, name, is_block=False)
    data = json.loads(lsblk_json if lsblk_json is not None else run_lsblk(device))
    nodes = [n for n in data.get("blockdevices", []) if n.get("name") == name] or data.get("blockdevices", [])
    if not nodes:
        raise UserError(f"lsblk knows nothing about {device}")
    node = nodes[0]
    sys_dev = sysfs_root / "class" / "block" / name
    size_sectors = _read(sys_dev / "size")
    return DeviceFacts(
        path=device,
        name=name,
        is_block=True,
        kind=node.get("type") or "",
        removable=_read(sys_dev / "removable") == "1" or _flag(node.get("rm")),
        hotplug=_flag(node.get("hotplug")),
        mmc_type=_read(sys_dev / "device" / "type"),
        size=int(size_sectors) * 512 if size_sectors else int(node.get("size") or 0),
        model=" ".join(filter(None, ((node.get("vendor") or "").strip(), (node.get("model") or "").strip()))),
        transport=node.get("tran") or "",
        mountpoints=tuple(_mounts(node)),
    )


SD_TRANSPORTS = ("usb", "mmc")  # USB card readers and the host's own SD slot (lsblk TRAN)


def refusal(facts: DeviceFacts, image_size: int, confirm_size: str | None = None) -> str | None:
    """Why this device must not be written, or None. Checks run from most to least dangerous.

    A hot-pluggable disk on another transport (SATA hot-swap bay, Thunderbolt NVMe, iSCSI...) is not
    an SD card unless the user proves they mean it by typing its exact size (``--confirm-size``).
    """
    dev = facts.path
    if not facts.is_block:
        return f"{dev} is not a block device (pass the SD card's whole-disk node, e.g. /dev/sdb, " \
               "or use --to-file to write an image file)"
    if facts.kind == "part":
        return f"{dev} is a partition: pass the whole SD card (e.g. /dev/sdb, not /dev/sdb1)"
    if "/" in facts.mountpoints:
        return f"{dev} holds the running root filesystem: this is the host's system disk"
    if facts.mountpoints:
        shown = ", ".join(facts.mountpoints[:3])
        return f"{dev} is mounted ({shown}): unmount every partition first (e.g. `udisksctl unmount -b`)"
    if facts.mmc_type == "MMC":
        return f"{dev} is an eMMC soldered to this host, not an SD card"
    if facts.kind not in ("disk", ""):
        return f"{dev} is a {facts.kind} device, not an SD card or card reader"
    if not (facts.removable or facts.hotplug):
        return f"{dev} is not removable or hot-pluggable (internal disk?): refusing to overwrite it"
    transport = facts.transport or ("mmc" if facts.mmc_type == "SD" else "")
    if transport not in SD_TRANSPORTS and not size_confirmed(facts.size, confirm_size):
        return (f"{dev} is on the {transport or 'unknown'} transport, not usb/mmc like an SD card reader: "
                f"if it really is the card, pass --confirm-size {facts.size} (its size in bytes)")
    if facts.size < image_size:
        return f"{dev} is too small: {human(facts.size)} < image {human(image_size)}"
    return None


def size_confirmed(size: int, confirm: str | None) -> bool:
    """--confirm-size given as the exact byte count, or as the rounded size this tool shows."""
    if not confirm:
        return False
    text = confirm.strip().replace(" ", "")
    return text == str(size) or text.lower() == human(size).replace(" ", "").lower()
