"""The "ready for kubeadm join" checks, run over the guest's serial console.

Every check ends as ``passed``, ``failed`` (with the evidence: the guest command and its output) or
``skipped`` (with the reason it could not run, e.g. the image has no kubeadm). Nothing is assumed: a
check whose tool is missing in the image is skipped, never passed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from generator.layer.node_files import CONTAINERD_SOCK
from generator.matrix.model import Row
from generator.qemu.console import Console

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# hostnames a build gives every board flashed from one image (MACHINE names, systemd fallbacks)
BUILD_DEFAULT_HOSTNAMES = {
    "",
    "(none)",
    "localhost",
    "qemuarm64",
    "qemuarm",
    "h3ulcb",
    "m3ulcb",
    "salvator-x",
    "h3ulcb-kf",
    "ebisu",
    "rcar-k8s",
    "poky",
}
REQUIRED_MODULES = ("overlay", "br_netfilter")
REQUIRED_SYSCTLS = {
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "net.ipv4.ip_forward": "1",
}
TIME_UNITS = ("systemd-timesyncd.service", "chronyd.service", "chrony.service", "ntpd.service", "ntp.service")
# the one job that may still run on a settled guest without an NTP server: everything ordered after
# time-sync.target (kubelet, timers, multi-user.target) waits for it, by the layer's design
TIME_WAIT_JOB = "systemd-time-wait-sync.service"


def jobs_settled(state: str, jobs: str) -> tuple[bool, set[str], set[str]]:
    """(settled, running jobs, waiting jobs) from `systemctl is-system-running` + `list-jobs --plain`."""
    running = {
        ln.split()[1] for ln in jobs.splitlines() if len(ln.split()) > 3 and ln.split()[3] == "running"
    }
    waiting = {
        ln.split()[1] for ln in jobs.splitlines() if len(ln.split()) > 3 and ln.split()[3] == "waiting"
    }
    ok = state in ("running", "degraded") or (state == "starting" and running <= {TIME_WAIT_JOB})
    return ok, running, waiting


# the socket the layer configures (crictl.yaml, kubeadm): one place decides it
CRI_SOCK = CONTAINERD_SOCK


@dataclass
class Check:
    name: str
    status: str
    summary: str
    evidence: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Context:
    console: Console
    row: Row
    role: str
    expected_files: dict[str, bytes]  # node files that must be in the image, byte for byte
    standin: bool = False
    notes: list[str] = field(default_factory=list)
    has: dict[str, bool] = field(default_factory=dict)
    # why the pinned-runtime checks (generator.qemu.runtime_checks) cannot run on this image, if so
    runtime_skip: str = ""

    def sh(self, cmd: str, timeout: float = 60) -> tuple[int, str, dict[str, object]]:
        rc, out = self.console.run(cmd, timeout)
        return rc, out, {"cmd": cmd, "rc": rc, "out": out[-2000:]}

    def tool(self, name: str) -> bool:
        if name not in self.has:
            rc, _, _ = self.sh(f"command -v {name} >/dev/null")
            self.has[name] = rc == 0
        return self.has[name]

    def missing(self, name: str) -> str:
        why = f"`{name}` is not in this image"
        if self.standin:
            why += " (the Debian 12 stand-in: kubelet, kubeadm and crictl are not packaged in Debian)"
        return why


CheckFn = Callable[[Context], Iterator[Check]]
REGISTRY: list[CheckFn] = []


def check(fn: CheckFn) -> CheckFn:
    REGISTRY.append(fn)
    return fn


@check
def boot_settled(ctx: Context) -> Iterator[Check]:
    rc, state, ev1 = ctx.sh("systemctl is-system-running")
    _, jobs, ev2 = ctx.sh("systemctl list-jobs --no-legend --plain --no-pager")
    _, failed, ev3 = ctx.sh("systemctl --failed --no-legend --plain --no-pager")
    settled, running, waiting = jobs_settled(state, jobs)
    ev = [ev1, ev2, ev3]
    if failed.strip():
        yield Check(
            "boot_settled",
            FAILED,
            f"failed units: {', '.join(ln.split()[0] for ln in failed.splitlines())}",
            ev,
        )
    elif state == "running":
        yield Check("boot_settled", PASSED, "system running, no failed units", ev)
    elif settled:
        yield Check(
            "boot_settled",
            PASSED,
            f"boot done; only {TIME_WAIT_JOB} still runs (no NTP server), "
            f"{len(waiting)} jobs ordered after time-sync.target wait for it: {', '.join(sorted(waiting))}",
            ev,
        )
    else:
        yield Check(
            "boot_settled", FAILED, f"system state '{state}', running jobs: {', '.join(sorted(running))}", ev
        )


@check
def containerd(ctx: Context) -> Iterator[Check]:
    _, state, ev = ctx.sh("systemctl is-active containerd.service")
    _, detail, ev2 = ctx.sh("systemctl show -p ActiveState,SubState,Result,UnitFileState containerd.service")
    yield Check(
        "containerd_active",
        PASSED if state == "active" else FAILED,
        f"containerd.service is {state}",
        [ev, ev2],
    )
    if ctx.tool("crictl"):
        rc, out, ev = ctx.sh(f"crictl --runtime-endpoint {CRI_SOCK} info", timeout=60)
        ready = _runtime_ready(out)
        yield Check(
            "cri_answers",
            PASSED if rc == 0 and ready else FAILED,
            "crictl info: RuntimeReady"
            if rc == 0 and ready
            else f"crictl info rc={rc}, RuntimeReady not true",
            [ev],
        )
    else:
        yield Check(
            "cri_answers", SKIPPED, ctx.missing("crictl") + "; see cri_plugin for the CRI plugin via ctr"
        )
    if ctx.tool("ctr"):
        rc, out, ev = ctx.sh("ctr plugins ls | grep -E 'io.containerd.(grpc.v1|cri.v1)' ")
        ok = re.search(r"io\.containerd\.grpc\.v1\s+cri\s+.*\bok\b", out)
        yield Check(
            "cri_plugin",
            PASSED if ok else FAILED,
            "containerd reports its CRI plugin (io.containerd.grpc.v1 cri) ok (plugin status, not a CRI call)"
            if ok
            else "containerd's CRI plugin is not 'ok'",
            [ev],
        )
    else:
        yield Check("cri_plugin", SKIPPED, ctx.missing("ctr"))


def _runtime_ready(info: str) -> bool:
    """RuntimeReady in `crictl info` output (its JSON keys come sorted: message, reason, status, type)."""
    try:
        status = json.loads(info[info.index("{") :]).get("status") or {}
    except ValueError:
        return False
    return any(
        c.get("type") == "RuntimeReady" and c.get("status") is True for c in status.get("conditions") or []
    )


@check
def node_files(ctx: Context) -> Iterator[Check]:
    if not ctx.expected_files:
        yield Check("node_files_installed", SKIPPED, "no node files expected (plain boot)")
        return
    paths = sorted(ctx.expected_files)
    _, out, ev = ctx.sh("sha256sum " + " ".join(paths) + " 2>&1")
    got = {}
    for ln in out.splitlines():
        parts = ln.split(None, 1)
        if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            got[parts[1].strip()] = parts[0]
    bad = [p for p in paths if got.get(p) != hashlib.sha256(ctx.expected_files[p]).hexdigest()]
    if bad:
        yield Check(
            "node_files_installed",
            FAILED,
            f"{len(bad)} of {len(paths)} layer files missing or different: {', '.join(bad)}",
            [ev],
        )
    else:
        yield Check(
            "node_files_installed", PASSED, f"all {len(paths)} layer node files installed byte for byte", [ev]
        )


@check
def kubelet(ctx: Context) -> Iterator[Check]:
    rc, out, ev = ctx.sh("systemctl is-enabled kubelet.service")
    yield Check(
        "kubelet_enabled",
        PASSED if out == "enabled" else FAILED,
        f"kubelet.service is {out or 'unknown'}",
        [ev],
    )
    if not ctx.tool("kubelet"):
        yield Check("kubelet_waiting_for_config", SKIPPED, ctx.missing("kubelet"))
        return
    _, show, ev1 = ctx.sh("systemctl show -p ActiveState,SubState,NRestarts,Result kubelet.service")
    _, cfg, ev2 = ctx.sh("ls -l /var/lib/kubelet/config.yaml 2>&1")
    _, jobs, ev3 = ctx.sh("systemctl list-jobs --no-legend --plain --no-pager kubelet.service")
    _, log, ev4 = ctx.sh("journalctl -u kubelet.service -n 8 --no-pager -o cat")
    props = dict(ln.split("=", 1) for ln in show.splitlines() if "=" in ln)
    no_cfg = "No such file" in cfg
    ev = [ev1, ev2, ev3, ev4]
    if props.get("SubState") == "auto-restart" and no_cfg:
        yield Check(
            "kubelet_waiting_for_config",
            PASSED,
            "kubelet restarts until kubeadm writes /var/lib/kubelet/config.yaml "
            f"(NRestarts={props.get('NRestarts')})",
            ev,
        )
    elif "kubelet.service" in jobs and "waiting" in jobs:
        yield Check(
            "kubelet_waiting_for_config",
            SKIPPED,
            "kubelet has not started yet: its start job waits for "
            "time-sync.target (no NTP server reachable from the guest)",
            ev,
        )
    else:
        yield Check(
            "kubelet_waiting_for_config",
            FAILED,
            f"kubelet {props.get('ActiveState')}/{props.get('SubState')}, config present={not no_cfg}",
            ev,
        )


@check
def versions(ctx: Context) -> Iterator[Check]:
    want = "v" + ctx.row.kubernetes.lstrip("v")
    for tool, cmd, pat in (
        ("kubeadm", "kubeadm version -o short", r"(v\d+\.\d+\.\d+\S*)"),
        ("kubelet", "kubelet --version", r"Kubernetes (v\d+\.\d+\.\d+\S*)"),
    ):
        if not ctx.tool(tool):
            yield Check(f"{tool}_version", SKIPPED, ctx.missing(tool))
            continue
        rc, out, ev = ctx.sh(cmd)
        m = re.search(pat, out)
        got = m.group(1) if m else None
        yield Check(
            f"{tool}_version",
            PASSED if got == want else FAILED,
            f"{tool} {got} {'==' if got == want else '!='} matrix row {ctx.row.minor}: {want}",
            [ev],
        )


def _expected_modules(ctx: Context) -> list[str]:
    mods = list(REQUIRED_MODULES)
    for path, data in ctx.expected_files.items():
        if path.startswith(("/etc/modules-load.d/", "/usr/lib/modules-load.d/")):
            for ln in data.decode().splitlines():
                ln = ln.split("#")[0].strip()
                if ln and ln not in mods:
                    mods.append(ln)
    return mods


@check
def modules(ctx: Context) -> Iterator[Check]:
    for mod in _expected_modules(ctx):
        cmd = (
            f"grep -w '^{mod}' /proc/modules || {{ grep -E '/{mod}\\.ko' "
            f"/lib/modules/$(uname -r)/modules.builtin && echo built-in; }}"
        )
        rc, out, ev = ctx.sh(cmd)
        yield Check(
            f"module:{mod}",
            PASSED if rc == 0 else FAILED,
            (f"{mod} built in" if "built-in" in out else f"{mod} loaded") if rc == 0 else f"{mod} not loaded",
            [ev],
        )


def _expected_sysctls(ctx: Context) -> dict[str, str]:
    want = dict(REQUIRED_SYSCTLS)
    for path, data in sorted(ctx.expected_files.items()):
        if path.startswith(("/etc/sysctl.d/", "/usr/lib/sysctl.d/")):
            for ln in data.decode().splitlines():
                ln = ln.split("#")[0].strip()
                if "=" in ln:
                    k, v = (s.strip() for s in ln.split("=", 1))
                    want[k.lstrip("-")] = v
    return want


@check
def sysctls(ctx: Context) -> Iterator[Check]:
    for key, val in _expected_sysctls(ctx).items():
        rc, out, ev = ctx.sh(f"sysctl -n {key}")
        yield Check(
            f"sysctl:{key}",
            PASSED if rc == 0 and out.split() == val.split() else FAILED,
            f"{key} = {out if rc == 0 else '(missing)'} (want {val})",
            [ev],
        )


@check
def swap(ctx: Context) -> Iterator[Check]:
    _, out, ev = ctx.sh("tail -n +2 /proc/swaps")
    yield Check(
        "swap_off",
        PASSED if not out.strip() else FAILED,
        "no active swap" if not out.strip() else f"swap active: {out.splitlines()[0]}",
        [ev],
    )


@check
def hostname(ctx: Context) -> Iterator[Check]:
    _, name, ev = ctx.sh("hostname")
    _, etc, ev2 = ctx.sh("cat /etc/hostname 2>&1; cat /etc/machine-id")
    bad = name.strip().lower() in BUILD_DEFAULT_HOSTNAMES
    yield Check(
        "hostname_unique",
        FAILED if bad else PASSED,
        f"hostname '{name}' is a build default every board shares"
        if bad
        else f"hostname '{name}' is not a build default",
        [ev, ev2],
    )


@check
def time_sync(ctx: Context) -> Iterator[Check]:
    _, out, ev = ctx.sh("systemctl list-unit-files --no-legend --plain --no-pager " + " ".join(TIME_UNITS))
    states = {ln.split()[0]: ln.split()[1] for ln in out.splitlines() if len(ln.split()) >= 2}
    enabled = [u for u, s in states.items() if s in ("enabled", "static", "alias", "enabled-runtime")]
    if enabled:
        yield Check("time_sync_unit", PASSED, f"time sync unit enabled: {', '.join(enabled)}", [ev])
    else:
        yield Check(
            "time_sync_unit",
            FAILED,
            "no enabled time sync unit "
            f"({', '.join(f'{u} {s}' for u, s in states.items()) or 'none installed'})",
            [ev],
        )
    _, synced, ev2 = ctx.sh("timedatectl show -p NTPSynchronized --value 2>&1")
    if synced == "yes":
        yield Check("clock_synchronized", PASSED, "NTPSynchronized=yes", [ev2])
    else:
        yield Check(
            "clock_synchronized",
            SKIPPED,
            f"NTPSynchronized={synced or '?'}: QEMU user networking "
            "without an NTP server cannot show the sync; the unit check above covers the image",
            [ev2],
        )


def _kernel_check(text: str, source: str) -> tuple[str, str, dict[str, object]]:
    """Run generator.kernel's check-config rules (what `rcar-k8s check-config` runs) on the guest's config."""
    try:
        from generator.kernel import check as kcheck
        from generator.kernel import fragments
    except ImportError as exc:
        return SKIPPED, f"generator.kernel check-config rules not available in this checkout ({exc})", {}
    profiles = fragments.profiles_for("flannel", "iptables")
    report = kcheck.check_config_text(text, profiles, source=source)
    fails = [f"CONFIG_{r.symbol} ({r.profile}: {r.status})" for r in report.failures()]
    warns = [f"CONFIG_{r.symbol}" for r in report.warnings()]
    ev = {
        "cmd": f"check_config_text({source}, {profiles})",
        "rc": 0 if report.ok else 1,
        "out": "\n".join(
            [
                *(f"required: {f}" for f in fails),
                *(f"refused: {p}: {w}" for p, w in report.refused.items()),
                *(f"optional missing: {w}" for w in warns),
                *report.notes,
            ]
        )[-2000:],
    }
    head = f"profiles {', '.join(profiles)}: {len(report.results)} options"
    if report.ok:
        return PASSED, f"{head}, every required one set ({len(warns)} optional missing)", ev
    return (
        FAILED,
        f"{head}: {len(fails)} required missing: {', '.join(fails)[:600]}"
        + (f"; refused: {', '.join(report.refused)}" if report.refused else ""),
        ev,
    )


@check
def kernel_config(ctx: Context) -> Iterator[Check]:
    rc, src, ev = ctx.sh(
        "if [ -r /proc/config.gz ]; then echo /proc/config.gz; "
        "elif [ -r /boot/config-$(uname -r) ]; then echo /boot/config-$(uname -r); fi"
    )
    if not src:
        yield Check(
            "kernel_config",
            FAILED,
            "no /proc/config.gz (CONFIG_IKCONFIG_PROC) and no /boot/config-$(uname -r)",
            [ev],
        )
        return
    cmd = f"base64 -w0 {src}" if src.endswith(".gz") else f"gzip -c {src} | base64 -w0"
    rc, b64, _ = ctx.sh(cmd, timeout=120)
    try:
        text = _gunzip(base64.b64decode("".join(b64.split())))
    except (ValueError, OSError) as exc:
        yield Check("kernel_config", FAILED, f"could not read {src} over the console: {exc}", [ev])
        return
    status, summary, kev = _kernel_check(text, src)
    note = "" if src == "/proc/config.gz" else f" (read {src}: this kernel has no /proc/config.gz)"
    yield Check(
        "kernel_config",
        status,
        summary + note,
        [
            ev,
            {
                "cmd": cmd,
                "rc": rc,
                "out": f"{len(text)} bytes of config, sha256 {hashlib.sha256(text.encode()).hexdigest()}",
            },
            kev,
        ],
    )


def _gunzip(data: bytes) -> str:
    import gzip

    return gzip.decompress(data).decode(errors="replace")


@check
def etcd_tmpfs(ctx: Context) -> Iterator[Check]:
    if ctx.role != "control-plane":
        yield Check("etcd_tmpfs", SKIPPED, "worker role: no etcd on this node")
        yield Check("etcd_restore_ran", SKIPPED, "worker role: no etcd on this node")
        return
    rc, out, ev = ctx.sh("findmnt -n -o FSTYPE,OPTIONS /var/lib/etcd")
    yield Check(
        "etcd_tmpfs",
        PASSED if out.split()[:1] == ["tmpfs"] else FAILED,
        f"/var/lib/etcd: {out or 'not a mount point'}",
        [ev],
    )
    _, show, ev2 = ctx.sh(
        "systemctl show -p LoadState,ActiveState,Result,ExecMainStatus,"
        "ExecMainStartTimestampMonotonic etcd-restore.service"
    )
    _, log, ev3 = ctx.sh("journalctl -u etcd-restore.service -n 10 --no-pager -o cat")
    p = dict(ln.split("=", 1) for ln in show.splitlines() if "=" in ln)
    ran = p.get("ExecMainStartTimestampMonotonic", "0") not in ("", "0")
    ok = ran and p.get("Result") == "success" and p.get("ExecMainStatus") == "0"
    yield Check(
        "etcd_restore_ran",
        PASSED if ok else FAILED,
        f"etcd-restore.service {p.get('LoadState')}/{p.get('ActiveState')}, result {p.get('Result')}, "
        f"exit {p.get('ExecMainStatus')}, ran={ran}",
        [ev2, ev3],
    )


@check
def kubeadm_preflight(ctx: Context) -> Iterator[Check]:
    if not ctx.tool("kubeadm"):
        yield Check("kubeadm_preflight", SKIPPED, ctx.missing("kubeadm"))
        return
    if ctx.role == "control-plane":
        cmd = "kubeadm init phase preflight --ignore-preflight-errors=ImagePull 2>&1"
    else:  # join preflight with a dummy endpoint: the node checks run before any discovery
        cmd = (
            "kubeadm join phase preflight 127.0.0.1:6443 --token abcdef.0123456789abcdef "
            "--discovery-token-unsafe-skip-ca-verification 2>&1"
        )
    rc, out, ev = ctx.sh(cmd, timeout=300)
    errors = [ln for ln in out.splitlines() if "[ERROR" in ln]
    warns = [ln for ln in out.splitlines() if "[WARNING" in ln]
    yield Check(
        "kubeadm_preflight",
        PASSED if rc == 0 and not errors else FAILED,
        f"rc={rc}, {len(errors)} error(s), {len(warns)} warning(s)"
        + (": " + "; ".join(errors)[:800] if errors else ""),
        [ev],
    )


def run_all(ctx: Context) -> list[Check]:
    out: list[Check] = []
    for fn in REGISTRY:
        out.extend(fn(ctx))
    return out
