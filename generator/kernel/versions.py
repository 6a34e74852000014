"""Kernel versions, and the Kconfig symbols that were renamed, merged or removed between them.

Checklists copied from older kernels report these as "missing" on new kernels (NF_NAT_IPV4 on 5.10,
MEMCG_SWAP on 6.1); the requirements table uses ``since``/``until`` so a symbol is only expected on
kernels that have it. Facts from /work/shared/reference/kernel.md §9 (kernel commits named there).
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.errors import UserError
from generator.version import kernel as kernel_release

Version = tuple[int, int]


def parse_version(text: str) -> Version:
    """``"5.10.218"``, ``"6.6"``, ``"5.10.218-yocto-standard"`` -> ``(5, 10)`` (major, minor)."""
    try:
        return kernel_release(text)
    except ValueError:
        raise UserError(f"'{text}' is not a kernel version (expected e.g. 5.10.218)") from None


def fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


@dataclass(frozen=True)
class SymbolFate:
    symbol: str
    fate: str  # what happened, for the report
    until: Version | None = None  # first kernel version where the symbol no longer exists
    # (None with promptless_from: still exists; None without: a name that never existed upstream)
    replacement: str | None = None
    source: str = ""
    promptless_from: Version | None = None  # from here on only selected, never set by a fragment


# Symbols that old check lists (moby, k3s, runc, calicoctl, kubeadm v1.8) still name.
FATES: tuple[SymbolFate, ...] = (
    SymbolFate(
        "NF_CONNTRACK_IPV4",
        "merged into NF_CONNTRACK in 4.19 (a0ae2562c6c4)",
        (4, 19),
        "NF_CONNTRACK",
        "k0s pkg/sysinfo; kubernetes pkg/proxy/ipvs/README.md",
    ),
    SymbolFate(
        "NF_CONNTRACK_IPV6",
        "merged into NF_CONNTRACK in 4.19 (a0ae2562c6c4)",
        (4, 19),
        "NF_CONNTRACK",
        "k0s pkg/sysinfo",
    ),
    SymbolFate(
        "NF_NAT_IPV4",
        "merged into NF_NAT in 5.1 (3bf195ae6037)",
        (5, 1),
        "NF_NAT",
        "runc script/check-config.sh; moby contrib/check-config.sh (checks it only <=5.1)",
    ),
    SymbolFate(
        "NF_NAT_IPV6", "merged into NF_NAT in 5.1 (3bf195ae6037)", (5, 1), "NF_NAT", "k0s pkg/sysinfo"
    ),
    SymbolFate(
        "NF_NAT_NEEDED", "removed in 5.2 (4806e975729f)", (5, 2), "NF_NAT", "runc script/check-config.sh"
    ),
    SymbolFate(
        "NFT_CHAIN_NAT_IPV4",
        "merged into NFT_NAT (db8ab38880e0)",
        (5, 1),
        "NFT_NAT",
        "yocto-kernel-cache 0a70fa87",
    ),
    SymbolFate(
        "NFT_MASQ_IPV4",
        "merged into NFT_MASQ (a9ce849e7867)",
        (5, 1),
        "NFT_MASQ",
        "yocto-kernel-cache d4abb475",
    ),
    SymbolFate(
        "NFT_COUNTER",
        "built into nf_tables from 5.17 (023223dfbfb3)",
        (5, 17),
        "NF_TABLES",
        "yocto-kernel-cache 7da33b6e",
    ),
    SymbolFate(
        "NFT_OBJREF",
        "built into nf_tables from 6.2 (d037abc2414b)",
        (6, 2),
        "NF_TABLES",
        "yocto-kernel-cache fcb1c085",
    ),
    SymbolFate("MEMCG_SWAP_ENABLED", "removed in 5.8", (5, 8), None, "moby, runc check-config.sh"),
    SymbolFate(
        "MEMCG_SWAP",
        "promptless from 5.8 (swap accounting on by default); removed in 6.1 (e55b9f96860f)",
        (6, 1),
        "MEMCG",
        "yocto-kernel-cache b1206ec9; runc check-config.sh (<6.1)",
        promptless_from=(5, 8),
    ),
    SymbolFate(
        "MEMCG_KMEM",
        "promptless after 4.5 (always on with MEMCG), then folded into MEMCG (gone in 6.10)",
        (6, 10),
        "MEMCG",
        "moby check-config.sh; promptless in Debian linux-source-6.1, absent in linux-source-6.12 "
        "(tests/kernel); lkml 2024-03-20 (J. Weiner) memcg kmem config removal, merged for 6.10",
        promptless_from=(4, 6),
    ),
    SymbolFate("DEVPTS_MULTIPLE_INSTANCES", "removed in 4.7", (4, 7), None, "moby check-config.sh"),
    SymbolFate("IOSCHED_CFQ", "removed in 5.0 (use BFQ)", (5, 0), "IOSCHED_BFQ", "moby check-config.sh"),
    SymbolFate(
        "CFQ_GROUP_IOSCHED",
        "removed in 5.0 (use BFQ_GROUP_IOSCHED)",
        (5, 0),
        "BFQ_GROUP_IOSCHED",
        "moby check-config.sh",
    ),
    SymbolFate("RESOURCE_COUNTERS", "removed in 3.19", (3, 19), None, "moby check-config.sh"),
    SymbolFate(
        "NETPRIO_CGROUP",
        "renamed CGROUP_NET_PRIO in 3.14",
        (3, 14),
        "CGROUP_NET_PRIO",
        "moby check-config.sh",
    ),
    SymbolFate(
        "INET_XFRM_MODE_TRANSPORT",
        "removed by 5.4 (transport mode is built in)",
        (5, 4),
        "XFRM",
        "moby check-config.sh (checks it only <=5.3)",
    ),
    SymbolFate(
        "INET_XFRM_MODE_TUNNEL",
        "removed by 5.4 (tunnel mode is built in)",
        (5, 4),
        "XFRM",
        "cilium system_requirements.rst still lists it",
    ),
    SymbolFate(
        "OVERLAYFS_FS", "pre-3.18 name of OVERLAY_FS", (3, 18), "OVERLAY_FS", "system-validators alias"
    ),
    SymbolFate(
        "IP_NF_TARGET_CLUSTERIP", "removed in 6.5 (9db5d918e2c0)", (6, 5), None, "yocto-kernel-cache 3cdfdd82"
    ),
    SymbolFate(
        "IP_NF_TARGET_MARK",
        "stale calicoctl name; the option is NETFILTER_XT_MARK",
        None,
        "NETFILTER_XT_MARK",
        "calicoctl checksystem.go",
    ),
    SymbolFate(
        "IP_NF_MATCH_MULTIPORT",
        "stale calicoctl name; the option is NETFILTER_XT_MATCH_MULTIPORT",
        None,
        "NETFILTER_XT_MATCH_MULTIPORT",
        "calicoctl checksystem.go",
    ),
)

FATE_BY_SYMBOL = {f.symbol: f for f in FATES}
