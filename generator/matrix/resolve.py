"""Resolve a request (Kubernetes minor, runtime, build mode, Yocto series, date) to one node stack.

The matrix row for the minor is the candidate; every rule that applies to the request judges it.
An error means the request is impossible: ``Impossible`` (a UserError with exit code 1) carries one
sentence naming the rule, the versions and the ways out. Warnings (provisional upstream support,
end of life at ``date``, unconfirmed hashes of what this build fetches) travel with the result.

  resolve(matrix, "1.36", runtime="containerd", build="binary", yocto=None, go=None, date=None)
      -> Resolution(.row, .choices, .findings, .containerd)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from generator.errors import UserError
from generator.matrix import facts
from generator.matrix import versions as V
from generator.matrix.components import IMAGE_COMPONENTS
from generator.matrix.model import Matrix, Row
from generator.matrix.rules import (
    BUILDS,
    ERROR,
    RULES_BY_ID,
    RUNTIMES,
    UNCONFIRMED,
    WARNING,
    Context,
    Finding,
    built_components,
    containerd_config,
    evaluate,
    kube_versions,
    unconfirmed,
    yocto_go,
)


class Impossible(UserError):
    """No stack satisfies the request; exit 1 (the request was well-formed, the answer is no)."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message, exit_code=1)
        self.rule = rule


@dataclass(frozen=True)
class Choice:
    component: str
    version: str
    rules: tuple[str, ...]  # the rules that chose or constrain this pin
    reason: str
    fetch: list[dict[str, Any]] = field(default_factory=list)  # what the build fetches for it

    def as_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "version": self.version,
            "rules": list(self.rules),
            "reason": self.reason,
            "fetch": self.fetch,
        }


@dataclass(frozen=True)
class Resolution:
    row: Row
    runtime: str
    build: str
    series: str
    go: str
    date: dt.date
    choices: list[Choice]
    findings: list[Finding]  # warnings only (errors raise Impossible)
    containerd: dict[str, Any] | None
    layers: dict[str, str]  # layer -> branch for the series

    @property
    def past_eol(self) -> bool:
        return self.date > self.row.eol

    def as_dict(self) -> dict[str, Any]:
        return {
            "k8s": self.row.minor,
            "kubernetes": self.row.kubernetes,
            "runtime": self.runtime,
            "build": self.build,
            "yocto": {"series": self.series, "go": self.go, "layers": self.layers},
            "date": self.date.isoformat(),
            "eol": self.row.eol.isoformat(),
            "past_eol": self.past_eol,
            "stack": [c.as_dict() for c in self.choices],
            "containerd_config": self.containerd,
            "warnings": [f.as_dict() for f in self.findings],
        }


def parse_date(value: str | None, what: str = "--date") -> dt.date | None:
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{what} '{value}' is not a date in YYYY-MM-DD form (e.g. 2026-11-25)") from None


def _minor_arg(matrix: Matrix, k8s: str) -> Row:
    text = str(k8s).strip().lstrip("v")
    if not V.is_version(text) or len(V.parse(text)) < 2:
        raise UserError(
            f"--k8s '{k8s}' is not a Kubernetes minor such as 1.36 (supported: {', '.join(matrix.minors)})"
        )
    row = matrix.row(V.minor(text))
    if len(V.parse(text)) > 2 and text != row.kubernetes:
        raise UserError(
            f"the matrix pins Kubernetes {row.kubernetes} for {row.minor}, not {text}; ask for "
            f"--k8s {row.minor} (or update the matrix)"
        )
    return row


def _layers_for(matrix: Matrix, series: str) -> tuple[dict[str, str], list[Finding], str]:
    """Layer branches for the series; R16 warnings for layers without one (meta-renesas past scarthgap)."""
    out: dict[str, str] = {}
    warnings: list[Finding] = []
    pinned = matrix.yocto.get("layers") or {}
    for name, layer in pinned.items():
        if series == matrix.yocto.get("series"):
            out[name] = str(layer.get("branch"))
            continue
        branches = facts.LAYER_COMPAT.data.get(name, {})
        fit = [b for b, compat in branches.items() if series in compat]
        if fit:
            out[name] = series if series in fit else fit[0]
        else:
            out[name] = "(none)"
            have = sorted({s for compat in branches.values() for s in compat})
            warnings.append(
                Finding(
                    "R16",
                    WARNING,
                    None,
                    name,
                    f"{name} has no branch whose LAYERSERIES_COMPAT lists {series} (only "
                    f"{', '.join(have) or 'unknown'}): building on {series} needs an untested "
                    "compat override; the matrix's layer commits are for "
                    f"{matrix.yocto.get('series')}",
                )
            )
    return out, warnings, series


