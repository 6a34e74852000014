"""Write a wic image to the board's eMMC through U-Boot: TFTP in chunks, block write, CRC32 read-back.

The command sequence is built once (``plan``) and either printed (``--dry-run``) or executed, so the
dry run shows exactly what is typed. The block device is abstract (``Target``): the h3ulcb writes
``mmc`` device 1 (the eMMC; device 0 is the SD slot), the QEMU ``virt`` stand-in used by the tests
writes ``virtio`` device 0 with the same code.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from generator.errors import UserError
from generator.flash.imagefile import expanded_size, open_image, read_exact
from generator.flash.partuuid import RootPartition, find_root
from generator.flash.uboot import Step

BLOCK = 512
KERNEL_ADDR = "0x48080000"  # Renesas convention: Image at 0x48080000, DTB at 0x48000000
FDT_ADDR = "0x48000000"
CHUNK_DIR = "rcar-k8s-flash"  # subdirectory of the TFTP root; one chunk file at a time lives there


@dataclass(frozen=True)
class Target:
    name: str
    iface: str  # U-Boot block command: "mmc" or "virtio"
    dev: int
    select: tuple[str, ...]
    rescan: tuple[str, ...]  # make U-Boot re-read the partition table it cached before the write
    list_parts: str  # print the partition table (with UUIDs) using a command this U-Boot has
    load_addr: int
    verify_addr: int
    max_chunk: int
    console: str
    save_env: bool
    note: str = ""


TARGETS: dict[str, Target] = {
    # DRAM bank 0 is 0x48000000-0x7fffffff; U-Boot relocates itself to its top.
    # The board's U-Boot has no `part` (CMD_PART unset): `mmc part` lists the current device's table.
    "h3ulcb": Target("h3ulcb", "mmc", 1, ("mmc dev 1",), ("mmc rescan",), "mmc part", 0x50000000, 0x58000000,
                     64 << 20, "ttySC0,115200", save_env=True),
    # QEMU virt, 512 MiB at 0x40000000; Debian's qemu_arm64 U-Boot keeps its env in CFI flash which
    # QEMU 7.2 refuses to program ("Flash buffer write timeout"), so the env is set but not saved.
    # `virtio part 0` (cmd/blk_common.c -> part_print) also re-detects the table type after the write.
    "qemu-virt": Target("qemu-virt", "virtio", 0, ("virtio scan", "virtio dev 0"), (), "virtio part 0",
                        0x40200000, 0x48000000,
                        32 << 20, "ttyAMA0,115200", save_env=False,
                        note="qemu-virt: environment set but not saved "
                             "(QEMU cannot program U-Boot's env flash)"),
}

# Device tree per board revision (anchors.md §5.1/5.3): meta-renesas scarthgap builds r8a77951-ulcb.dtb
# (H3 ES2.0+) and r8a779m1-ulcb.dtb (H3e-2G); ES1.x needs r8a77950-ulcb.dtb, which it does not build.
BOARD_DTBS = {"h3-es3": "r8a77951-ulcb.dtb", "h3-es2": "r8a77951-ulcb.dtb", "h3e-2g": "r8a779m1-ulcb.dtb"}
BOARD_REVS = (*BOARD_DTBS, "h3-es1")
# What U-Boot prints as "CPU: Renesas Electronics R8A7795 rev 3.0" → which revisions match.
_CPU_RE = re.compile(r"CPU:\s+Renesas Electronics (R8A\w+) rev (\d+)\.(\d+)", re.I)


def dtb_for(board_rev: str) -> str:
    if board_rev == "h3-es1":
        raise UserError("H3 ES1.x needs r8a77950-ulcb.dtb, which the scarthgap BSP (linux-renesas 5.10) does "
                        "not build: use an ES2.0+ board (--board-rev h3-es3 / h3-es2) or h3e-2g")
    try:
        return BOARD_DTBS[board_rev]
    except KeyError:
        raise UserError(f"unknown --board-rev {board_rev!r}: choose one of {', '.join(BOARD_REVS)}") from None


def banner_revisions(banner: str) -> tuple[str, ...] | None:
    """Which --board-rev values U-Boot's CPU line allows; None when there is no CPU line.

    The board's U-Boot (renesas-rcar/u-boot@4d0082a2 arch/arm/mach-rmobile/cpu_info.c) has no
    R8A779M1 entry: an H3e-2G has the PRR of an H3 ES3.0 and prints "R8A7795 rev 3.0" too, so that
    line allows both; newer U-Boots that name the R8A779M1 allow only h3e-2g.
    """
    m = _CPU_RE.search(banner)
    if not m:
        return None
    soc, major = m.group(1).upper(), int(m.group(2))
    if soc == "R8A779M1":
        return ("h3e-2g",)
    if soc != "R8A7795":
        return ()
    return {1: ("h3-es1",), 2: ("h3-es2",)}.get(major, ("h3-es3", "h3e-2g"))


def check_banner(banner: str, board_rev: str) -> None:
    """Refuse when U-Boot's CPU line contradicts --board-rev (a wrong DTB leaves the board unbootable)."""
    allowed = banner_revisions(banner)
    if allowed is None:
        return  # board was already at the prompt: nothing to compare
    dtbs = {dtb_for_or_none(rev) for rev in allowed}
    if dtb_for_or_none(board_rev) not in dtbs or (board_rev == "h3-es1") != ("h3-es1" in allowed):
        m = _CPU_RE.search(banner)
        hint = f"pass --board-rev {' or '.join(allowed)}" if allowed else "this SoC is not an H3"
        raise UserError(f"U-Boot reports {m.group(1).upper()} rev {m.group(2)}.{m.group(3)} but --board-rev "
                        f"is {board_rev}: {hint}")


