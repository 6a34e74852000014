"""A fake build host for doctor/build tests: stub tools on PATH, a fake /proc, a chosen uid.

The stubs are tiny executables (real processes the doctor runs), not Python mocks.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from generator.host.checks import MIN_TOOL_VERSIONS, REQUIRED_TOOLS

VERSION_OUTPUT = {
    "python3": "Python 3.11.2",
    "git": "git version 2.39.5",
    "tar": "tar (GNU tar) 1.34",
    "gcc": "12",
    "make": "GNU Make 4.3",
}
KAS_OK = "kas 5.5 (configuration format version 23, earliest compatible version 1)"


def write_stub(bindir: Path, name: str, body: str) -> Path:
    path = bindir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class FakeHost:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.proc = root / "proc"
        self.build = root / "build"
        self.bin.mkdir(parents=True)
        self.proc.mkdir()
        for tool in REQUIRED_TOOLS:
            write_stub(self.bin, tool, f"echo '{VERSION_OUTPUT.get(tool, tool)}'")
        assert set(MIN_TOOL_VERSIONS) <= set(VERSION_OUTPUT)
        self.locales(["C", "C.utf8", "POSIX", "en_US.utf8"])
        self.kas(KAS_OK)
        self.memory_gb(16)
        self.cores(8)
        self.uid = 1000

    def locales(self, names: list[str]) -> None:
        write_stub(self.bin, "locale", "printf '%s\\n' " + " ".join(names))

    def kas(self, version_line: str | None, name: str = "kas") -> None:
        if version_line is None:
            (self.bin / name).unlink(missing_ok=True)
        else:
            write_stub(self.bin, name, f"echo '{version_line}'")

    def memory_gb(self, gb: float) -> None:
        kb = int(gb * 1000**3 / 1024)
        (self.proc / "meminfo").write_text(f"MemTotal:       {kb} kB\nMemFree:        1000 kB\n")

    def cores(self, n: int) -> None:
        text = "".join(f"processor\t: {i}\nBogoMIPS\t: 50.00\n\n" for i in range(n))
        (self.proc / "cpuinfo").write_text(text)

    def remove(self, *tools: str) -> None:
        for t in tools:
            (self.bin / t).unlink()

    def env(self) -> dict[str, str]:
        return {
            "PATH": str(self.bin),
            # the fake host is the whole host: not the test venv's bin (generator.cli appends it)
            "RCAR_K8S_TOOLS_NEXT_TO_PYTHON": "0",
            "RCAR_K8S_HOST_PROC": str(self.proc),
            "RCAR_K8S_HOST_UID": str(self.uid),
            "KAS_BUILD_DIR": str(self.build),
            "KAS_WORK_DIR": str(self.root),
            "HOME": os.environ.get("HOME", str(self.root)),
        }
