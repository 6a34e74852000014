"""Checks that the pinned container runtime runs with the layer's configuration and runs a pod, air-gapped.

``containerd_version``       the running containerd (server) reports the matrix row's version
``containerd_config_clean``  containerd's journal since boot: no unknown-key warning, no config
                             migration, no plugin load failure
``cri_runtime_config``       ``crictl info``: runc runtime with SystemdCgroup true, the pinned sandbox image
``pod_runs``                 ``crictl runp`` + ``create`` + ``start`` + ``exec`` from a local image; the
                             sandbox is the air-gapped pause; its cgroup is under a systemd slice on cgroup v2
``pod_network``              the pod got an address from the CNI configuration
``no_pulls``                 the guest has no route out (QEMU ``restrict=on``), containerd logged no pull,
                             and k8s.io holds exactly the images the lock files list, at their digests

Registered into ``generator.qemu.checks`` on import. They need crictl and ctr in the image; a pod
needs the test image the stand-in installs (/usr/share/rcar-k8s-test), else they are skipped with the
reason. Milestones for the timing report go onto the console's marks: ``cri_ready``,
``images_imported``, ``pod_running``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from generator.qemu.checks import CRI_SOCK, FAILED, PASSED, SKIPPED, Check, Context, check

TEST_DIR = "/usr/share/rcar-k8s-test"
IMAGES_DIR = "/usr/share/rcar-k8s/images"
# containerd v2.3.4 cmd/containerd/server/config/config.go ("Ignoring unknown key in TOML",
# "Configuration migrated from version"), cmd/containerd/server/server.go ("failed to load plugin")
JOURNAL_BAD = (
    r"Ignoring unknown key|Configuration migrated|failed to load plugin|"
    r"failed to load cni|level=(error|fatal)"
)
CRICTL = f"crictl --runtime-endpoint {CRI_SOCK}"
POD_UNIT_GLOB = "'kubepods-besteffort-pod*.slice'"


def _skip_reason(ctx: Context) -> str | None:
    if ctx.runtime_skip:
        return ctx.runtime_skip
    for tool in ("ctr", "crictl"):
        if not ctx.tool(tool):
            return ctx.missing(tool)
    return None


def _journal_time(ctx: Context, unit: str, pattern: str) -> float | None:
    """Host-axis seconds of the first journal line of ``unit`` matching ``pattern``."""
    # only the seconds: the console drops lines that look like printk output ("[  12.345678] ...")
    _, out, _ = ctx.sh(
        f"journalctl -b -u {unit} -o short-monotonic --no-pager | grep -m1 -E '{pattern}' "
        "| sed -E 's/^\\[ *([0-9.]+)\\].*/\\1/'"
    )
    m = re.fullmatch(r"(\d+\.\d+)", out.strip())
    return ctx.console.guest_time(int(float(m.group(1)) * 1e6)) if m else None


@check
def containerd_runtime(ctx: Context) -> Iterator[Check]:
    names = ("containerd_version", "containerd_config_clean", "cri_runtime_config")
    why = _skip_reason(ctx)
    if why:
        for n in names:
            yield Check(n, SKIPPED, why)
        return
    want = ctx.row.version("containerd")
    rc, out, ev = ctx.sh("ctr version")
    _, where, ev2 = ctx.sh(
        "ls -l /usr/bin/containerd* /usr/bin/ctr /usr/bin/runc /usr/sbin/runc 2>&1; runc --version"
    )
    server = out.split("Server:", 1)[-1] if "Server:" in out else ""
    m = re.search(r"Version:\s*v?(\S+)", server)
    got = m.group(1) if m else None
    yield Check(
        "containerd_version",
        PASSED if got == want else FAILED,
        f"running containerd {got} {'==' if got == want else '!='} matrix row {ctx.row.minor}: {want}",
        [ev, ev2],
    )
    _, log, ev = ctx.sh(f"journalctl -b -u containerd.service --no-pager -o cat | grep -E '{JOURNAL_BAD}'")
    _, head, ev2 = ctx.sh(
        "journalctl -b -u containerd.service --no-pager -o cat | grep -cE 'msg=' ; "
        "journalctl -b -u containerd.service --no-pager -o cat "
        "| grep -E 'successfully booted|config' | head -5"
    )
    bad = [ln for ln in log.splitlines() if ln.strip()]
    t = _journal_time(ctx, "containerd.service", "successfully booted")
    if t is not None:
        ctx.console.marks["cri_ready"] = t
    yield Check(
        "containerd_config_clean",
        FAILED if bad else PASSED,
        f"{len(bad)} bad journal line(s): {'; '.join(bad)[:500]}"
        if bad
        else "containerd's journal since boot: no unknown key, no config migration, no plugin load failure",
        [ev, ev2],
    )
    rc, info, ev = ctx.sh(f"{CRICTL} info -o json", timeout=60)
    try:
        cfg = json.loads(info[info.index("{") :])
    except ValueError:
        yield Check("cri_runtime_config", FAILED, f"crictl info rc={rc}: not JSON", [ev])
        return
    c = cfg.get("config") or {}
    runc = ((c.get("containerd") or {}).get("runtimes") or {}).get("runc") or {}
    opts = runc.get("options") or {}
    # containerd 2.x's CRI status reports the runtime plugin's config only; the sandbox image lives in
    # the images plugin (internal/cri/server/status.go v2.3.4): read it as containerd itself loads it
    _, dump, ev_dump = ctx.sh("containerd config dump 2>&1 | grep -B3 -E '^ *sandbox *='")
    sm = re.search(r"^\s*sandbox\s*=\s*['\"]([^'\"]+)['\"]", dump, re.M)
    sandbox = sm.group(1) if sm else None
    want_pause = str(ctx.row.comp("pause")["image"])
    default = (c.get("containerd") or {}).get("defaultRuntimeName")
    problems = []
    if runc.get("runtimeType") != "io.containerd.runc.v2":
        problems.append(f"runc runtimeType {runc.get('runtimeType')}")
    if opts.get("SystemdCgroup") is not True:
        problems.append(f"SystemdCgroup {opts.get('SystemdCgroup')}")
    if sandbox != want_pause:
        problems.append(f"sandbox image {sandbox} != {want_pause}")
    if default != "runc":
        problems.append(f"default runtime {default}")
    ev["out"] = json.dumps(
        {"defaultRuntimeName": default, "runc": runc, "sandbox": sandbox, "status": cfg.get("status")}
    )[:2000]
    yield Check(
        "cri_runtime_config",
        FAILED if problems else PASSED,
        "; ".join(problems)
        if problems
        else "crictl info: default runtime runc (io.containerd.runc.v2), SystemdCgroup true; "
        f"containerd config dump: pinned sandbox {sandbox}",
        [ev, ev_dump],
    )


@check
def pod(ctx: Context) -> Iterator[Check]:
    why = _skip_reason(ctx)
    rc, _, _ = ctx.sh(f"test -r {TEST_DIR}/pod.json")
    if not why and rc != 0:
        why = f"no test pod configuration in this image ({TEST_DIR}; the stand-in installs one)"
    if why:
        yield Check("pod_runs", SKIPPED, why)
        yield Check("pod_network", SKIPPED, why)
        return
    _, imp, ev_imp = ctx.sh(
        "systemctl show -p ActiveState,Result,ActiveEnterTimestampMonotonic k8s-images-import.service; "
        "journalctl -b -u k8s-images-import.service -o cat --no-pager | tail -5"
    )
    m = re.search(r"ActiveEnterTimestampMonotonic=(\d+)", imp)
    t = ctx.console.guest_time(int(m.group(1))) if m else None
    if t is not None:
        ctx.console.marks["images_imported"] = t
    evs = [ev_imp]
    rc, pod_id, ev = ctx.sh(f"{CRICTL} runp {TEST_DIR}/pod.json 2>&1", timeout=180)
    evs.append(ev)
    ok = rc == 0 and re.fullmatch(r"[0-9a-f]{64}", pod_id.strip())
    ctr_id = ""
    if ok:
        rc, ctr_id, ev = ctx.sh(
            f"{CRICTL} create {pod_id} {TEST_DIR}/container.json {TEST_DIR}/pod.json 2>&1", timeout=180
        )
        evs.append(ev)
        ok = rc == 0 and re.fullmatch(r"[0-9a-f]{64}", ctr_id.strip())
    if ok:
        rc, _, ev = ctx.sh(f"{CRICTL} start {ctr_id} 2>&1", timeout=120)
        evs.append(ev)
        ok = rc == 0
    if ok:
        ctx.console.marks["pod_running"] = ctx.console.now()
        rc, hello, ev = ctx.sh(
            f"{CRICTL} exec {ctr_id} /bin/sh -c 'echo hello-from-$(/bin/busybox hostname)'"
        )
        evs.append(ev)
        ok = rc == 0 and "hello-from-rcar-k8s-test" in hello
    if not ok:
        yield Check("pod_runs", FAILED, f"crictl runp/create/start/exec failed (last rc={rc})", evs)
        yield Check("pod_network", SKIPPED, "no pod running (see pod_runs)")
        return
    _, insp, ev = ctx.sh(f"{CRICTL} inspectp -o json {pod_id}")
    evs.append(ev)
    _, imgs, ev = ctx.sh(f"{CRICTL} images --digests; ctr -n k8s.io images ls")
    evs.append(ev)
    _, cg, ev = ctx.sh(
        "stat -fc %T /sys/fs/cgroup; "
        f"for p in $(pgrep -x pause); do cat /proc/$p/cgroup; done; "
        f"systemctl status --no-pager -n0 {POD_UNIT_GLOB} 2>&1 | head -5"
    )
    evs.append(ev)
    pause_ref = str(ctx.row.comp("pause")["image"])
    _, lock, _ = ctx.sh(f"cat {IMAGES_DIR}/images-*.lock")
    lock_digest = next((ln.split()[1] for ln in lock.splitlines() if ln.startswith(pause_ref + " ")), None)
    pause_ok = bool(lock_digest) and any(
        ln.split()[:1] == [pause_ref] and lock_digest in ln for ln in imgs.splitlines()
    )
    v2 = cg.splitlines()[:1] == ["cgroup2fs"]
    slice_ok = re.search(
        r"^0::/kubepods\.slice/kubepods-besteffort\.slice/\S+\.slice/cri-containerd-", cg, re.M
    )
    problems = []
    if not pause_ok:
        problems.append(f"sandbox image {pause_ref} not the air-gapped one at {lock_digest}")
    if not v2:
        problems.append("not cgroup v2")
    if not slice_ok:
        problems.append("pause's cgroup not under kubepods.slice/…/cri-containerd-*.scope")
    yield Check(
        "pod_runs",
        FAILED if problems else PASSED,
        "; ".join(problems)
        if problems
        else "pod + container from local images started, exec answered; "
        f"sandbox {pause_ref}@{str(lock_digest)[:19]}… "
        "(air-gapped import); cgroup v2, under a systemd slice (cri-containerd-*.scope)",
        evs,
    )
    try:
        net = json.loads(insp[insp.index("{") :])["status"]["network"]
        ip = net.get("ip", "")
    except (ValueError, KeyError):
        ip = ""
    _, addr, ev2 = ctx.sh(f"{CRICTL} exec {ctr_id} /bin/busybox ip -4 addr show eth0; ip -4 addr show cni0")
    in_pod = re.search(r"inet (10\.244\.0\.\d+)/24", addr)
    yield Check(
        "pod_network",
        PASSED if ip.startswith("10.244.0.") and in_pod and in_pod.group(1) == ip else FAILED,
        f"pod IP {ip or 'none'} from host-local 10.244.0.0/24 via bridge cni0 (eth0 in the pod: "
        f"{in_pod.group(1) if in_pod else 'none'})",
        [ev, ev2],
    )


@check
def no_pulls(ctx: Context) -> Iterator[Check]:
    why = _skip_reason(ctx)
    if why:
        yield Check("no_pulls", SKIPPED, why)
        return
    _, route, ev1 = ctx.sh("ip route; ip -6 route; cat /proc/cmdline | head -c 0")
    _, pulls, ev2 = ctx.sh(
        "journalctl -b -u containerd.service --no-pager -o cat | grep -iE 'PullImage|fetch|resolv' | head -20"
    )
    # the CRI adds records named by image id (sha256:…) and repo@digest; the names are what was imported
    _, imgs, ev3 = ctx.sh("ctr -n k8s.io images ls -q | grep -v -e '^sha256:' -e '@sha256:'")
    _, lock, ev4 = ctx.sh(f"cat {IMAGES_DIR}/images-*.lock 2>/dev/null")
    locked = sorted({ln.split()[0] for ln in lock.splitlines() if ln.strip() and not ln.startswith("#")})
    have = sorted(ln.strip() for ln in imgs.splitlines() if ln.strip())
    restricted = "restrict=on" in " ".join(getattr(ctx.console, "cmd", []))
    problems = []
    if pulls.strip():
        problems.append(f"containerd logged pulls: {pulls.splitlines()[0][:200]}")
    if have != locked:
        problems.append(f"k8s.io images {have} != locked {locked}")
    if not restricted:
        problems.append("QEMU network not restricted (restrict=on missing)")
    if re.search(r"^default ", route, re.M) and not restricted:
        problems.append("guest has a default route")
    yield Check(
        "no_pulls",
        FAILED if problems else PASSED,
        "; ".join(problems)
        if problems
        else f"QEMU user network restrict=on (no route out); no pull in containerd's journal; k8s.io holds "
        f"exactly the {len(locked)} locked image(s)",
        [ev1, ev2, ev3, ev4],
    )
