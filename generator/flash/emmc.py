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
    load_addr: int
    verify_addr: int
    max_chunk: int
    console: str
    save_env: bool
    note: str = ""


TARGETS: dict[str, Target] = {
    # DRAM bank 0 is 0x48000000-0x7fffffff; U-Boot relocates itself to its top.
    "h3ulcb": Target(
        "h3ulcb",
        "mmc",
        1,
        ("mmc dev 1",),
        ("mmc rescan",),
        0x50000000,
        0x58000000,
        64 << 20,
        "ttySC0,115200",
        save_env=True,
    ),
    # QEMU virt, 512 MiB at 0x40000000; Debian's qemu_arm64 U-Boot keeps its env in CFI flash which
    # QEMU 7.2 refuses to program ("Flash buffer write timeout"), so the env is set but not saved.
    "qemu-virt": Target(
        "qemu-virt",
        "virtio",
        0,
        ("virtio scan", "virtio dev 0"),
        (),
        0x40200000,
        0x48000000,
        32 << 20,
        "ttyAMA0,115200",
        save_env=False,
        note="qemu-virt: environment set but not saved (QEMU cannot program U-Boot's env flash)",
    ),
}

# Device tree per board revision (anchors.md §5.1/5.3): meta-renesas scarthgap builds r8a77951-ulcb.dtb
# (H3 ES2.0+) and r8a779m1-ulcb.dtb (H3e-2G); ES1.x needs r8a77950-ulcb.dtb, which it does not build.
BOARD_DTBS = {"h3-es3": "r8a77951-ulcb.dtb", "h3-es2": "r8a77951-ulcb.dtb", "h3e-2g": "r8a779m1-ulcb.dtb"}
BOARD_REVS = (*BOARD_DTBS, "h3-es1")
# What U-Boot prints as "CPU: Renesas Electronics R8A7795 rev 3.0" → which revisions match.
_CPU_RE = re.compile(r"CPU:\s+Renesas Electronics (R8A\w+) rev (\d+)\.(\d+)", re.I)


def dtb_for(board_rev: str) -> str:
    if board_rev == "h3-es1":
        raise UserError(
            "H3 ES1.x needs r8a77950-ulcb.dtb, which the scarthgap BSP (linux-renesas 5.10) does "
            "not build: use an ES2.0+ board (--board-rev h3-es3 / h3-es2) or h3e-2g"
        )
    try:
        return BOARD_DTBS[board_rev]
    except KeyError:
        raise UserError(f"unknown --board-rev {board_rev!r}: choose one of {', '.join(BOARD_REVS)}") from None


def check_banner(banner: str, board_rev: str) -> None:
    """Refuse when U-Boot's CPU line contradicts --board-rev (a wrong DTB leaves the board unbootable)."""
    m = _CPU_RE.search(banner)
    if not m:
        return  # board was already at the prompt: nothing to compare
    soc, major = m.group(1).upper(), int(m.group(2))
    actual = "h3e-2g" if soc == "R8A779M1" else ("h3-es1" if major < 2 else None)
    if soc == "R8A7795" and major >= 2:
        actual = "h3-es3" if major >= 3 else "h3-es2"
    if actual and dtb_for_or_none(actual) != dtb_for_or_none(board_rev):
        raise UserError(
            f"U-Boot reports {soc} rev {m.group(2)}.{m.group(3)} but --board-rev is {board_rev}: "
            f"pass --board-rev {actual}"
        )


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
        out: list[Step] = []
        if self.ipaddr:
            out.append(Step(f"setenv ipaddr {self.ipaddr}"))
        else:
            out += [Step("setenv autoload no"), Step("dhcp", timeout=60, what="DHCP")]
        if self.serverip:
            out.append(Step(f"setenv serverip {self.serverip}"))
        return out


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
            raise UserError(
                f"TFTP transferred {got} bytes, expected {n}: is --tftp-dir the directory your "
                "TFTP server serves?"
            )

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
        Step(
            f"crc32 {verify} {size}",
            _expect_crc(c.crc, f"reading back chunk {c.index} from {t.iface} {t.dev}"),
        ),
    ]


def boot_env(t: Target, root: RootPartition, dtb: str) -> dict[str, str]:
    part = f"{t.iface} {t.dev}:{root.number}"
    return {
        "bootargs": f"rw rootwait root=PARTUUID={root.partuuid} console={t.console}",
        "bootcmd": (
            f"ext4load {part} {KERNEL_ADDR} /boot/Image; ext4load {part} {FDT_ADDR} /boot/{dtb}; "
            f"booti {KERNEL_ADDR} - {FDT_ADDR}"
        ),
    }


def finish_steps(t: Target, root: RootPartition, dtb: str) -> list[Step]:
    part = f"{t.iface} {t.dev}:{root.number}"

    def has_root(out: str) -> None:
        if "UUID" in out and root.partuuid.lower() not in out.lower():
            raise UserError(
                f"U-Boot does not see partition PARTUUID={root.partuuid} on {t.iface} {t.dev} after writing"
            )

    steps = [Step(cmd) for cmd in t.rescan] + [
        Step(f"part list {t.iface} {t.dev}", has_root),
        # Prove U-Boot can read what the new bootcmd will load before pointing the board at it.
        *(
            Step(
                f"ext4size {part} /boot/{name}",
                what=f"check /boot/{name}",
                hint=f"`ext4size {part} /boot/{name}` failed: the image has no /boot/{name} (needs "
                "kernel-image/kernel-devicetree, or another --board-rev); data written, "
                "boot env unchanged",
            )
            for name in ("Image", dtb)
        ),
    ]
    for var, value in boot_env(t, root, dtb).items():
        steps.append(Step(f"setenv {var} '{value}'"))
        steps.append(Step(f"printenv {var}", _expect_equal(var, value)))
    if t.save_env:
        steps.append(Step("saveenv", timeout=120))
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

        def fits(out: str) -> None:
            cap = capacity_blocks(out)
            if cap is not None and cap < blocks:
                raise UserError(
                    f"the image needs {blocks} blocks but {t.iface} {t.dev} has {cap}: nothing was written"
                )

        info = "mmc info" if t.iface == "mmc" else f"{t.iface} info"
        return [Step(cmd) for cmd in t.select] + [Step(info, fits)] + self.network.steps()

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
    """Blocks on the device from `virtio info` / `mmc info` output, if it says."""
    m = re.search(r"\((\d+) x 512\)", info)
    if m:
        return int(m.group(1))
    m = re.search(r"User Capacity:\s*([\d.]+)\s*([MG])iB", info)
    if m:
        return int(float(m.group(1)) * (1 << (20 if m.group(2) == "M" else 30)) // BLOCK)
    return None


def dry_run_lines(plan: Plan) -> Iterator[str]:
    t = plan.target
    yield (
        f"# rcar-k8s flash emmc: {plan.image.name} ({plan.size} bytes, {plan.chunk_count} chunk(s) of "
        f"{plan.chunk_size} bytes) → {t.iface} {t.dev} on {t.name}"
    )
    root = plan.root
    yield f"# root partition {root.number} PARTUUID={root.partuuid} ({root.scheme}), dtb {plan.dtb}"
    yield "# stop autoboot at the U-Boot prompt, then type:"
    current = None
    for chunk, step in plan.all_steps():
        if chunk is not None and chunk is not current:
            current = chunk
            yield (
                f"# chunk {chunk.index}: {t.iface} blocks 0x{chunk.first_block:x}+0x{chunk.blocks:x}, "
                f"CRC32 {chunk.crc:08x}, TFTP file {chunk.filename}"
            )
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
