"""R17-R18: the images kubeadm deploys (pause, CoreDNS, etcd) match kubeadm's own pins."""

from __future__ import annotations

from collections.abc import Iterator

from generator.matrix import facts
from generator.matrix import versions as V
from generator.matrix.rules.base import ERROR, WARNING, Context, Hit, Rule


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
    coredns = ctx.comp("coredns")
    if not coredns:
        return
    dns, want_dns = str(coredns["version"]), facts.COREDNS.data.get(ctx.minor)
    if want_dns is None:
        yield Hit(
            "coredns", f"kubeadm's CoreDNS for Kubernetes {ctx.minor} is not recorded in facts.py", WARNING
        )
    elif dns != want_dns:
        yield Hit("coredns", f"CoreDNS {dns} is not kubeadm {ctx.minor}'s CoreDNSVersion {want_dns}")


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


RULES: tuple[Rule, ...] = (
    Rule(
        "R17",
        "kubeadm's pause and CoreDNS",
        "the runtime's sandbox image is kubeadm's pause for the minor; CoreDNS is kubeadm's CoreDNSVersion",
        facts.PAUSE.source + "; " + facts.COREDNS.source,
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
)
