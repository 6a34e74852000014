"""Run kas and follow BitBake's output: progress from task counts, the failing task and its log.

BitBake's knotty UI prints plain lines when its output is not a terminal (our pipe); the formats
parsed here are copied from poky scarthgap ``bitbake/lib/bb/ui/knotty.py`` and ``runqueue.py``::

    Loaded 4852 entries from dependency cache.
    Parsing of 2910 .bb files complete (0 cached, 2910 parsed). 4852 targets, 402 skipped, 0 masked, 0 errors.
    NOTE: Running setscene task 12 of 3456 (/x/busybox_1.36.1.bb:do_populate_sysroot_setscene)
    NOTE: Running task 1234 of 5678 (/x/kubernetes_git.bb:do_compile)
    NOTE: Running noexec task 99 of 5678 (/x/packagegroup-base.bb:do_build)
    ERROR: Logfile of failure stored in: /build/tmp/work/.../temp/log.do_compile.4242
    ERROR: Task (/x/kubernetes_git.bb:do_compile) failed with exit code '1'
    Summary: 1 task failed:
      /x/kubernetes_git.bb:do_compile
        log: /build/tmp/work/.../temp/log.do_compile.4242
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from generator import program

RUNNING = re.compile(r"^NOTE: Running (setscene task|task|noexec task) (\d+) of (\d+) \((.+)\)\s*$")
LOGFILE = re.compile(r"^ERROR: Logfile of failure stored in: (\S+)")
TASK_FAILED = re.compile(r"^ERROR: Task \((.+)\) failed with exit code '([^']*)'")
SUMMARY_LOG = re.compile(r"^\s+log: (\S+)")
SUMMARY_TASK = re.compile(r"^  (\S.*:do_\w+)\s*$")
ERROR_LINE = re.compile(r"^(ERROR|FATAL): ")
PARSE_DONE = re.compile(r"^Parsing of (\d+) \.bb files complete")
CACHE_LOADED = re.compile(r"^Loaded (\d+) entries from dependency cache\.")
TASKS_SUMMARY = re.compile(r"^NOTE: Tasks Summary: Attempted (\d+) tasks")


@dataclass
class Failure:
    task: str
    log: str | None = None
    exit_code: str | None = None

    @property
    def recipe_task(self) -> str:
        """'kubernetes_git.bb:do_compile' from '/long/path/kubernetes_git.bb:do_compile' (virtual: kept)."""
        head, _, task = self.task.rpartition(":")
        prefix, _, path = head.rpartition(":")
        name = os.path.basename(path)
        return f"{prefix + ':' if prefix else ''}{name}:{task}"


@dataclass
class BuildState:
    """What the output said so far; ``feed`` one line at a time."""

    setscene: tuple[int, int] = (0, 0)
    tasks: tuple[int, int] = (0, 0)
    current: str = ""
    parsed_recipes: int | None = None
    cached_entries: int | None = None
    attempted: int | None = None
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _pending_log: str | None = None
    _in_summary: bool = False
    _summary_task: str | None = None

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        if m := RUNNING.match(line):
            kind, n, total, task = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
            if kind == "setscene task":
                self.setscene = (n, total)
            else:
                self.tasks = (n, total)
            self.current = task
            return
        if m := LOGFILE.match(line):
            self._pending_log = m.group(1)
            return
        if m := TASK_FAILED.match(line):
            self._add(m.group(1), self._pending_log, m.group(2))
            self._pending_log = None
            return
        if line.startswith("Summary: ") and "task" in line and "failed" in line:
            self._in_summary = True
            return
        if self._in_summary:
            if m := SUMMARY_TASK.match(line):
                self._summary_task = m.group(1)
                self._add(self._summary_task, None, None)
                return
            if (m := SUMMARY_LOG.match(line)) and self._summary_task:
                self._add(self._summary_task, m.group(1), None)
                return
            self._in_summary = False
        if m := PARSE_DONE.match(line):
            self.parsed_recipes = int(m.group(1))
        elif m := CACHE_LOADED.match(line):
            self.cached_entries = int(m.group(1))
        elif m := TASKS_SUMMARY.match(line):
            self.attempted = int(m.group(1))
        if ERROR_LINE.match(line):
            self.errors.append(line)

    @property
    def telling_error(self) -> str | None:
        """The first ERROR line that says what went wrong (not BitBake's 'halted'/'failed' epilogue)."""
        generic = ("Parsing halted", "Command execution failed", "Shell returned", "returning a non-zero")
        useful = [e for e in self.errors if not any(g in e for g in generic)]
        return (useful or self.errors or [None])[0]

    def _add(self, task: str, log: str | None, code: str | None) -> None:
        for f in self.failures:
            if f.task == task:
                f.log = f.log or log
                f.exit_code = f.exit_code or code
                return
        self.failures.append(Failure(task, log, code))


KAS_FIX = "install kas (pip install kas), see `rcar-k8s doctor`"


def kas_command(kas: str, command: str, kas_file: str, extra_files: Iterable[str] = (),
                args: Iterable[str] = ()) -> list[str]:
    """``kas <command> <file>[:<include>...] [args]`` (kas joins files with ':')."""
    return [kas, command, ":".join([kas_file, *extra_files]), *args]


def follow(argv: list[str], *, cwd: Path, env: Mapping[str, str] | None = None, log: Path | None = None,
           on_line: Callable[[str, BuildState], None] | None = None,
           fix: str = KAS_FIX) -> tuple[int, BuildState]:
    """Run ``argv``, feed every output line (stdout+stderr) to a BuildState, tee it to ``log``.

    A program that cannot be started is a UserError ending with ``fix``; its exit code is returned."""
    state = BuildState()
    logf = log.open("w", encoding="utf-8") if log else None
    try:
        proc = program.start(argv, fix=fix, cwd=cwd, env=dict(env if env is not None else os.environ),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, errors="replace", bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            if logf:
                logf.write(line)
            state.feed(line)
            if on_line:
                on_line(line.rstrip("\n"), state)
        rc = proc.wait()
    finally:
        if logf:
            logf.close()
    return rc, state
