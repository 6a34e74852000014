"""R1-R5: Kubernetes version skew between kubeadm, the kubelet, kubectl and the control plane."""

from __future__ import annotations

from collections.abc import Iterator

from generator.matrix import facts
from generator.matrix import versions as V
from generator.matrix.components import KUBE_IMAGES
from generator.matrix.model import Row
from generator.matrix.rules.base import ERROR, Context, Hit, Rule


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
    for name in KUBE_IMAGES:
        ref = images.get(name) or ""
        ref = ref.get("image", "") if isinstance(ref, dict) else ref  # {image, digest, ...} or a plain ref
        out[name] = V.from_image(str(ref)) or base
    return out


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


SKEW = facts.K8S_SKEW.source


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
)