def _fetch(comp: dict[str, Any], build: str, image: bool = False) -> list[dict[str, Any]]:
    if comp.get("image") and (image or not comp.get("artifacts")):
        return [{"kind": "image", "image": comp["image"], "digest": comp.get("digest")}]
    if build == "binary" and comp.get("artifacts"):
        return [
            {"kind": "binary", "name": n, "url": a.get("url"), "sha256": a.get("sha256")}
            for n, a in comp["artifacts"].items()
        ]
    git = comp.get("git") or {}
    if git:
        return [
            {"kind": "source", "repo": git.get("repo"), "tag": git.get("tag"), "commit": git.get("commit")}
        ]
    return []


def _choices(ctx: Context, cfg: dict[str, Any] | None) -> list[Choice]:
    row, build = ctx.row, ctx.build
    out: list[Choice] = []

    def add(
        name: str,
        rules: tuple[str, ...],
        reason: str,
        version: str | None = None,
        fetch: list[dict[str, Any]] | None = None,
    ) -> None:
        comp = row.components.get(name) or {}
        why = comp.get("why")
        text = reason + (f"; {why}" if why else "")
        if fetch is None:
            fetch = _fetch(comp, build, image=name in IMAGE_COMPONENTS)
        out.append(Choice(name, version or str(comp.get("version")), rules, text, fetch))

    kv = kube_versions(row)
    add(
        "kubernetes",
        ("R5", "R1", "R4"),
        f"kubeadm = kubelet = kubectl = {kv['kubeadm']} (one patch per image); "
        "control plane at kubeadm's minor",
    )
    images = row.comp("kubernetes").get("images") or {}
    add(
        "control-plane",
        ("R3", "R2"),
        "kube-apiserver, -controller-manager, -scheduler and kube-proxy at kubeadm's version",
        version=kv["kube-apiserver"],
        fetch=[
            {
                "kind": "image",
                "image": (v.get("image") if isinstance(v, dict) else v),
                "digest": (v.get("digest") if isinstance(v, dict) else None),
            }
            for v in images.values()
        ],
    )
    add("cri-tools", ("R6",), "crictl of the Kubernetes minor")
    if ctx.runtime == "containerd":
        add(
            "containerd",
            ("R7", "R8", "R9"),
            f"listed for Kubernetes {row.minor} in containerd's support table",
        )
        assert cfg is not None
        out.append(
            Choice(
                "containerd-config",
                f"version {cfg['config_version']}",
                ("R10", "R11", "R17"),
                f"SystemdCgroup = {str(cfg['systemd_cgroup']).lower()} in [{cfg['systemd_cgroup_table']}]"
                f"; {cfg['sandbox_image_key']} = {cfg['sandbox_image']} in [{cfg['sandbox_image_table']}]",
            )
        )
    else:
        add(
            "docker",
            ("R19", "R11"),
            "Docker Engine, built by meta-virtualization",
            fetch=_fetch(row.comp("docker"), "source"),
        )
        add("cri-dockerd", ("R19",), "CRI v1 shim in front of Docker Engine (dockershim was removed in 1.24)")
        add("containerd", ("R13",), "the containerd Docker Engine runs on")
    add("runc", ("R13",), f"the runc line containerd {row.version('containerd')} ships")
    add("cni-plugins", (), "matrix pin")
    add("flannel", (), "matrix pin (pod network)")
    add("etcd", ("R18",), f"kubeadm {row.minor}'s etcd (static pod image)")
    add("pause", ("R17",), f"kubeadm {row.minor}'s sandbox image")
    add("coredns", (), f"kubeadm {row.minor}'s CoreDNS")
    built = built_components(ctx)
    needs = [(n, str(row.comp(n).get("go"))) for n in built if row.comp(n).get("go")]
    top = max((g for _, g in needs), key=V.key, default=None)
    out.append(
        Choice(
            "go",
            ctx.go,
            ("R14", "R15"),
            f"Yocto {ctx.series} Go {ctx.go}; compiles {', '.join(built) or 'nothing'}"
            + (f" (needs >= {top})" if top else ""),
        )
    )
    return out


