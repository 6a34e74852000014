"""The compatibility rules R1-R20 as data, and ``check_matrix`` which applies them.

Each ``Rule`` has an id, a one-line text, its upstream source, the severity of a violation and a
pure ``check(ctx)`` over one row (``Context``: the row, the Yocto series and its Go, build mode,
runtime and the date the image is planned for). A check yields ``Hit``s; a hit may lower the
severity to ``warning`` where upstream itself is provisional (e.g. containerd has not listed the
newest Kubernetes minor yet). The numbers follow versions.md "Constraints a resolver must encode".

Public API (used by the resolver, the layer templates and the update command):

  check_matrix(matrix_or_data, *, date=None, build="binary", yocto=None, go=None) -> list[Finding]
  containerd_config(row) -> dict   # config version, SystemdCgroup table, sandbox image key path
  RULES, RULES_BY_ID, UNCONFIRMED
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.errors import UserError
from generator.matrix import facts, schema, store
from generator.matrix import versions as V
from generator.matrix.model import Matrix, Row, from_data

ERROR = "error"
WARNING = "warning"
RUNTIMES = ("containerd", "docker")
BUILDS = ("binary", "source")
UNCONFIRMED = "UNCONFIRMED"  # pseudo-rule id: a hash/commit the matrix could not confirm


@dataclass(frozen=True)
class Context:
    row: Row
    yocto: dict[str, Any]  # the matrix's yocto section (kernel, systemd, layers)
    series: str  # Yocto series the build targets
    go: str  # Go toolchain BitBake has (the series' OE-core Go unless a newer one is provided)
    build: str = "binary"
    runtime: str = "containerd"
    date: dt.date = field(default_factory=dt.date.today)

    @property
    def minor(self) -> str:
        return self.row.minor

    def comp(self, name: str) -> dict[str, Any] | None:
        return self.row.components.get(name)


@dataclass(frozen=True)
class Hit:
    component: str
    message: str
    severity: str | None = None  # None: the rule's severity


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    minor: str | None
    component: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "minor": self.minor,
            "component": self.component,
            "message": self.message,
            "line": self.line,
        }


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    text: str
    source: str
    severity: str
    check: Callable[[Context], Iterable[Hit]] = field(repr=False)
    runtimes: tuple[str, ...] = RUNTIMES
    way_out: str = "fix the pin in generator/data/matrix.yml (see `rcar-k8s matrix check`)"


# --- helpers --------------------------------------------------------------------------------------


def _m(version: object) -> int:
    """Kubernetes minor number: "1.36.4" -> 36."""
    return V.minor_num(version)


def kube_versions(row: Row) -> dict[str, str]:
    """Version of each Kubernetes piece the row deploys.

    kubeadm/kubelet/kubectl: the release their download URL names. Control-plane images: the tag in
    ``kubernetes.images`` (what kubeadm deploys), else ``kubernetes.version`` (kubeadm's default).
    """
    k = row.comp("kubernetes")
    base = str(k["version"])
    out = {}
    for name in ("kubeadm", "kubelet", "kubectl"):
        art = (k.get("artifacts") or {}).get(name) or {}
        out[name] = V.from_url(art.get("url", "")) or base
    images = k.get("images") or {}
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        ref = images.get(name) or ""
        ref = ref.get("image", "") if isinstance(ref, dict) else ref  # {image, digest, ...} or a plain ref
        out[name] = V.from_image(str(ref)) or base
    return out


def _containerd(ctx: Context) -> dict[str, Any]:
    return ctx.row.comp("containerd")


# --- R1-R5: Kubernetes version skew ---------------------------------------------------------------


def _r1(ctx: Context) -> Iterator[Hit]:
    kv = kube_versions(ctx.row)
    api, kubelet = _m(kv["kube-apiserver"]), _m(kv["kubelet"])
    older = facts.K8S_SKEW.data["kubelet_older" if kubelet >= 25 else "kubelet_older_pre_1_25"]
    if kubelet > api:
        yield Hit(
            "kubernetes", f"kubelet {kv['kubelet']} is newer than kube-apiserver {kv['kube-apiserver']}"
        )
    elif api - kubelet > older:
        yield Hit(
            "kubernetes",
            f"kubelet {kv['kubelet']} is more than {older} minors older than "
            f"kube-apiserver {kv['kube-apiserver']}",
        )


def _r2(ctx: Context) -> Iterator[Hit]:
    kv = kube_versions(ctx.row)
    api, proxy, kubelet = _m(kv["kube-apiserver"]), _m(kv["kube-proxy"]), _m(kv["kubelet"])
    s = facts.K8S_SKEW.data
    if proxy > api or api - proxy > s["proxy_older"]:
        yield Hit(
            "kubernetes",
            f"kube-proxy {kv['kube-proxy']} must be at kube-apiserver {kv['kube-apiserver']}'s "
            f"minor or up to {s['proxy_older']} older",
        )
    if abs(proxy - kubelet) > s["proxy_kubelet"]:
        yield Hit(
            "kubernetes",
            f"kube-proxy {kv['kube-proxy']} is more than {s['proxy_kubelet']} minors from "
            f"kubelet {kv['kubelet']}",
        )


def _r3(ctx: Context) -> Iterator[Hit]:
    kv = kube_versions(ctx.row)
    api = _m(kv["kube-apiserver"])
    for name in ("kube-controller-manager", "kube-scheduler"):
        if _m(kv[name]) not in (api, api - facts.K8S_SKEW.data["cm_sched_older"]):
            yield Hit(
                "kubernetes",
                f"{name} {kv[name]} must be at kube-apiserver {kv['kube-apiserver']}'s minor or one older",
            )


def _r4(ctx: Context) -> Iterator[Hit]:
    kv = kube_versions(ctx.row)
    if abs(_m(kv["kubectl"]) - _m(kv["kube-apiserver"])) > facts.K8S_SKEW.data["kubectl"]:
        yield Hit(
            "kubernetes",
            f"kubectl {kv['kubectl']} is not within one minor of kube-apiserver {kv['kube-apiserver']}",
        )


def _r5(ctx: Context) -> Iterator[Hit]:
    kv = kube_versions(ctx.row)
    k = ctx.row.comp("kubernetes")
    adm, cp, kubelet = _m(kv["kubeadm"]), _m(kv["kube-apiserver"]), _m(kv["kubelet"])
    if V.minor(kv["kubeadm"]) != ctx.minor:
        yield Hit("kubernetes", f"kubeadm {kv['kubeadm']} is not a {ctx.minor} release (the row's minor)")
    if cp not in (adm, adm - facts.K8S_SKEW.data["kubeadm_cp_older"]):
        yield Hit(
            "kubernetes",
            f"kubeadm {kv['kubeadm']} cannot deploy control plane {kv['kube-apiserver']} "
            "(same minor or one older only)",
        )
    if not adm - facts.K8S_SKEW.data["kubeadm_kubelet_older"] <= kubelet <= adm:
        yield Hit(
            "kubernetes",
            f"kubelet {kv['kubelet']} is outside [kubeadm - 3, kubeadm] for kubeadm {kv['kubeadm']}",
        )
    if kv["kubeadm"] != kv["kubelet"] or kv["kubeadm"] != str(k["version"]):
        yield Hit(
            "kubernetes",
            f"kubeadm {kv['kubeadm']}, kubelet {kv['kubelet']} and kubernetes.version "
            f"{k['version']} must be the same patch (an image pins one release)",
        )


# --- R6-R11: CRI tooling and containerd -----------------------------------------------------------


def _r6(ctx: Context) -> Iterator[Hit]:
    ver = str(ctx.comp("cri-tools")["version"])
    have, want = V.minor(ver), ctx.minor
    if V.lt(have, facts.CRI_TOOLS_MIN.data):
        yield Hit("cri-tools", f"cri-tools {ver} is older than {facts.CRI_TOOLS_MIN.data}")
    elif have == want:
        return
    elif V.lt(facts.CRI_TOOLS_NEWEST.data, want) and have == facts.CRI_TOOLS_NEWEST.data:
        yield Hit(
            "cri-tools",
            f"cri-tools {ver} for Kubernetes {want}: no cri-tools {want} release exists yet; "
            "the newest one is used until it does",
            WARNING,
        )
    else:
        yield Hit("cri-tools", f"cri-tools {ver} is not Kubernetes {want}'s minor (use cri-tools {want}.x)")


def _r7(ctx: Context) -> Iterator[Hit]:
    ver = str(_containerd(ctx)["version"])
    line = V.minor(ver)
    table = facts.CONTAINERD_K8S.data
    listed = sorted(table, key=V.key)
    newest = listed[-1]
    if ctx.minor in table:
        mins = {V.minor(x): x for x in table[ctx.minor]}
        if line not in mins:
            yield Hit(
                "containerd",
                f"containerd {ver} ({line}) is not in containerd's support table for "
                f"Kubernetes {ctx.minor} (listed: {', '.join(table[ctx.minor])})",
            )
        elif V.lt(ver, mins[line]):
            yield Hit(
                "containerd",
                f"containerd {ver} is below {mins[line]}+, the minimum containerd lists for "
                f"Kubernetes {ctx.minor}",
            )
    elif V.lt(newest, ctx.minor):
        mins = {V.minor(x): x for x in table[newest]}
        if line in mins and V.ge(ver, mins[line]) and line == V.minor(table[newest][0]):
            yield Hit(
                "containerd",
                f"containerd has not listed Kubernetes {ctx.minor} yet; {ver} is the newest line "
                f"listed for {newest} (provisional)",
                WARNING,
            )
        else:
            yield Hit(
                "containerd",
                f"Kubernetes {ctx.minor} is not in containerd's support table yet and {ver} is "
                f"not the newest line listed for {newest} ({table[newest][0]})",
            )
    else:
        yield Hit(
            "containerd", f"Kubernetes {ctx.minor} is older than containerd's support table ({listed[0]}+)"
        )


def _r8(ctx: Context) -> Iterator[Hit]:
    if V.lt(ctx.minor, facts.CRI_V1_FROM_K8S):
        return
    ver = str(_containerd(ctx)["version"])
    table = facts.CONTAINERD_CRI_V1.data
    need = table.get(V.minor(ver)) or table.get(V.major(ver))
    if need is None or V.lt(ver, need):
        yield Hit(
            "containerd",
            f"containerd {ver} does not serve CRI v1, which Kubernetes {ctx.minor} requires "
            "(needs 1.6.15+, 1.7.0+ or 2.x)",
        )


def _r9(ctx: Context) -> Iterator[Hit]:
    ver = str(_containerd(ctx)["version"])
    for from_minor, need in facts.CONTAINERD_MIN_FOR_K8S.data.items():
        if V.ge(ctx.minor, from_minor) and V.lt(ver, need):
            yield Hit(
                "containerd",
                f"Kubernetes {ctx.minor} needs containerd >= {need} (containerd 1.x support "
                f"ended with 1.35); pinned {ver}",
            )


def _r10(ctx: Context) -> Iterator[Hit]:
    c = _containerd(ctx)
    ver, cv = str(c["version"]), c["config_version"]
    span = facts.CONTAINERD_CONFIG_VERSIONS.data.get(cv)
    if span is None:
        yield Hit(
            "containerd",
            f"containerd config version {cv} is unknown (known: "
            f"{', '.join(map(str, facts.CONTAINERD_CONFIG_VERSIONS.data))})",
        )
        return
    first, gone = span
    if V.lt(ver, first):
        yield Hit("containerd", f"config version {cv} needs containerd >= {first}; pinned {ver}")
    elif gone and V.ge(ver, gone):
        yield Hit("containerd", f"config version {cv} was removed in containerd {gone}; pinned {ver}")
    else:
        native = facts.CONTAINERD_NATIVE_CONFIG.data.get(V.minor(ver))
        if native is not None and cv != native:
            yield Hit(
                "containerd",
                f"containerd {ver} uses config version {native}; a version {cv} file is migrated at "
                f"every start ('Configuration migrated from version {cv}'): set config_version {native}",
            )


def _r11(ctx: Context) -> Iterator[Hit]:
    kubelet = ctx.row.comp("kubernetes").get("cgroup_driver")
    if ctx.runtime == "docker":
        docker = ctx.comp("docker") or {}
        runtime_driver = docker.get("cgroup_driver")
        if runtime_driver and runtime_driver != kubelet:
            yield Hit(
                "docker",
                f"kubelet cgroupDriver {kubelet} != Docker's {runtime_driver} "
                "(native.cgroupdriver); both must match",
            )
        return
    c = _containerd(ctx)
    if c["config_version"] not in facts.CONTAINERD_CONFIG_PATHS.data:
        yield Hit("containerd", f"no known SystemdCgroup location for config version {c['config_version']}")
    runtime_driver = c.get("cgroup_driver")
    if runtime_driver == kubelet:
        return
    from_cri = V.ge(ctx.minor, facts.DRIVER_FROM_CRI.data["k8s"]) and V.ge(
        c["version"], facts.DRIVER_FROM_CRI.data["containerd"]
    )
    if from_cri:
        yield Hit(
            "containerd",
            f"kubelet cgroupDriver {kubelet} differs from containerd's {runtime_driver}; the "
            f"kubelet takes containerd's (KubeletCgroupDriverFromCRI), so set both alike",
            WARNING,
        )
    else:
        yield Hit(
            "containerd",
            f"kubelet cgroupDriver {kubelet} != containerd's {runtime_driver} and Kubernetes "
            f"{ctx.minor} with containerd {c['version']} cannot take it from the CRI",
        )


# --- R12-R16: host, runc, Go toolchain, Yocto ------------------------------------------------------


def _r12(ctx: Context) -> Iterator[Hit]:
    need = facts.CGROUP_V2.data
    if V.lt(ctx.minor, need["from_k8s"]):
        return
    kernel = str(ctx.yocto["kernel"]["version"])
    if V.lt(kernel, need["kernel"]):
        yield Hit(
            "kernel",
            f"Kubernetes {ctx.minor} refuses cgroup v1 (failCgroupV1) and cgroup v2 needs kernel >= "
            f"{need['kernel']}; the image has {kernel}",
        )
    systemd = ctx.yocto.get("systemd")
    if not systemd:
        yield Hit(
            "systemd",
            f"Kubernetes {ctx.minor} needs cgroup v2, which needs the systemd init manager; "
            "the matrix names no systemd",
        )
    elif V.lt(systemd, need["systemd"]):
        yield Hit("systemd", f"systemd {systemd} is older than {need['systemd']}, recommended for cgroup v2")


def _r13(ctx: Context) -> Iterator[Hit]:
    c = _containerd(ctx)
    runc = str(ctx.comp("runc")["version"])
    pinned = str(c["runc_pinned"])
    if V.minor(runc) != pinned:
        yield Hit(
            "runc",
            f"runc {runc} is not the line containerd {c['version']} ships (runc {pinned}.x, "
            "script/setup/runc-version)",
        )
    span = facts.CONTAINERD_RUNC.data.get(V.minor(c["version"]))
    if span and not (V.ge(pinned, span[0]) and V.ge(span[1], pinned)):
        yield Hit(
            "containerd",
            f"runc_pinned {pinned} disagrees with containerd {V.minor(c['version'])}'s "
            f"script/setup/runc-version (runc {span[0]}-{span[1]})",
        )
    if V.minor(runc) not in facts.RUNC_RELEASED.data:
        yield Hit(
            "runc", f"runc line {V.minor(runc)} is unknown (known: {', '.join(facts.RUNC_RELEASED.data)})"
        )


def _go_needed(ctx: Context, name: str) -> str | None:
    comp = ctx.comp(name)
    return str(comp["go"]) if comp and comp.get("go") else None


def built_components(ctx: Context) -> list[str]:
    """Components BitBake compiles with its Go: all in a source build; in a binary build only those
    without an upstream binary (Docker from meta-virtualization)."""
    names = list(facts.BUILT) + (list(facts.BUILT_DOCKER) if ctx.runtime == "docker" else [])
    if ctx.build == "source":
        return [n for n in names if ctx.comp(n)]
    return [n for n in names if ctx.comp(n) and not ctx.comp(n).get("artifacts")]


def _r14(ctx: Context) -> Iterator[Hit]:
    # The recorded `go` must not understate what upstream needs: the resolver trusts it.
    k = ctx.row.comp("kubernetes")
    known = facts.K8S_GO.data.get(ctx.minor)
    if known and k.get("go") and V.lt(k["go"], known):
        yield Hit(
            "kubernetes",
            f"kubernetes.go {k['go']} understates Go {known}, which Kubernetes {ctx.minor} is built with",
        )
    for name, lines in facts.GO_MIN.data.items():
        comp = ctx.comp(name)
        if not comp or not comp.get("go"):
            continue
        need = lines.get(V.minor(comp["version"]))
        if need and V.lt(comp["go"], need):
            yield Hit(
                name,
                f"{name}.go {comp['go']} understates the go.mod minimum {need} of {name} "
                f"{V.minor(comp['version'])}",
            )
    for name in built_components(ctx):
        need = _go_needed(ctx, name)
        if need and V.lt(ctx.go, need):
            yield Hit(
                name,
                f"{ctx.build} build compiles {name} {ctx.comp(name)['version']} which needs Go >= "
                f"{need}, but Yocto {ctx.series} provides Go {ctx.go}",
            )


def _r15(ctx: Context) -> Iterator[Hit]:
    series = ctx.yocto.get("series")
    known = facts.YOCTO.data.get(series)
    if known is None:
        yield Hit("yocto", f"Yocto series {series!r} is unknown (known: {', '.join(facts.YOCTO.data)})")
    elif str(ctx.yocto.get("go")) != known[1]:
        yield Hit("yocto", f"yocto.go {ctx.yocto.get('go')} is not OE-core {series}'s Go {known[1]}")


def _r16(ctx: Context) -> Iterator[Hit]:
    series = ctx.yocto.get("series")
    for name, layer in (ctx.yocto.get("layers") or {}).items():
        branches = facts.LAYER_COMPAT.data.get(name)
        compat = (branches or {}).get(layer.get("branch"))
        if compat is None:
            yield Hit(
                name,
                f"LAYERSERIES_COMPAT of {name} branch {layer.get('branch')} is not recorded in "
                "generator/matrix/facts.py",
                WARNING,
            )
        elif series not in compat:
            yield Hit(
                name,
                f"{name} branch {layer.get('branch')} declares LAYERSERIES_COMPAT "
                f'"{" ".join(compat)}", which lacks {series}',
            )


# --- R17-R20: images, Docker, lifecycle -----------------------------------------------------------


def _r17(ctx: Context) -> Iterator[Hit]:
    pause = ctx.comp("pause")
    ver = str(pause["version"])
    want = facts.PAUSE.data.get(ctx.minor)
    if want is None:
        yield Hit("pause", f"kubeadm's pause for Kubernetes {ctx.minor} is not recorded in facts.py", WARNING)
    elif ver != want:
        yield Hit(
            "pause",
            f"pause {ver} is not kubeadm {ctx.minor}'s sandbox image {want} (kubeadm warns and "
            "pods use the wrong image)",
        )
    tag = str(pause["image"]).rsplit(":", 1)[-1]
    if tag != ver:
        yield Hit("pause", f"pause image {pause['image']} does not carry version {ver}")


def _r18(ctx: Context) -> Iterator[Hit]:
    etcd = ctx.comp("etcd")
    ver = str(etcd["version"])
    line = facts.ETCD_LINE.data.get(ctx.minor)
    if line and V.minor(ver) != line:
        yield Hit(
            "etcd", f"etcd {ver} is not kubeadm {ctx.minor}'s etcd line {line}.x (SupportedEtcdVersion)"
        )
    if V.lt(ver, facts.ETCD_MIN_EXTERNAL.data):
        yield Hit(
            "etcd", f"etcd {ver} is below kubeadm's MinExternalEtcdVersion {facts.ETCD_MIN_EXTERNAL.data}"
        )
    img = V.from_image(str(etcd["image"]))
    if img != ver:
        yield Hit("etcd", f"etcd image {etcd['image']} does not carry version {ver}")


def _r19(ctx: Context) -> Iterator[Hit]:
    if ctx.runtime != "docker" or V.lt(ctx.minor, facts.DOCKERSHIM_REMOVED.data):
        return
    if not ctx.comp("docker"):
        yield Hit("docker", f"the docker runtime needs a Docker Engine pin; row {ctx.minor} has none")
    if not ctx.comp("cri-dockerd"):
        yield Hit(
            "cri-dockerd",
            f"Docker Engine as the runtime for Kubernetes {ctx.minor} (>= "
            f"{facts.DOCKERSHIM_REMOVED.data}, dockershim removed) needs cri-dockerd; "
            "row has none",
        )


def runc_support(line: str, date: dt.date) -> str | None:
    """None when the runc line is supported at ``date``, else why not."""
    released = sorted((d, ln) for ln, d in facts.RUNC_RELEASED.data.items() if d <= date)
    lines = [ln for _, ln in released]
    if line not in lines:
        return f"runc {line} was not released by {date}"
    window = lines[-facts.RUNC_SUPPORTED_LINES :]
    if line not in window:
        return f"runc {line} is outside runc's support window at {date} ({', '.join(window)})"
    return None


def _r20(ctx: Context) -> Iterator[Hit]:
    row = ctx.row
    if ctx.date > row.eol:
        yield Hit("kubernetes", f"Kubernetes {row.minor} reached end of life on {row.eol} (date {ctx.date})")
    known = facts.K8S_LIFECYCLE.data.get(row.minor)
    if known and known[2] != row.eol:
        yield Hit("kubernetes", f"row eol {row.eol} disagrees with upstream's {known[2]}")
    if ctx.runtime == "containerd":
        ver = str(_containerd(ctx)["version"])
        eol = facts.CONTAINERD_EOL.data.get(V.minor(ver))
        if eol is None:
            yield Hit("containerd", f"containerd {V.minor(ver)}'s end of support is not recorded")
        elif ctx.date > eol:
            yield Hit(
                "containerd",
                f"containerd {V.minor(ver)} reached end of support on {eol} (date {ctx.date}); "
                "move to a supported line",
            )
    why = runc_support(V.minor(ctx.comp("runc")["version"]), ctx.date)
    if why:
        yield Hit("runc", why)
    yocto = facts.YOCTO.data.get(ctx.series)
    if yocto and yocto[2] and ctx.date > yocto[2]:
        yield Hit("yocto", f"Yocto {ctx.series} support ended {yocto[2]} (date {ctx.date})")


# --- the table ------------------------------------------------------------------------------------

SKEW = facts.K8S_SKEW.source
CTD = facts.CONTAINERD_K8S.source

RULES: tuple[Rule, ...] = (
    Rule(
        "R1",
        "kubelet skew",
        "kubelet minor <= kube-apiserver minor and >= apiserver - 3 (- 2 below 1.25)",
        SKEW,
        ERROR,
        _r1,
    ),
    Rule(
        "R2",
        "kube-proxy skew",
        "kube-proxy minor <= apiserver and >= apiserver - 3; within +-3 of the kubelet",
        SKEW,
        ERROR,
        _r2,
    ),
    Rule(
        "R3",
        "control-plane skew",
        "kube-controller-manager and kube-scheduler at apiserver's minor or one older",
        SKEW,
        ERROR,
        _r3,
    ),
    Rule("R4", "kubectl skew", "kubectl minor within +-1 of kube-apiserver", SKEW, ERROR, _r4),
    Rule(
        "R5",
        "kubeadm skew and pinning",
        "kubeadm minor = row minor; control plane at kubeadm's minor or one older; kubelet in [kubeadm - 3, "
        "kubeadm]; kubeadm, kubelet and kubernetes.version are the same patch",
        SKEW,
        ERROR,
        _r5,
    ),
    Rule(
        "R6",
        "cri-tools minor",
        "cri-tools minor = Kubernetes minor (>= 1.27); the newest cri-tools is a "
        "warning while no release for the minor exists",
        facts.CRI_TOOLS_MIN.source,
        ERROR,
        _r6,
    ),
    Rule(
        "R7",
        "containerd support table",
        "the (Kubernetes minor, containerd) pair is in containerd's Kubernetes "
        "Support table; a minor not listed yet with the newest listed line is provisional (warning)",
        CTD,
        ERROR,
        _r7,
        ("containerd",),
    ),
    Rule(
        "R8",
        "CRI v1",
        "Kubernetes >= 1.26 needs a CRI v1 runtime: containerd >= 1.6.15, >= 1.7.0 or 2.x",
        facts.CONTAINERD_CRI_V1.source,
        ERROR,
        _r8,
        ("containerd",),
    ),
    Rule(
        "R9",
        "containerd 2.2+ from 1.36",
        "Kubernetes >= 1.36 needs containerd >= 2.2",
        facts.CONTAINERD_MIN_FOR_K8S.source,
        ERROR,
        _r9,
        ("containerd",),
    ),
    Rule(
        "R10",
        "config version",
        "containerd config version supported by the pinned containerd: v2 >= 1.3, "
        "v3 >= 2.0, v4 >= 2.3; v1 removed in 2.0; and the version the pinned line writes itself "
        "(2.0-2.2: 3, 2.3+: 4), else containerd migrates the file at every start",
        facts.CONTAINERD_CONFIG_VERSIONS.source + "; " + facts.CONTAINERD_NATIVE_CONFIG.source,
        ERROR,
        _r10,
        ("containerd",),
    ),
    Rule(
        "R11",
        "cgroup driver",
        "SystemdCgroup lives where the config version puts it; the kubelet's cgroup "
        "driver equals the runtime's unless the kubelet takes it from the CRI "
        "(k8s >= 1.31, containerd >= 2.0)",
        facts.CONTAINERD_CONFIG_PATHS.source + "; " + facts.DRIVER_FROM_CRI.source,
        ERROR,
        _r11,
    ),
    Rule(
        "R12",
        "cgroup v2 host",
        "Kubernetes >= 1.35 needs cgroup v2: kernel >= 5.8 and systemd as init",
        facts.CGROUP_V2.source,
        ERROR,
        _r12,
    ),
    Rule(
        "R13",
        "runc line",
        "runc in the line containerd's script/setup/runc-version names (its support window is R20)",
        facts.CONTAINERD_RUNC.source,
        ERROR,
        _r13,
    ),
    Rule(
        "R14",
        "Go toolchain",
        "the Go BitBake has >= the go.mod `go` of every component it compiles; recorded "
        "`go` values never understate upstream's",
        facts.GO_MIN.source + "; " + facts.K8S_GO.source,
        ERROR,
        _r14,
        way_out="use --build binary (the default: upstream arm64 binaries, no Go needed), or give BitBake a "
        "newer Go (backport OE-core wrynose's go 1.26.5 recipes into a mixin layer and pass --go 1.26.5), "
        "or target --yocto wrynose",
    ),
    Rule(
        "R15",
        "Yocto Go",
        "yocto.go equals the Go OE-core ships for the series (kirkstone 1.17.13, scarthgap "
        "1.22.12, walnascar 1.24.6, whinlatter 1.25.9, wrynose 1.26.5)",
        facts.YOCTO.source,
        ERROR,
        _r15,
    ),
    Rule(
        "R16",
        "LAYERSERIES_COMPAT",
        "every pinned layer branch declares the Yocto series in LAYERSERIES_COMPAT",
        facts.LAYER_COMPAT.source,
        ERROR,
        _r16,
    ),
    Rule(
        "R17",
        "pause image",
        "the runtime's sandbox image is kubeadm's pause for the minor",
        facts.PAUSE.source,
        ERROR,
        _r17,
    ),
    Rule(
        "R18",
        "etcd",
        "etcd is kubeadm's SupportedEtcdVersion line for the minor and >= MinExternalEtcdVersion",
        facts.ETCD_LINE.source,
        ERROR,
        _r18,
    ),
    Rule(
        "R19",
        "cri-dockerd",
        "Docker Engine as the runtime for Kubernetes >= 1.24 needs cri-dockerd",
        facts.DOCKERSHIM_REMOVED.source,
        ERROR,
        _r19,
        ("docker",),
        way_out="use --runtime containerd, or add docker and cri-dockerd pins to the row",
    ),
    Rule(
        "R20",
        "lifecycle",
        "warn when the Kubernetes minor, the containerd line, the runc line or the Yocto series "
        "is past end of support at the planned date",
        facts.K8S_LIFECYCLE.source + "; " + facts.CONTAINERD_EOL.source + "; " + facts.RUNC_RELEASED.source,
        WARNING,
        _r20,
    ),
)
RULES_BY_ID = {r.id: r for r in RULES}


# --- applying the rules ---------------------------------------------------------------------------


def row_runtimes(row: Row) -> list[str]:
    return ["containerd"] + (
        ["docker"] if ("docker" in row.components or "cri-dockerd" in row.components) else []
    )


def _walk_unconfirmed(obj: Any, at: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """(key path, key, reason) for every `unconfirmed` / `*_unconfirmed` value under obj."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, str) and (k == "unconfirmed" or k.endswith("_unconfirmed")) and v:
                yield at, k, str(v)
            elif isinstance(v, (dict, list)):
                yield from _walk_unconfirmed(v, (*at, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk_unconfirmed(v, (*at, i))


def _what(path: tuple[Any, ...], key: str, node: Any) -> str:
    """Name what is missing: "kubeadm sha256", "git commit", "kube-proxy image digest"."""
    if key != "unconfirmed":
        return key.removesuffix("_unconfirmed") + " digest"
    if not isinstance(node, dict):
        return "value"
    if "sha256" in node:
        return f"{path[-1]} sha256" if path else "sha256"
    if "commit" in node:
        return f"{path[-1]} commit" if path else "commit"
    if "digest" in node:
        return f"{path[-1]} image digest" if path else "image digest"
    return "value"


def unconfirmed(row: Row) -> Iterator[tuple[str, str, tuple[Any, ...]]]:
    """(component, message, key path within the component) for every value the matrix could not confirm."""
    for cname, comp in row.components.items():
        for path, key, reason in _walk_unconfirmed(comp, ()):
            node: Any = comp
            for p in path:
                node = node[p]
            what = _what(path, key, node)
            yield cname, f"{cname}: {what} unconfirmed ({reason})", path


def evaluate(ctx: Context, rules: Iterable[Rule] = RULES) -> list[Finding]:
    """Every rule that applies to ctx.runtime, as findings for ctx.row."""
    out = []
    for rule in rules:
        if ctx.runtime not in rule.runtimes:
            continue
        for hit in rule.check(ctx):
            out.append(Finding(rule.id, hit.severity or rule.severity, ctx.minor, hit.component, hit.message))
    return out


def _as_matrix(matrix_or_data: Matrix | dict[str, Any] | Path | str) -> tuple[Matrix, store.Lines]:
    if isinstance(matrix_or_data, Matrix):
        return matrix_or_data, {}
    if isinstance(matrix_or_data, dict):
        schema.validate(matrix_or_data, {}, "<matrix>")
        return from_data(matrix_or_data, Path("<matrix>")), {}
    path = Path(matrix_or_data)
    data, lines = store.load_located(path)
    schema.validate(data, lines, str(path))
    return from_data(data, path), lines


def load_checked(path: Path | None = None) -> tuple[Matrix, store.Lines]:
    """Load + schema-validate the lock file (UserError with file:line on a bad shape)."""
    from generator import paths

    return _as_matrix(Path(path) if path else paths.MATRIX_FILE)


def yocto_go(series: str) -> str:
    try:
        return facts.YOCTO.data[series][1]
    except KeyError:
        raise UserError(f"unknown Yocto series '{series}' (known: {', '.join(facts.YOCTO.data)})") from None


def check_matrix(
    matrix_or_data: Matrix | dict[str, Any] | Path | str,
    *,
    date: dt.date | None = None,
    build: str = "binary",
    yocto: str | None = None,
    go: str | None = None,
    lines: store.Lines | None = None,
) -> list[Finding]:
    """All findings for every row and runtime profile, plus one UNCONFIRMED warning per unknown hash/commit.

    ``matrix_or_data``: a loaded Matrix, the parsed dict, or a path (then schema errors raise UserError).
    """
    matrix, found_lines = _as_matrix(matrix_or_data)
    lines = lines if lines is not None else found_lines
    date = date or dt.date.today()
    series = yocto or str(matrix.yocto.get("series"))
    have_go = go or facts.YOCTO.data.get(series, (None, str(matrix.yocto.get("go"))))[1]
    findings: list[Finding] = []
    seen: set[tuple[str, str | None, str, str]] = set()
    for i, row in enumerate(matrix.rows):
        for runtime in row_runtimes(row):
            ctx = Context(row, matrix.yocto, series, have_go, build, runtime, date)
            for f in evaluate(ctx):
                k = (f.rule, f.minor, f.component, f.message)
                if k not in seen:
                    seen.add(k)
                    line = lines.get(("rows", i, "components", f.component)) or lines.get(("rows", i))
                    findings.append(Finding(f.rule, f.severity, f.minor, f.component, f.message, line))
        for cname, msg, sub in unconfirmed(row):
            line = lines.get(("rows", i, "components", cname, *sub))
            findings.append(Finding(UNCONFIRMED, WARNING, row.minor, cname, msg, line))
    for top in ("yocto", "addons"):
        for path, key, reason in _walk_unconfirmed(matrix.data.get(top) or {}, (top,)):
            name = str(path[-1]) if len(path) > 1 else top
            findings.append(
                Finding(
                    UNCONFIRMED,
                    WARNING,
                    None,
                    name,
                    f"{'.'.join(map(str, path))}: {key.replace('_', ' ')} ({reason})",
                    lines.get(path),
                )
            )
    return findings


# --- facts for renderers --------------------------------------------------------------------------


def containerd_config(row: Row) -> dict[str, Any]:
    """What the layer's containerd config.toml must say for this row (the single source for it).

    Keys: ``config_version`` (the TOML ``version`` header), ``systemd_cgroup_table`` and
    ``systemd_cgroup`` (bool), ``sandbox_image_table`` + ``sandbox_image_key`` + ``sandbox_image``
    (kubeadm's pause for the minor, R17), ``cni_table``, ``runtime_type``, and ``sources``.
    """
    c = row.comp("containerd")
    cv = c["config_version"]
    try:
        tables = facts.CONTAINERD_CONFIG_PATHS.data[cv]
    except KeyError:
        raise UserError(
            f"matrix row {row.minor}: containerd config_version {cv} has no known layout "
            "(use 2, 3 or 4; run `rcar-k8s matrix check`)"
        ) from None
    return {
        "config_version": cv,
        "systemd_cgroup_table": tables["systemd_cgroup_table"],
        "systemd_cgroup": c.get("cgroup_driver") == "systemd",
        "sandbox_image_table": tables["sandbox_image_table"],
        "sandbox_image_key": tables["sandbox_image_key"],
        "sandbox_image": str(row.comp("pause")["image"]),
        "cni_table": tables["cni_table"],
        "runtime_type": "io.containerd.runc.v2",
        "sources": [facts.CONTAINERD_CONFIG_PATHS.source, str(c.get("config_source", ""))],
    }
