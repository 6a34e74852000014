"""Check a kernel configuration for everything a Kubernetes node needs.

  rcar-k8s check-config FILE                    a .config, config.gz or /boot/config-* file
  rcar-k8s check-config --running               the running kernel (/proc/config.gz, /boot/config-$(uname -r))
  rcar-k8s check-config FILE --profile flannel  add a CNI or kube-proxy mode (repeatable, or comma-separated)
  rcar-k8s check-config FILE --format json      machine-readable report

Profiles: base (always), ikconfig (always), iptables (kube-proxy default mode; always unless
--no-iptables), ipvs, nftables, flannel, calico, cilium, docker (Docker Engine + cri-dockerd), or `all`.

Each option is reported as built-in, module, missing or wrong (set to a value it must not have),
grouped by component, with the reason it is needed and the upstream source that says so; a
missing required option also names what breaks ("containers with CPU limits fail to start"). Symbols
that were renamed, merged or removed between kernel versions (NF_NAT_IPV4, NFT_COUNTER,
MEMCG_SWAP, ...) are only expected on kernels that have them; the version is read from the
config header ("# Linux/arm64 5.10.218 Kernel Configuration") or given with --kernel-version.
Works for any board, not only R-Car.

Exit status: 0 all required options present (optional ones may be missing: warnings),
1 a required option is missing or wrong, or the kernel is too old for a chosen profile
(kube-proxy nftables needs >= 5.13), 2 unreadable input (missing file, broken gzip, not a config).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from generator.errors import UserError
from generator.kernel import configfile
from generator.kernel.check import DEFAULT_PROFILES, Report, check_config
from generator.kernel.requirements import PROFILES, SOURCES

NAME = "check-config"
HELP = "check a kernel .config / config.gz / the running kernel for Kubernetes node requirements"

MARK = {"builtin": "ok  ", "module": "ok-m", "off": "ok  ", "n/a": "n/a ", "missing": "MISS", "wrong": "BAD "}


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path, help=".config, config.gz or /boot/config-* to check")
    parser.add_argument("--running", action="store_true", help="check the running kernel's config")
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="NAME",
        help=f"extra profile: {', '.join(p for p in PROFILES if p not in DEFAULT_PROFILES)}, all",
    )
    parser.add_argument(
        "--no-iptables",
        action="store_true",
        help="drop the iptables profile (e.g. Cilium kube-proxy replacement)",
    )
    parser.add_argument("--kernel-version", metavar="X.Y", help="override the version read from the header")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--quiet", "-q", action="store_true", help="text: list only problems")
    parser.set_defaults(func=run)


def _profiles(args: argparse.Namespace) -> list[str]:
    chosen = list(DEFAULT_PROFILES)
    for item in args.profile:
        for name in filter(None, (p.strip() for p in item.split(","))):
            if name == "all":
                chosen += list(PROFILES)
            elif name not in PROFILES:
                raise UserError(f"unknown profile '{name}'; known: {', '.join(PROFILES)}, all")
            else:
                chosen.append(name)
    if args.no_iptables:
        chosen = [p for p in chosen if p != "iptables"]
    return list(dict.fromkeys(chosen))


def run(args: argparse.Namespace) -> int:
    if args.running == (args.file is not None):
        raise UserError("give a config FILE or --running (exactly one)")
    cfg = configfile.read_running() if args.running else configfile.read(args.file)
    report = check_config(cfg, _profiles(args), args.kernel_version)
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render_text(report, quiet=args.quiet))
    return 0 if report.ok else 1


def render_text(report: Report, quiet: bool = False) -> str:
    out = [
        f"kernel config: {report.source}",
        f"kernel: {report.kernel or 'unknown version'}"
        + (f" ({report.arch})" if report.arch else "")
        + f"; profiles: {', '.join(report.profiles)}",
    ]
    out += [f"note: {n}" for n in report.notes]
    for profile, why in report.refused.items():
        out.append(f"REFUSED profile {profile}: {why}")
    groups: dict[tuple[str, str], list] = {}
    for r in report.results:
        groups.setdefault((r.profile, r.component), []).append(r)
    for (profile, component), results in groups.items():
        shown = [r for r in results if not quiet or not r.ok]
        if not shown:
            continue
        out.append("")
        out.append(f"{component} [{profile}]")
        for r in shown:
            name = f"CONFIG_{r.symbol}"
            value = "" if r.value is None else f"={r.value}"
            alias = f" (as CONFIG_{r.found_as})" if r.found_as else ""
            level = "required" if r.required else "optional"
            line = f"  [{MARK[r.status]}] {name}{value}{alias}"
            if r.ok:
                line += f"  {r.note}" if r.note else ""
            elif r.required and r.breaks:
                line += f"  {r.status}, {level}: {r.breaks}. Why: {r.why} [{r.source}]"
                line += f" {r.note}" if r.note else ""
            else:
                line += f"  {r.status}, {level}: {r.why} [{r.source}]" + (f" {r.note}" if r.note else "")
            out.append(line)
    failed, warned = report.failures(), report.warnings()
    out.append("")
    if report.ok:
        out.append(f"result: OK, all required options present ({len(warned)} optional missing)")
    else:
        out.append(
            f"result: FAIL, {len(failed)} required option(s) missing or wrong"
            + (f", {len(report.refused)} profile(s) refused" if report.refused else "")
            + f" ({len(warned)} optional missing)"
        )
        out.append("what breaks on this kernel:")
        out += [f"  - {r.breaks or r.why} (CONFIG_{r.symbol}: {r.status})" for r in failed]
    used = sorted({s for r in report.results if not r.ok or not quiet for s in r.source.split(",")})
    out += ["sources:"] + [f"  {k}: {SOURCES[k]}" for k in used if k in SOURCES]
    return "\n".join(out)
