"""One boot test: start QEMU, log in (SSH as admin with a key + sudo -n, generator/qemu/login.py; or
root on the serial console for the Debian stand-in), wait for the boot to settle, run the checks,
power off cleanly, and build the report (JSON-able dict + human summary)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from generator import __version__
from generator.matrix.model import Row
from generator.qemu import checks as chk
from generator.qemu import (
    login,
    runtime_checks,  # noqa: F401 - registers the pinned-runtime checks
)
from generator.qemu.console import MILESTONES, Console, GuestTimeout
from generator.qemu.machine import BootSpec, command

ORDER = [m[0] for m in MILESTONES] + ["shell", "settled", "checks_done"]


@dataclass
class Options:
    spec: BootSpec
    row: Row
    role: str = "worker"
    timeout: float = 600.0
    user: str = "root"
    password: str = ""
    extra_append: list[str] = field(default_factory=list)
    expected_files: dict[str, bytes] = field(default_factory=dict)
    standin: bool = False
    label: str = "image"
    notes: list[str] = field(default_factory=list)
    console_log: Path | None = None
    runtime_skip: str = ""  # why the pinned-runtime checks are skipped (stand-in without the test builds)
    ssh_key: Path | None = None  # log in as admin over SSH with this key (login.py), not on the console


def _wait_settled(con: Console, deadline: float) -> None:
    """Until systemd has no queued jobs, except those waiting for a synchronized clock."""
    while True:
        _, out = con.run(
            "systemctl is-system-running; systemctl list-jobs --no-legend --plain --no-pager", 60
        )
        lines = out.splitlines()
        state = lines[0].strip() if lines else ""
        ok, running, _ = chk.jobs_settled(state, "\n".join(lines[1:]))
        if ok:
            con.marks["settled"] = con.now()
            return
        if time.monotonic() > deadline:
            raise GuestTimeout(
                f"boot to settle (state {state}, running jobs: {', '.join(sorted(running))})", 0
            )
        time.sleep(3)


def _guest_milestones(con: Console) -> dict[str, object]:
    units = {"multi_user": "multi-user.target", "containerd_active": "containerd.service"}
    _, out = con.run("systemctl show -p ActiveEnterTimestampMonotonic --value " + " ".join(units.values()))
    vals = out.split()
    for key, v in zip(units, vals, strict=False):
        t = con.guest_time(int(v)) if v.isdigit() else None
        if t is not None:
            con.marks[key] = t
    _, analyze = con.run("systemd-analyze 2>&1 | head -3")
    _, blame = con.run("systemd-analyze blame --no-pager 2>&1 | head -8")
    return {"systemd_analyze": analyze, "blame_top": blame.splitlines()}


def run(opts: Options) -> dict[str, object]:
    cmd = command(opts.spec, opts.extra_append)
    port = login.free_port() if opts.ssh_key else None
    if port:
        cmd = login.with_hostfwd(cmd, port)
    t_start = time.time()
    con = Console(cmd, opts.console_log)
    deadline = time.monotonic() + opts.timeout
    report: dict[str, object] = {
        "tool": f"rcar-k8s {__version__} qemu-test",
        "label": opts.label,
        "role": opts.role,
        "k8s": {"minor": opts.row.minor, "kubernetes": opts.row.kubernetes},
        "image": opts.spec.source,
        "qemu_cmd": cmd,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start)),
        "timeout_s": opts.timeout,
        "notes": list(opts.notes),
    }
    results: list[chk.Check] = []
    error = None
    extra: dict[str, object] = {}
    guest: Console | login.SshGuest = con
    try:
        if opts.ssh_key and port:
            guest = login.SshGuest(con, port, opts.ssh_key)
            guest.wait(max(deadline - time.monotonic(), 1))
        else:
            con.login(opts.user, opts.password, timeout=max(deadline - time.monotonic(), 1))
        _wait_settled(guest, deadline)  # type: ignore[arg-type]
        extra = _guest_milestones(guest)  # type: ignore[arg-type]
        ctx = chk.Context(
            guest,  # type: ignore[arg-type]
            opts.row,
            opts.role,
            opts.expected_files,
            standin=opts.standin,
            runtime_skip=opts.runtime_skip,
        )
        results = chk.run_all(ctx)
        con.marks["checks_done"] = con.now()
    except (GuestTimeout, EOFError) as exc:
        error = str(exc)
    clean = False
    if error is None or "QEMU exited" not in error:
        try:
            off = guest.poweroff if opts.ssh_key and error is None else con.poweroff
            clean = off(timeout=120) if error is None else False
        except GuestTimeout:
            clean = False
    rc = con.close()
    marks = dict(sorted(con.marks.items(), key=lambda kv: kv[1]))
    ready = [marks.get("containerd_active")]
    report.update(
        {
            "milestones_s": marks,
            "kernel_t0_s": round(con.kernel_t0, 2) if con.kernel_t0 is not None else None,
            "boot_to_ready_s": ready[0],
            "boot_to_ready_definition": "s from QEMU start until containerd.service became active (guest "
            "systemd timestamp mapped onto the host clock via printk times)",
            "guest": extra,
            "checks": [c.as_dict() for c in results],
            "counts": {
                s: sum(1 for c in results if c.status == s) for s in (chk.PASSED, chk.FAILED, chk.SKIPPED)
            },
            "clean_poweroff": clean,
            "qemu_exit_code": rc,
            "duration_s": round(time.time() - t_start, 1),
        }
    )
    if error is not None:
        stuck = next((m for m in ORDER if m not in marks), "checks")
        report.update(
            {
                "result": "timeout" if "not seen" in error or "settle" in error else "error",
                "error": error,
                "stuck_at": stuck,
                "last_reached": [m for m in ORDER if m in marks][-1:],
                "console_tail": con.tail(50),
            }
        )
    else:
        report["result"] = "passed" if report["counts"][chk.FAILED] == 0 else "failed"
    return report


def summary(report: dict[str, object]) -> str:
    lines = [
        f"qemu-test {report['label']} ({report['role']}, Kubernetes {report['k8s']['kubernetes']}): "
        f"{str(report['result']).upper()}"
    ]
    marks = report.get("milestones_s") or {}
    lines.append("  milestones (s since QEMU start): " + ", ".join(f"{k} {v}" for k, v in marks.items()))
    if report.get("boot_to_ready_s") is not None:
        lines.append(f"  boot to ready (containerd active): {report['boot_to_ready_s']} s")
    for n in report.get("notes") or []:
        lines.append(f"  note: {n}")
    for c in report.get("checks") or []:
        mark = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}[c["status"]]
        lines.append(f"  [{mark}] {c['name']:34s} {c['summary'][:160]}")
    counts = report.get("counts") or {}
    lines.append(
        f"  {counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
        f"{counts.get('skipped', 0)} skipped;"
        f" clean power-off: {'yes' if report.get('clean_poweroff') else 'no'}; {report.get('duration_s')} s"
    )
    if report.get("error"):
        lines.append(
            f"  stopped: {report['error']}; stuck at milestone '{report.get('stuck_at')}'; "
            "last console lines:"
        )
        lines += ["    | " + ln for ln in report.get("console_tail") or []]
    return "\n".join(lines)