def dtb_for_or_none(board_rev: str) -> str | None:
    return BOARD_DTBS.get(board_rev)


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMG]?)(i?B)?", text.strip(), re.I)
    if not m:
        raise UserError(f"cannot parse size {text!r}: use e.g. 32M or 1048576")
    value = int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]
    if value <= 0 or value % BLOCK:
        raise UserError(f"--chunk-size {text} must be a positive multiple of {BLOCK} bytes")
    return value


@dataclass(frozen=True)
class Network:
    ipaddr: str | None = None
    serverip: str | None = None

    def steps(self) -> list[Step]:
        # A board whose MAC is neither in its device tree nor in the environment gets "Error: <eth>
        # address not set." (renesas-rcar/u-boot@4d0082a2 net/eth-uclass.c eth_post_probe) and `dhcp`
        # fails. Check before anything else and say how to fix it.
        out = [Step("printenv ethaddr", what="ethaddr", hint=ETHADDR_HINT)]
        if self.ipaddr:
            out.append(Step(f"setenv ipaddr {self.ipaddr}"))
        else:
            out += [Step("setenv autoload no"), Step("dhcp", timeout=60, what="DHCP", hint=DHCP_HINT)]
        if self.serverip:
            out.append(Step(f"setenv serverip {self.serverip}"))
        else:
            # `dhcp` sets serverip only from the reply's next-server (siaddr); without it tftpboot has
            # no server to ask. Checked before the first write.
            out.append(Step("printenv serverip", what="serverip", hint=SERVERIP_HINT))
        return out


ETHADDR_HINT = ("U-Boot has no ethaddr, so it cannot use the network: type `setenv ethaddr <MAC from the "
                "label on the board>; saveenv` at the U-Boot prompt, then run this again; nothing written")
DHCP_HINT = ("`dhcp` got no address: connect the board's Ethernet to a network with a DHCP server, or pass "
             "--ipaddr (and --serverip); nothing written")
SERVERIP_HINT = ("U-Boot has no serverip (the DHCP reply carried no next-server): pass --serverip <IP of "
                 "this host's TFTP server>; nothing written")


@dataclass(frozen=True)
class Chunk:
    index: int
    first_block: int
    data: bytes  # padded to whole blocks
    crc: int

    @property
    def filename(self) -> str:
        return f"{CHUNK_DIR}/chunk-{self.index:05d}"

    @property
    def blocks(self) -> int:
        return len(self.data) // BLOCK


