"""What the doctor looks at, behind one injectable object.

Every fact comes from a path, an environment variable or a tool found on ``PATH``, so tests build a
fake host out of temporary directories and stub executables instead of mocking Python:

* tools: looked up on the host's ``PATH`` (``Host.env["PATH"]``) and run with that environment;
* memory and cores: ``<proc>/meminfo`` and ``<proc>/cpuinfo`` (``RCAR_K8S_HOST_PROC``, default ``/proc``);
* effective uid: ``os.geteuid()`` unless ``RCAR_K8S_HOST_UID`` is set;
* free disk: ``statvfs`` of the nearest existing parent of the build directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from generator import program
from generator.errors import UserError


@dataclass
class Host:
    env: Mapping[str, str]
    build_dir: Path
    proc: Path = Path("/proc")
    uid: int = field(default_factory=os.geteuid)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, build_dir: Path | None = None) -> Host:
        env = dict(os.environ if env is None else env)
        if build_dir is None:
            # where kas puts the build: KAS_BUILD_DIR, else KAS_WORK_DIR/build, else ./build
            work = Path(env.get("KAS_WORK_DIR") or Path.cwd())
            build_dir = Path(env.get("KAS_BUILD_DIR") or work / "build")
        uid = int(env["RCAR_K8S_HOST_UID"]) if env.get("RCAR_K8S_HOST_UID") else os.geteuid()
        return cls(env=env, build_dir=build_dir, proc=Path(env.get("RCAR_K8S_HOST_PROC") or "/proc"), uid=uid)

    def which(self, tool: str) -> str | None:
        return shutil.which(tool, path=self.env.get("PATH", ""))

    def run(self, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str] | None:
        """Run a host tool with the host's environment; None when it is missing or hangs."""
        exe = self.which(argv[0])
        if exe is None:
            return None
        try:
            return program.run([exe, *argv[1:]], fix="", check=False, timeout=timeout, env=dict(self.env))
        except UserError:  # a probe: a tool that cannot run or hangs is what the checks report
            return None

    def free_bytes(self) -> tuple[Path, int]:
        """Free bytes (for an unprivileged user) on the file system the build dir is (or will be) on."""
        path = self.build_dir.absolute()
        while not path.exists() and path != path.parent:
            path = path.parent
        st = os.statvfs(path)
        return path, st.f_bavail * st.f_frsize

    def mem_total_bytes(self) -> int | None:
        try:
            for line in (self.proc / "meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024  # kB
        except (OSError, ValueError, IndexError):
            return None
        return None

    def cpu_count(self) -> int | None:
        try:
            text = (self.proc / "cpuinfo").read_text()
        except OSError:
            return None
        n = sum(1 for line in text.splitlines() if line.split(":")[0].strip() == "processor")
        if self.proc == Path("/proc") and hasattr(os, "sched_getaffinity"):
            n = min(n or 10**6, len(os.sched_getaffinity(0)))  # respect cgroup/affinity limits
        return n or None