def _r14_sentence(ctx: Context) -> str | None:
    row = ctx.row
    short = [
        (n, str(row.comp(n)["version"]), str(row.comp(n)["go"]))
        for n in built_components(ctx)
        if row.comp(n).get("go") and V.lt(ctx.go, row.comp(n)["go"])
    ]
    if not short:
        return None
    top = max((g for _, _, g in short), key=V.key)
    parts = ", ".join(f"{n} {v} needs {g}" for n, v, g in short)
    where = (
        f"Yocto {ctx.series} ships Go {ctx.go}"
        if ctx.go == facts.YOCTO.data.get(ctx.series, ("", ""))[1]
        else f"the given Go is {ctx.go}"
    )
    return (
        f"R14 (Go toolchain): a {ctx.build} build of Kubernetes {row.minor} needs Go >= {top} ({parts}) but "
        f"{where}; ways out: {RULES_BY_ID['R14'].way_out}"
    )


def resolve(
    matrix: Matrix,
    k8s: str,
    *,
    runtime: str = "containerd",
    build: str = "binary",
    yocto: str | None = None,
    go: str | None = None,
    date: dt.date | None = None,
) -> Resolution:
    if runtime not in RUNTIMES:
        raise UserError(f"unknown runtime '{runtime}' (use one of: {', '.join(RUNTIMES)})")
    if build not in BUILDS:
        raise UserError(f"unknown build mode '{build}' (use one of: {', '.join(BUILDS)})")
    row = _minor_arg(matrix, k8s)
    series = yocto or str(matrix.yocto.get("series"))
    have_go = go or yocto_go(series)
    if go is not None and not V.is_version(go):
        raise UserError(f"--go '{go}' is not a Go version such as 1.26.5")
    date = date or dt.date.today()
    if runtime == "docker" and not row.components.get("docker"):
        raise Impossible(
            f"R19 (cri-dockerd): row {row.minor} has no Docker Engine pin, so --runtime docker is "
            "not available for it; ways out: --runtime containerd, or add docker and cri-dockerd "
            "pins to the row",
            "R19",
        )
    ctx = Context(row, matrix.yocto, series, have_go, build, runtime, date)
    findings = evaluate(ctx)
    errors = [f for f in findings if f.severity == ERROR]
    if errors:
        r14 = _r14_sentence(ctx) if any(f.rule == "R14" for f in errors) else None
        if r14:
            raise Impossible(r14, "R14")
        f = errors[0]
        rule = RULES_BY_ID[f.rule]
        more = f" (and {len(errors) - 1} more: `rcar-k8s matrix check`)" if len(errors) > 1 else ""
        raise Impossible(
            f"{f.rule} ({rule.title}): Kubernetes {row.minor} with {runtime}: {f.message}{more}; "
            f"ways out: {rule.way_out}",
            f.rule,
        )
    layers, layer_warnings, _ = _layers_for(matrix, series)
    warnings = [f for f in findings if f.severity == WARNING] + layer_warnings
    cfg = containerd_config(row) if runtime == "containerd" else None
    choices = _choices(ctx, cfg)
    warnings += _unconfirmed_fetches(row, choices, build)
    return Resolution(row, runtime, build, series, have_go, date, choices, warnings, cfg, layers)


def _unconfirmed_fetches(row: Row, choices: list[Choice], build: str) -> list[Finding]:
    """UNCONFIRMED warnings only for what this build actually fetches (hash or commit unknown)."""
    kinds = {c.component: {f["kind"] for f in c.fetch} for c in choices}
    out = []
    for cname, msg, path in unconfirmed(row):
        kind = {"artifacts": "binary", "git": "source"}.get(path[0] if path else "")
        if kind and kind in kinds.get(cname, ()):
            out.append(Finding(UNCONFIRMED, WARNING, row.minor, cname, msg))
    return out