def iter_chunks(image: Path, chunk_size: int) -> Iterator[Chunk]:
    with open_image(image) as stream:
        index = 0
        while data := read_exact(stream, chunk_size):
            if len(data) % BLOCK:
                data += b"\0" * (BLOCK - len(data) % BLOCK)  # the tail block is zero-filled
            yield Chunk(index, index * (chunk_size // BLOCK), data, zlib.crc32(data))
            index += 1


def _expect_bytes(n: int) -> Callable[[str], None]:
    def check(out: str) -> None:
        m = re.search(r"Bytes transferred = (\d+)", out)
        if not m or int(m.group(1)) != n:
            got = m.group(1) if m else "nothing"
            raise UserError(f"TFTP transferred {got} bytes, expected {n}: is --tftp-dir the directory your "
                            "TFTP server serves?")
    return check


def _expect_crc(crc: int, what: str) -> Callable[[str], None]:
    def check(out: str) -> None:
        m = re.search(r"==>\s*([0-9a-fA-F]{8})", out)
        if not m or int(m.group(1), 16) != crc:
            got = m.group(1) if m else "no crc32 output"
            raise UserError(f"CRC32 mismatch {what}: U-Boot {got}, host {crc:08x}")
    return check


def _expect_equal(var: str, value: str) -> Callable[[str], None]:
    def check(out: str) -> None:
        if f"{var}={value}" not in out.replace("\n", ""):
            raise UserError(f"U-Boot did not keep {var}: got {out.strip()!r}")
    return check


def chunk_steps(t: Target, c: Chunk) -> list[Step]:
    load, verify, size = f"0x{t.load_addr:x}", f"0x{t.verify_addr:x}", f"0x{len(c.data):x}"
    blk, cnt = f"0x{c.first_block:x}", f"0x{c.blocks:x}"
    return [
        Step(f"tftpboot {load} {c.filename}", _expect_bytes(len(c.data)), timeout=600, what="tftp"),
        Step(f"crc32 {load} {size}", _expect_crc(c.crc, f"after TFTP of chunk {c.index}")),
        Step(f"{t.iface} write {load} {blk} {cnt}", timeout=600, what="write"),
        Step(f"{t.iface} read {verify} {blk} {cnt}", timeout=600),
        Step(f"crc32 {verify} {size}",
             _expect_crc(c.crc, f"reading back chunk {c.index} from {t.iface} {t.dev}")),
    ]


def boot_env(t: Target, root: RootPartition, dtb: str) -> dict[str, str]:
    part = f"{t.iface} {t.dev}:{root.number}"
    return {
        "bootargs": f"rw rootwait root=PARTUUID={root.partuuid} console={t.console}",
        "bootcmd": (f"ext4load {part} {KERNEL_ADDR} /boot/Image; ext4load {part} {FDT_ADDR} /boot/{dtb}; "
                    f"booti {KERNEL_ADDR} - {FDT_ADDR}"),
    }


def finish_steps(t: Target, root: RootPartition, dtb: str) -> list[Step]:
    """After the data: prove U-Boot sees the new table and files, then point the boot env at them.

    Only commands the board's U-Boot has: rcar3_ulcb_defconfig at the SRCREV meta-renesas scarthgap pins
    has no CONFIG_CMD_PART, so the table is listed with `mmc part` (cmd/mmc.c do_mmc_part ->
    part_print; the DOS table printer always shows the "%08x-%02x" partition UUID).
    """
    part = f"{t.iface} {t.dev}:{root.number}"

    def has_root(out: str) -> None:
        listed = "UUID" in out if root.scheme == "mbr" else "guid:" in out
        if listed and root.partuuid.lower() not in out.lower():
            raise UserError(f"U-Boot does not see partition PARTUUID={root.partuuid} on {t.iface} {t.dev} "
                            "after writing")

    steps = [Step(cmd) for cmd in t.rescan] + [
        Step(t.list_parts, has_root),
        # Prove U-Boot can read what the new bootcmd will load before pointing the board at it.
        *(Step(f"ext4size {part} /boot/{name}", what=f"check /boot/{name}",
               hint=f"`ext4size {part} /boot/{name}` failed: the image has no /boot/{name} (needs "
                    "kernel-image/kernel-devicetree, or another --board-rev); data written, "
                    "boot env unchanged")
          for name in ("Image", dtb)),
    ]
    for var, value in boot_env(t, root, dtb).items():
        steps.append(Step(f"setenv {var} '{value}'"))
        steps.append(Step(f"printenv {var}", _expect_equal(var, value)))
    if t.save_env:
        steps.append(Step("saveenv", timeout=120, hint="saveenv failed: the boot environment is set for this "
                          "session only; check the eMMC (U-Boot keeps its env in mmc 1, boot partition 2)"))
    return steps


@dataclass(frozen=True)
class Plan:
    target: Target
    image: Path
    size: int
    chunk_size: int
    root: RootPartition
    dtb: str
    network: Network

    @property
    def chunk_count(self) -> int:
        return -(-self.size // self.chunk_size)

    def head_steps(self) -> list[Step]:
        t, blocks = self.target, -(-self.size // BLOCK)
        need = (f"the image needs {blocks} blocks ({blocks * BLOCK} bytes) but {t.iface} {t.dev} is smaller: "
                "nothing was written")

        def fits(out: str) -> None:
            cap = capacity_blocks(out)
            if cap is not None and cap < blocks:
                raise UserError(f"the image needs {blocks} blocks but {t.iface} {t.dev} has {cap}: "
                                "nothing was written")

        # `mmc info` only prints a rounded "User Capacity: 29.1 GiB" (cmd/mmc.c print_mmcinfo ->
        # print_size), so the exact test is reading the image's last block: U-Boot refuses a block
        # beyond the device ("block number ... exceeds max") and `mmc read` returns failure.
        return [Step(cmd) for cmd in t.select] + [
            Step(f"{t.iface} info", fits),
            Step(f"{t.iface} read 0x{t.verify_addr:x} 0x{blocks - 1:x} 0x1", what="size check", hint=need),
        ] + self.network.steps()

    def all_steps(self) -> Iterator[tuple[Chunk | None, Step]]:
        for s in self.head_steps():
            yield None, s
        for c in iter_chunks(self.image, self.chunk_size):
            for s in chunk_steps(self.target, c):
                yield c, s
        for s in finish_steps(self.target, self.root, self.dtb):
            yield None, s


def make_plan(image: Path, target: str, board_rev: str, chunk_size: int | None, network: Network) -> Plan:
    t = TARGETS[target]
    dtb = dtb_for(board_rev)
    size = expanded_size(image)
    chunk = chunk_size or t.max_chunk
    if chunk > t.max_chunk:
        raise UserError(f"--chunk-size {chunk} exceeds {t.max_chunk} bytes, the RAM window for {t.name}")
    with open_image(image) as stream:
        root = find_root(read_exact(stream, 34 * 512))
    return Plan(t, image, size, chunk, root, dtb, network)


def capacity_blocks(info: str) -> int | None:
    """Exact block count from `virtio info`-style "(N x 512)" output, else None (see head_steps)."""
    m = re.search(r"\((\d+) x 512\)", info)
    return int(m.group(1)) if m else None


def dry_run_lines(plan: Plan) -> Iterator[str]:
    t = plan.target
    yield f"# rcar-k8s flash emmc: {plan.image.name} ({plan.size} bytes, {plan.chunk_count} chunk(s) of "\
          f"{plan.chunk_size} bytes) → {t.iface} {t.dev} on {t.name}"
    root = plan.root
    yield f"# root partition {root.number} PARTUUID={root.partuuid} ({root.scheme}), dtb {plan.dtb}"
    yield "# stop autoboot at the U-Boot prompt, then type:"
    current = None
    for chunk, step in plan.all_steps():
        if chunk is not None and chunk is not current:
            current = chunk
            yield f"# chunk {chunk.index}: {t.iface} blocks 0x{chunk.first_block:x}+0x{chunk.blocks:x}, " \
                  f"CRC32 {chunk.crc:08x}, TFTP file {chunk.filename}"
        elif chunk is None and current is not None:
            current = None
            yield "# boot environment:"
        yield step.cmd
    if t.note:
        yield f"# {t.note}"


def _put_chunk(tftp_dir: Path, chunk: Chunk) -> Path:
    dst = tftp_dir / chunk.filename
    tmp = dst.with_name(dst.name + ".part")
    tmp.write_bytes(chunk.data)
    tmp.replace(dst)  # the TFTP server never sees a half-written chunk
    return dst


def execute(plan: Plan, uboot, tftp_dir: Path, progress=None) -> None:  # noqa: ANN001 (UBoot, rich Progress)
    """Run the plan on a console already at the U-Boot prompt. One chunk file exists at a time."""
    chunk_dir = tftp_dir / CHUNK_DIR
    try:
        chunk_dir.mkdir(exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write chunks into --tftp-dir {tftp_dir}: {exc.strerror}") from exc
    task = progress.add_task("eMMC", total=plan.chunk_count) if progress else None
    current: Chunk | None = None
    path: Path | None = None
    try:
        for chunk, step in plan.all_steps():
            if chunk is not current:
                if path is not None:
                    path.unlink(missing_ok=True)
                    path = None
                    if progress:
                        progress.advance(task)
                current = chunk
                if chunk is not None:
                    path = _put_chunk(tftp_dir, chunk)
            uboot.run(step)
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
        try:
            chunk_dir.rmdir()
        except OSError:
            pass
