"""R6-R11, R13, R19: the container runtime stack (cri-tools, containerd, runc, Docker + cri-dockerd),
and the containerd config facts the layer renders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generator.errors import UserError
from generator.matrix import facts
from generator.matrix import versions as V
from generator.matrix.model import Row
from generator.matrix.rules.base import ERROR, WARNING, Context, Hit, Rule, _containerd


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
    elif V.lt(ctx.minor, listed[0]):
        yield Hit(
            "containerd", f"Kubernetes {ctx.minor} is older than containerd's support table ({listed[0]}+)"
        )
    else:  # a gap: newer minors are listed, this one is not
        yield Hit("containerd", f"Kubernetes {ctx.minor} is not listed in containerd's support table")


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


CTD = facts.CONTAINERD_K8S.source


RULES: tuple[Rule, ...] = (
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
        "R13",
        "runc line",
        "runc in the line containerd's script/setup/runc-version names (its support window is R20)",
        facts.CONTAINERD_RUNC.source,
        ERROR,
        _r13,
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
)


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
