"""The one table of kernel options a Kubernetes node needs.

Each ``Option`` says which profile needs it (a profile is one fragment and one ``--profile`` of
``check-config``), how the report groups it (component), whether a node fails without it
(required) or only loses a feature (optional), why, and which upstream source says so (ids in
``SOURCES``; the research behind them is /work/shared/reference/kernel.md).

* ``value`` is what the fragment sets: ``y``, or ``n`` for options that must be off; ``yn`` is
  written as ``y`` but ``check-config`` also accepts it off and only refuses ``m`` (IPV6: a module
  caps other options at ``m``).
* ``breaks``: what a user sees when a required option is missing (``check-config`` prints it); the
  ``why`` says the mechanism.
  Everything needed before a module could be autoloaded (br_netfilter, overlay, vxlan,
  conntrack) is ``=y``, and so is the rest: module packaging then cannot lose anything.
* ``fragment=False``: checked by ``check-config`` but never written to a fragment, because the
  symbol is promptless (selected by another option; setting it only makes audit noise) or only
  exists on other kernel versions.
* ``since``/``until`` bound the kernel versions that have the symbol (``until`` is the first
  version without it); outside that range the option is not expected at all.
* ``aliases``: older names; as in kubeadm's validator, the first name present in a config decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.kernel.versions import Version

SOURCES: dict[str, str] = {
    "S1": "kubernetes/system-validators validators/types_unix.go (kubeadm preflight), v1.12.1 and v1.8.0",
    "S2": "moby/moby contrib/check-config.sh",
    "S3": "k3s-io/k3s contrib/util/check-config.sh",
    "S4": "opencontainers/runc script/check-config.sh, docs/cgroup-v2.md",
    "S5": "cilium Documentation/operations/system_requirements.rst",
    "S6": "Calico system requirements; calicoctl node checksystem (checksystem.go)",
    "S7": "flannel-io/flannel README.md, Documentation/backends.md",
    "S8": "kubernetes pkg/proxy/{nftables/supported.go,ipvs/README.md}; kubernetes.io cgroup v2 docs",
    "S9": "yocto-kernel-cache fragments (features/*, cfg/kubernetes.cfg)",
    "S11": "systemd README kernel requirements (poky scarthgap systemd 255)",
    "S15": "k0sproject/k0s pkg/sysinfo kernel probes",
    "KCONFIG": "Kconfig dependency of another option in this table (kernel.md §11.5)",
    "R1": "opencontainers/runc@v1.4.3 vendor/github.com/opencontainers/cgroups/fs2/cpu.go setCPU (writes "
    "cpu.max, returns the error), file.go WriteFile (O_WRONLY, no O_CREAT), systemd/v2.go UnifiedManager.Set "
    "(the systemd driver calls the fs2 Set too); Linux kernel/sched/core.c cpu_files: cpu.max only "
    "#ifdef CONFIG_CFS_BANDWIDTH",
    "K1": "kubernetes/kubernetes pkg/proxy/conntrack/{conntrack.go,cleanup.go}: CleanStaleEntries lists and "
    "deletes UDP entries with vishvananda/netlink (ConntrackTableList, ConntrackDeleteFilters), the "
    "reconciler of PR #127318 (v1.32); Linux net/netfilter/nfnetlink.c nfnetlink_rcv_msg answers -EINVAL "
    "when no subsystem serves the message, and net/netfilter/Makefile builds the conntrack one "
    "(nf_conntrack_netlink.o) only with CONFIG_NF_CT_NETLINK",
    "K2": "kubernetes/kubernetes pkg/proxy/iptables/proxier.go: sessionAffinity ClientIP writes "
    "`-m recent --rcheck --seconds N --reap` / `-m recent --set`, and every sync is one iptables-restore",
    "KB": "Linux net/bridge/Kconfig: config BRIDGE ... depends on IPV6 || IPV6=n; "
    "net/bridge/Kconfig BRIDGE_NETFILTER depends on BRIDGE",
    "S2M": "moby/moby@00148c88 contrib/check-config.sh 'Generally Necessary' (exit 1 without them); "
    "opencontainers/runc@v1.4.3 script/check-config.sh 'Generally Necessary'",
}

PROFILES: dict[str, str] = {
    "base": "every node: namespaces, cgroup v2 controllers, container runtime (containerd/runc), kubelet",
    "ikconfig": "kernel config readable at /proc/config.gz (kubeadm preflight and check-config --running)",
    "iptables": "kube-proxy iptables mode (the default); iptables masquerade of flannel/calico/cilium",
    "ipvs": "kube-proxy ipvs mode (deprecated since Kubernetes 1.35, KEP-5495)",
    "nftables": "kube-proxy nftables mode (needs kernel >= 5.13)",
    "flannel": "flannel CNI, vxlan backend",
    "calico": "Calico CNI, iptables data plane (ipip or vxlan)",
    "cilium": "Cilium CNI, eBPF data plane",
    "docker": "Docker Engine runtime (RCAR_K8S_CRI = docker, cri-dockerd): dockerd's bridge and iptables",
}

# Profiles a kernel must support as a whole before any of its options matter.
PROFILE_MIN_KERNEL: dict[str, tuple[Version, str]] = {
    "nftables": (
        (5, 13),
        "kube-proxy refuses nftables mode on kernels older than 5.13 "
        "(pkg/proxy/nftables/supported.go NFTablesKubeProxyKernelVersion); "
        "use kube-proxy iptables mode",
    ),
}

# Options that a KERNEL_FEATURES fragment applied after ours sets the wrong way on linux-yocto
# (kernel-yocto's scc order: defconfig, BSP, SRC_URI .cfg, KERNEL_FEATURES; the last value wins).
# LAST_FRAGMENT holds them again and the linux-yocto bbappend lists it as the last KERNEL_FEATURES
# entry, after meta-virtualization's; the base fragment keeps them too, so
# do_rcar_k8s_kconfig_check fails the build if the final .config still differs.
LAST_FRAGMENT = "k8s-last.cfg"
REASSERT_LAST: dict[str, str] = {
    "RT_GROUP_SCHED": "meta-virtualization scarthgap adds yocto-kernel-cache cfg/kubernetes.scc for "
    "DISTRO_FEATURES k8s (linux-yocto_virtualization.inc); its kubernetes.cfg sets CONFIG_RT_GROUP_SCHED=y "
    "(yocto-kernel-cache yocto-6.6 @ eb283ea5, the SRCREV of yocto-cfg-fragments.bb)",
}

FRAGMENT_FILES: dict[str, str] = {
    "base": "k8s-base.cfg",
    "ikconfig": "ikconfig.cfg",
    "iptables": "kube-proxy-iptables.cfg",
    "ipvs": "kube-proxy-ipvs.cfg",
    "nftables": "kube-proxy-nftables.cfg",
    "flannel": "cni-flannel.cfg",
    "calico": "cni-calico.cfg",
    "cilium": "cni-cilium.cfg",
    "docker": "cri-docker.cfg",
}


@dataclass(frozen=True)
class Option:
    symbol: str
    profile: str
    component: str
    why: str
    source: str
    required: bool = True
    value: str = "y"
    fragment: bool = True
    aliases: tuple[str, ...] = ()
    since: Version | None = None
    until: Version | None = None
    breaks: str = ""

    def applies_to(self, version: Version | None) -> bool:
        if version is None:
            return True
        if self.since and version < self.since:
            return False
        return not (self.until and version >= self.until)


def _opts(
    profile: str,
    component: str,
    source: str,
    specs: str,
    *,
    required: bool = True,
    fragment: bool = True,
    why: str = "",
) -> list[Option]:
    """``specs``: one ``SYMBOL  why`` per line (the why after two spaces; a shared ``why`` if absent)."""
    out = []
    for line in specs.strip().splitlines():
        sym, _, own_why = line.strip().partition("  ")
        out.append(
            Option(
                sym,
                profile,
                component,
                (own_why.strip() or why),
                source,
                required=required,
                fragment=fragment,
            )
        )
    return out


R, OPT = True, False
NS, CG, RT, KL = (
    "namespaces",
    "cgroups (v2 controllers)",
    "container runtime",
    "kubelet and kubeadm preflight",
)

OPTIONS: tuple[Option, ...] = tuple(
    [
        # ---------------------------------------------------------------- base
        *_opts(
            "base",
            NS,
            "S1",
            """
        NAMESPACES  container isolation (kubeadm preflight required)
        UTS_NS  pod hostname isolation (kubeadm preflight required)
        IPC_NS  pod IPC isolation (kubeadm preflight required)
        PID_NS  pod PID isolation (kubeadm preflight required)
        NET_NS  pod network namespaces (kubeadm preflight required)
    """,
        ),
        Option(
            "USER_NS",
            "base",
            NS,
            "systemd sandboxing and rootless containers; pod user namespaces",
            "S2,S4,S11",
            required=OPT,
        ),
        *_opts(
            "base",
            CG,
            "S1,S4",
            """
        CGROUPS  control groups (kubeadm preflight required)
        MEMCG  memory controller: pod memory limits (kubeadm preflight required)
        CGROUP_SCHED  cpu controller (kubeadm preflight required)
        FAIR_GROUP_SCHED  cpu controller weights: CPU requests (kubeadm preflight required)
        CGROUP_PIDS  pids controller: pod PID limits (kubeadm preflight cgroup v2 list)
        CPUSETS  cpuset controller: CPU manager (kubeadm preflight required)
        CGROUP_BPF  cgroup v2 device controller is a BPF program (kubeadm preflight cgroup v2 list)
        BPF_SYSCALL  CGROUP_BPF depends on it; runc loads the device filter with bpf(2)
        CGROUP_FREEZER  freezer (kubeadm v1.8 preflight requires it; cgroup v2 freezer is core code)
        CGROUP_DEVICE  device controller on cgroup v1 (kubeadm v1.8 preflight requires it)
        CGROUP_CPUACCT  cpu accounting on cgroup v1 (kubeadm v1.8 preflight requires it)
    """,
        ),
        Option(
            "CFS_BANDWIDTH",
            "base",
            CG,
            "runc (cgroup v2, cgroupfs and systemd drivers) writes cpu.max for every CPU limit and "
            "returns the error when it is absent; the kernel creates cpu.max only with CFS_BANDWIDTH",
            "R1,S4,S2",
            breaks="containers with CPU limits fail to start "
            "(runc: openat2 /sys/fs/cgroup/.../cpu.max: no such file or directory)",
        ),
        *_opts(
            "base",
            CG,
            "S1,S4,S2",
            """
        HUGETLBFS  hugepages; CGROUP_HUGETLB depends on it
        CGROUP_HUGETLB  hugetlb controller (kubelet optional v2 controller)
        BLK_CGROUP  io controller (kubelet optional v2 controller)
        BLK_DEV_THROTTLING  io limits in the io controller
        CGROUP_PERF  perf_event controller (runc optional)
        CGROUP_NET_PRIO  net_prio controller (runc optional)
        CGROUP_NET_CLASSID  net_cls controller (runc optional)
        PSI  pressure stall information: systemd-oomd, kubelet PSI metrics
    """,
            required=OPT,
        ),
        Option(
            "RT_GROUP_SCHED",
            "base",
            CG,
            "must be off: with cgroup v2, RT tasks outside the root cgroup block the "
            "cpu controller (systemd README recommends =n)",
            "S11",
            required=OPT,
            value="n",
        ),
        *_opts(
            "base",
            RT,
            "S2,S3,S4",
            """
        KEYS  session keyrings per container (moby/runc required)
        POSIX_MQUEUE  /dev/mqueue in containers (moby/runc required)
        VETH  pod network interfaces (veth pairs)
        BRIDGE  CNI bridge plugin (cni0) used by flannel and others
    """,
        ),
        Option(
            "OVERLAY_FS",
            "base",
            RT,
            "containerd overlayfs snapshotter; runc itself uses overlayfs",
            "S1,S4",
            aliases=("OVERLAYFS_FS",),
        ),
        *_opts(
            "base",
            RT,
            "S1,S2,S4",
            """
        SECCOMP  seccomp: RuntimeDefault seccomp profile of pods
        BPF_JIT  JIT for the BPF programs runc/systemd load
        TMPFS  tmpfs volumes and /run
        TMPFS_POSIX_ACL  systemd: ACLs on tmpfs
        TMPFS_XATTR  systemd: xattrs on tmpfs
        CHECKPOINT_RESTORE  container checkpoint (runc optional)
    """,
            required=OPT,
        ),
        Option(
            "SECCOMP_FILTER",
            "base",
            RT,
            "seccomp BPF filters (containerd CRI default profile); promptless "
            "on arm64 5.10 (default y with SECCOMP)",
            "S1,S2,S4",
            required=OPT,
            fragment=False,
        ),
        Option("FHANDLE", "base", RT, "systemd requires name_to_handle_at()", "S11"),
        *_opts(
            "base",
            KL,
            "S1",
            """
        INET  TCP/IP networking (kubeadm preflight required)
        PROC_FS  /proc (kubeadm preflight required)
        EXT4_FS  ext4 root filesystem (kubeadm preflight required)
    """,
        ),
        *_opts(
            "base",
            KL,
            "S1,S2",
            """
        EXT4_FS_POSIX_ACL  POSIX ACLs on ext4
        EXT4_FS_SECURITY  security xattrs on ext4
    """,
            required=OPT,
        ),
        Option(
            "IPV6",
            "base",
            KL,
            "built in or off, never a module: BRIDGE `depends on IPV6 || IPV6=n`, so IPV6=m caps "
            "BRIDGE and BRIDGE_NETFILTER (and tunnel drivers, IPv6 netfilter) at =m; off loses dual-stack",
            "KB,S1,S2",
            value="yn",
            breaks="the fragments' BRIDGE=y and BRIDGE_NETFILTER=y end up as modules: until br_netfilter "
            "is loaded flannel refuses to start and bridged pod traffic skips kube-proxy's iptables rules",
        ),
        # Dependencies of the options above, so the fragments hold even on a trimmed BSP defconfig
        # (tests apply them on top of allnoconfig). Present in any usable defconfig.
        *_opts(
            "base",
            "Kconfig prerequisites",
            "KCONFIG",
            """
        MULTIUSER  NAMESPACES depends on it
        NET  networking; most options here depend on it
        BLOCK  EXT4_FS and BLK_CGROUP depend on it
        SHMEM  TMPFS depends on it
        NETDEVICES  VETH, VXLAN, DUMMY depend on it
        NET_CORE  VETH, VXLAN, DUMMY depend on it
        MODULES  BPF_JIT depends on it on 5.10; kernel-module-* packages need it
        PERF_EVENTS  CGROUP_PERF depends on it
    """,
            required=OPT,
        ),
        Option(
            "BLK_DEV_DM",
            "base",
            KL,
            "device mapper (kubeadm preflight optional)",
            "S1",
            required=OPT,
            fragment=False,
        ),
        # ---------------------------------------------------------------- ikconfig
        # Optional: distributions ship /boot/config-* instead. Yocto images have no /boot/config-* by
        # default (kernel-dev), so there kubeadm preflight errors without these.
        *_opts(
            "ikconfig",
            "config visibility",
            "S1",
            """
        IKCONFIG  embeds the kernel config; kubeadm preflight errors when it finds no config
        IKCONFIG_PROC  /proc/config.gz, the only config path Yocto images have by default
    """,
            required=OPT,
        ),
        # ---------------------------------------------------------------- kube-proxy iptables
        *_opts(
            "iptables",
            "netfilter core",
            "S2,S3,S15",
            """
        NETFILTER  packet filtering framework
        NETFILTER_ADVANCED  most xt matches and BRIDGE_NETFILTER depend on it
        NF_CONNTRACK  connection tracking: kube-proxy fails without it
        NF_NAT  NAT for Services and masquerade
        NETFILTER_XTABLES  x_tables for iptables
        BRIDGE_NETFILTER  br_netfilter: bridged pod traffic sees iptables (flannel requires it)
        IP_NF_IPTABLES  iptables (IPv4)
        IP_NF_FILTER  iptables filter table
        IP_NF_NAT  iptables nat table
        IP_NF_MANGLE  iptables mangle table
        IP_NF_TARGET_REJECT  REJECT target: Services without endpoints
        IP_NF_TARGET_MASQUERADE  MASQUERADE target (IPv4)
    """,
        ),
        *_opts(
            "iptables",
            "kube-proxy iptables rules",
            "S1,S3,S15",
            """
        NETFILTER_XT_MATCH_ADDRTYPE  addrtype match: NodePorts on local addresses
        NETFILTER_XT_MATCH_COMMENT  comment match: every kube-proxy rule (kubeadm preflight required)
        NETFILTER_XT_MATCH_CONNTRACK  conntrack match: ctstate rules
        NETFILTER_XT_MATCH_MULTIPORT  multiport match
        NETFILTER_XT_MATCH_STATISTIC  statistic match: random endpoint selection
        NETFILTER_XT_MARK  MARK target/match: masquerade marking
        NETFILTER_XT_NAT  DNAT/SNAT targets: Service translation
        NETFILTER_XT_TARGET_MASQUERADE  MASQUERADE (generic xt target)
    """,
        ),
        Option(
            "NETFILTER_XT_TARGET_REDIRECT",
            "iptables",
            "kube-proxy iptables rules",
            "REDIRECT target (kubeadm preflight required)",
            "S1",
            aliases=("IP_NF_TARGET_REDIRECT",),
        ),
        Option(
            "NETFILTER_XT_MATCH_RECENT",
            "iptables",
            "kube-proxy iptables rules",
            "recent match: kube-proxy writes `-m recent` rules for sessionAffinity ClientIP into the "
            "same iptables-restore batch as every other Service rule",
            "K2,S3,S15",
            breaks="one Service with sessionAffinity: ClientIP makes kube-proxy's whole iptables-restore "
            "fail, so no Service on the node gets rule updates",
        ),
        Option(
            "NF_CT_NETLINK",
            "iptables",
            "kube-proxy iptables rules",
            "nf_conntrack_netlink: kube-proxy >= 1.32 lists and deletes stale UDP conntrack entries "
            "over netlink (the same code runs in iptables, ipvs and nftables mode)",
            "K1,S6",
            breaks="UDP Services (cluster DNS) keep sending to deleted pods after their endpoints change: "
            "kube-proxy logs 'Failed to list conntrack entries'",
        ),
        *_opts(
            "iptables",
            "kube-proxy iptables rules",
            "S3,S9,S15",
            """
        NETFILTER_XT_MATCH_PHYSDEV  physdev match (kubernetes recipe recommends xt-physdev)
        NETFILTER_XT_MATCH_LIMIT  limit match (kubernetes recipe recommends xt-limit)
        NETFILTER_XT_CONNMARK  CONNMARK (kubernetes recipe recommends xt-connmark)
        NETFILTER_XT_TARGET_NFLOG  NFLOG target (kubernetes recipe recommends xt-nflog)
        NETFILTER_NETLINK_LOG  nfnetlink_log for NFLOG
        NETFILTER_XT_TARGET_CHECKSUM  CHECKSUM target (meta-virtualization xt-checksum.cfg)
        VLAN_8021Q  802.1Q VLANs; BRIDGE_VLAN_FILTERING depends on it
        BRIDGE_VLAN_FILTERING  VLAN-aware bridges (moby overlay driver)
        IP_NF_RAW  raw table (NOTRACK rules)
        IP_NF_TARGET_REDIRECT  legacy REDIRECT target name
        IP6_NF_IPTABLES  ip6tables: IPv6 / dual-stack Services
        IP6_NF_FILTER  ip6tables filter table
        IP6_NF_NAT  ip6tables nat table
        IP6_NF_MANGLE  ip6tables mangle table
        IP6_NF_RAW  ip6tables raw table
        IP6_NF_TARGET_REJECT  REJECT target (IPv6)
        IP6_NF_TARGET_MASQUERADE  MASQUERADE target (IPv6)
    """,
            required=OPT,
        ),
        *_opts(
            "iptables",
            "iptables-nft backend",
            "S2,S9",
            """
        NF_TABLES  nf_tables: iptables-nft (container images' iptables-wrapper may pick it)
        NF_TABLES_INET  inet family tables
        NF_TABLES_IPV4  ip family tables
        NF_TABLES_IPV6  ip6 family tables
        NFT_COMPAT  xt matches/targets inside nft rules (iptables-nft)
        NFT_CT  ct expression
        NFT_NAT  nat expression
        NFT_MASQ  masquerade expression
        NFT_REDIR  redirect expression
        NFT_REJECT  reject expression
    """,
            required=OPT,
        ),
        Option(
            "NFT_COUNTER",
            "iptables",
            "iptables-nft backend",
            "counter expression: a separate module (default n) "
            "before 5.17, so rules using `counter` fail to load without it",
            "S9",
            required=OPT,
            until=(5, 17),
        ),
        # Old-kernel names: required there, absent on 5.10 (kernel.md §9).
        Option(
            "NF_CONNTRACK_IPV4",
            "iptables",
            "netfilter core",
            "IPv4 conntrack (merged into NF_CONNTRACK in 4.19)",
            "S8,S15",
            fragment=False,
            until=(4, 19),
        ),
        Option(
            "NF_NAT_IPV4",
            "iptables",
            "netfilter core",
            "IPv4 NAT (merged into NF_NAT in 5.1)",
            "S2,S4",
            fragment=False,
            until=(5, 1),
        ),
        Option(
            "NF_NAT_NEEDED",
            "iptables",
            "netfilter core",
            "NAT core (removed in 5.2)",
            "S2,S4",
            fragment=False,
            until=(5, 2),
        ),
        # ---------------------------------------------------------------- kube-proxy ipvs
        *_opts(
            "ipvs",
            "kube-proxy ipvs",
            "S8,S9",
            """
        IP_VS  IPVS load balancer
        IP_VS_NFCT  IPVS conntrack integration
        IP_VS_PROTO_TCP  IPVS TCP
        IP_VS_PROTO_UDP  IPVS UDP
        IP_VS_RR  round-robin scheduler (kube-proxy default)
        IP_VS_WRR  weighted round-robin scheduler (kube-proxy prerequisite module)
        IP_VS_SH  source-hash scheduler (kube-proxy prerequisite module)
        NETFILTER_XT_MATCH_IPVS  ipvs match in masquerade rules
        IP_SET  ipset: KUBE-* sets
        IP_SET_HASH_IP  hash:ip sets
        IP_SET_HASH_IPPORT  hash:ip,port sets
        IP_SET_HASH_IPPORTIP  hash:ip,port,ip sets
        IP_SET_HASH_IPPORTNET  hash:ip,port,net sets
        IP_SET_HASH_NET  hash:net sets
        IP_SET_BITMAP_PORT  bitmap:port sets (NodePorts)
        NETFILTER_XT_SET  set match in iptables rules
        DUMMY  kube-ipvs0 dummy interface
    """,
        ),
        *_opts(
            "ipvs",
            "kube-proxy ipvs",
            "S8,S9",
            """
        IP_VS_IPV6  IPVS for IPv6 Services
        IP_VS_PROTO_SCTP  IPVS SCTP
        IP_VS_LC  least-connection scheduler
        IP_VS_WLC  weighted least-connection scheduler
    """,
            required=OPT,
        ),
        # ---------------------------------------------------------------- kube-proxy nftables
        *_opts(
            "nftables",
            "kube-proxy nftables",
            "S8,S2,S9",
            """
        NF_TABLES  nf_tables
        NF_TABLES_INET  inet family (kube-proxy's table)
        NF_TABLES_IPV4  ip family
        NF_TABLES_IPV6  ip6 family
        NFT_CT  ct expression: ctstate, conntrack cleanup
        NFT_NAT  dnat/snat
        NFT_MASQ  masquerade
        NFT_REDIR  redirect
        NFT_FIB_IPV4  fib daddr type local (IPv4)
        NFT_FIB_IPV6  fib daddr type local (IPv6)
        NFT_FIB_INET  fib in the inet family
        NFT_NUMGEN  numgen random: endpoint selection
        NFT_REJECT  reject: Services without endpoints
        NF_CONNTRACK  connection tracking
        NF_NAT  NAT core
    """,
        ),
        Option(
            "NF_CT_NETLINK",
            "nftables",
            "kube-proxy nftables",
            "nf_conntrack_netlink: kube-proxy >= 1.32 lists and deletes stale UDP conntrack entries "
            "over netlink",
            "K1",
            breaks="UDP Services (cluster DNS) keep sending to deleted pods after their endpoints change",
        ),
        Option(
            "NFT_COUNTER",
            "nftables",
            "kube-proxy nftables",
            "counter expression (separate module before 5.17)",
            "S9",
            until=(5, 17),
        ),
        Option(
            "NFT_OBJREF",
            "nftables",
            "kube-proxy nftables",
            "named objects (separate module before 6.2)",
            "S9",
            until=(6, 2),
        ),
        Option(
            "NFT_FIB",
            "nftables",
            "kube-proxy nftables",
            "fib expression core (selected by NFT_FIB_IPV4/6)",
            "S8",
            fragment=False,
        ),
        Option(
            "NFT_REJECT_INET",
            "nftables",
            "kube-proxy nftables",
            "reject in the inet family (selected)",
            "S8",
            fragment=False,
        ),
        # ---------------------------------------------------------------- flannel
        Option(
            "VXLAN",
            "flannel",
            "flannel (vxlan)",
            "vxlan backend uses the in-kernel VXLAN device (UDP 8472)",
            "S7",
        ),
        Option(
            "BRIDGE_NETFILTER",
            "flannel",
            "flannel (vxlan)",
            "flannel refuses to start without br_netfilter (kubeadm >= 1.30 no longer checks it)",
            "S7",
        ),
        Option(
            "WIREGUARD",
            "flannel",
            "flannel (vxlan)",
            "only for the wireguard backend",
            "S7",
            required=OPT,
            fragment=False,
        ),
        # ---------------------------------------------------------------- calico
        *_opts(
            "calico",
            "calico",
            "S6",
            """
        IP_SET  ipsets for policy
        IP_SET_HASH_IP  hash:ip sets
        IP_SET_HASH_NET  hash:net sets
        NETFILTER_XT_SET  set match (ipt_set)
        IP_NF_MATCH_RPFILTER  rpfilter match (anti-spoofing)
        NETFILTER_XT_MATCH_MARK  mark match
        NETFILTER_XT_MATCH_MULTIPORT  multiport match
        NETFILTER_XT_MATCH_U32  u32 match
        NETFILTER_XT_MATCH_IPVS  ipvs match (checksystem ipt_ipvs)
        IP_VS  NETFILTER_XT_MATCH_IPVS depends on it
        NF_CT_NETLINK  nf_conntrack_netlink (checksystem)
        NETFILTER_XT_TARGET_LOG  LOG target
        NET_IPIP  IPIP encapsulation (calico.yaml default)
        VXLAN  VXLAN encapsulation
    """,
        ),
        *_opts(
            "calico",
            "calico",
            "S6",
            """
        IP6_NF_MATCH_RPFILTER  rpfilter match (IPv6)
        IP_SET_HASH_IPPORT  hash:ip,port sets
        IP_SET_HASH_NETPORT  hash:net,port sets
        IP_SET_HASH_NETNET  hash:net,net sets
        IP_SET_BITMAP_PORT  bitmap:port sets
        NETFILTER_XT_MATCH_SCTP  sctp match
        IP_SCTP  SCTP policy rules
    """,
            required=OPT,
        ),
        Option(
            "WIREGUARD",
            "calico",
            "calico",
            "only for WireGuard encryption",
            "S6",
            required=OPT,
            fragment=False,
        ),
        # ---------------------------------------------------------------- cilium
        *_opts(
            "cilium",
            "cilium (eBPF)",
            "S5",
            """
        BPF_SYSCALL  bpf(2)
        BPF_JIT  BPF JIT
        CGROUP_BPF  socket load-balancing hooks
        NET_SCHED  traffic control; the BPF classifier depends on it
        NET_CLS_BPF  BPF classifier (tc)
        NET_CLS_ACT  tc actions; NET_SCH_INGRESS depends on it
        NET_SCH_INGRESS  ingress/clsact qdisc
        CRYPTO  CRYPTO_SHA1 and CRYPTO_USER_API_HASH depend on it
        CRYPTO_SHA1  program tags
        CRYPTO_USER_API_HASH  AF_ALG hash (program tags)
        PERF_EVENTS  perf ring buffer for events
        DEBUG_KERNEL  SCHEDSTATS depends on it on 5.10
        SCHEDSTATS  scheduler statistics
        VXLAN  VXLAN tunnel mode (default)
        GENEVE  Geneve tunnel mode
        IP_ADVANCED_ROUTER  IP_MULTIPLE_TABLES depends on it
        IP_MULTIPLE_TABLES  policy routing; selects FIB_RULES
        IP_SET  iptables masquerading (enable-bpf-masquerade=false)
        IP_SET_HASH_IP  iptables masquerading
        NETFILTER_XT_SET  iptables masquerading
        NETFILTER_XT_MATCH_COMMENT  iptables masquerading
    """,
        ),
        Option(
            "FIB_RULES",
            "cilium",
            "cilium (eBPF)",
            "policy routing (selected by IP_MULTIPLE_TABLES)",
            "S5",
            fragment=False,
        ),
        Option("BPF", "cilium", "cilium (eBPF)", "BPF core (selected by BPF_SYSCALL)", "S5", fragment=False),
        *_opts(
            "cilium",
            "cilium (eBPF)",
            "S5",
            """
        IPV6_MULTIPLE_TABLES  IPv6 policy routing
        NETFILTER_XT_TARGET_TPROXY  L7/FQDN proxy
        NETFILTER_XT_TARGET_MARK  L7/FQDN proxy
        NETFILTER_XT_TARGET_CT  L7/FQDN proxy
        NETFILTER_XT_MATCH_MARK  L7/FQDN proxy
        NETFILTER_XT_MATCH_SOCKET  L7/FQDN proxy
        NET_SCH_FQ  bandwidth manager
        NET_ACT_BPF  BPF tc actions
        BPF_JIT_ALWAYS_ON  hardening: no interpreter fallback
    """,
            required=OPT,
        ),
        Option(
            "WIREGUARD",
            "cilium",
            "cilium (eBPF)",
            "only for WireGuard encryption",
            "S5",
            required=OPT,
            fragment=False,
        ),
        # ---------------------------------------------------------------- docker (cri-dockerd)
        # moby's and runc's check-config.sh "Generally Necessary" flags that the base and iptables
        # profiles do not already require.
        Option(
            "NETFILTER_XT_MATCH_IPVS",
            "docker",
            "Docker Engine",
            "ipvs match: moby's and runc's check-config.sh list it as generally necessary "
            "(moby's service load-balancing rules use -m ipvs)",
            "S2M",
            breaks="Docker's own check-config.sh fails this kernel (exit 1), and -m ipvs rules fail to load",
        ),
        Option("IP_VS", "docker", "Docker Engine", "NETFILTER_XT_MATCH_IPVS depends on it", "KCONFIG,S2"),
        *_opts(
            "docker",
            "Docker Engine",
            "S2M",
            """
        NETFILTER_XT_MATCH_ADDRTYPE  addrtype match: dockerd's jumps to DOCKER (-m addrtype --dst-type LOCAL)
        NETFILTER_XT_MATCH_CONNTRACK  conntrack match: dockerd's ctstate RELATED,ESTABLISHED rules
        NETFILTER_XT_MARK  MARK target/match (moby generally necessary)
        IP_NF_RAW  raw table (moby generally necessary)
    """,
        ),
        *_opts(
            "docker",
            "Docker Engine",
            "S2M",
            """
        IP6_NF_FILTER  ip6tables filter table: dockerd with IPv6 networks
        IP6_NF_MANGLE  ip6tables mangle table: dockerd with IPv6 networks
        IP6_NF_NAT  ip6tables nat table: dockerd with IPv6 networks
        IP6_NF_RAW  ip6tables raw table: dockerd with IPv6 networks
        IP6_NF_TARGET_MASQUERADE  IPv6 MASQUERADE: dockerd with IPv6 networks
    """,
            required=OPT,
        ),
    ]
)


def options_for(profiles: list[str] | tuple[str, ...], version: Version | None = None) -> list[Option]:
    """Options of ``profiles`` in table order that exist on kernel ``version`` (None: every option)."""
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        from generator.errors import UserError

        raise UserError(f"unknown profile(s) {', '.join(unknown)}; known: {', '.join(PROFILES)}")
    return [o for o in OPTIONS if o.profile in profiles and o.applies_to(version)]
