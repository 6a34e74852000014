"""Check a kernel config against the requirements table.

API (used by ``rcar-k8s check-config`` and by the QEMU tests on a guest's /proc/config.gz)::

    report = check_config_text(text, ["base", "iptables", "flannel"])
    report.ok              # False when a required option is missing/wrong or a profile is refused
    report.failures()      # the Results that make it fail
    report.to_dict()       # JSON-ready

Statuses: ``builtin`` (=y), ``module`` (=m), ``off`` (an option that must be off is off),
``missing`` (absent or not set), ``wrong`` (set to a
value the option must not have, e.g. RT_GROUP_SCHED=y or IPV6=m), ``n/a`` (the symbol does not exist on this
kernel version: renamed, merged or not yet added; the note says which). The kernel version comes
from the config header (``# Linux/arm64 5.10.218 Kernel Configuration``); without a header every
option is expected, unless ``kernel_version`` is given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from generator.kernel import configfile, fragments
from generator.kernel.configfile import KernelConfig
from generator.kernel.requirements import PROFILES, SOURCES, Option, options_for
from generator.kernel.versions import FATE_BY_SYMBOL, Version, fmt, parse_version

DEFAULT_PROFILES = ("base", "ikconfig", "iptables")
OK_STATUSES = ("builtin", "module", "off", "n/a")


@dataclass
class Result:
    symbol: str
    status: str
    value: str | None
    required: bool
    profile: str
    component: str
    why: str
    source: str
    found_as: str | None = None  # the alias that decided, when not the main name
    note: str = ""
    breaks: str = ""  # what a user sees when this required option is missing or wrong

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    @property
    def fails(self) -> bool:
        return self.required and not self.ok


@dataclass
class Report:
    source: str
    arch: str | None
    kernel: str | None
    profiles: list[str]
    results: list[Result]
    refused: dict[str, str] = field(default_factory=dict)  # profile -> why the kernel cannot run it
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.failures()

    def failures(self) -> list[Result]:
        return [r for r in self.results if r.fails]

    def warnings(self) -> list[Result]:
        return [r for r in self.results if not r.required and not r.ok]

    def result(self, symbol: str, profile: str | None = None) -> Result:
        for r in self.results:
            if r.symbol == symbol and (profile is None or r.profile == profile):
                return r
        raise KeyError(symbol)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "arch": self.arch,
            "kernel": self.kernel,
            "profiles": self.profiles,
            "ok": self.ok,
            "refused": self.refused,
            "notes": self.notes,
            "summary": {
                "required_failed": len(self.failures()),
                "optional_missing": len(self.warnings()),
                "checked": len(self.results),
            },
            "options": [asdict(r) | {"ok": r.ok} for r in self.results],
            "sources": SOURCES,
        }


def _status(
    opt: Option, cfg: KernelConfig, version: Version | None
) -> tuple[str, str | None, str | None, str]:
    """(status, value, alias that decided, note) for one option."""
    if not opt.applies_to(version):
        fate = FATE_BY_SYMBOL.get(opt.symbol)
        if opt.until and version and version >= opt.until:
            why = fate.fate if fate else f"does not exist from {fmt(opt.until)} on"
        else:
            why = f"added in {fmt(opt.since)}" if opt.since else "not on this kernel"
        return "n/a", cfg.get(opt.symbol), None, f"not on Linux {fmt(version)}: {why}" if version else why
    value, found_as = cfg.get(opt.symbol), None
    if value is None:
        for alias in opt.aliases:  # first name present decides, as in kubeadm's validator
            if cfg.get(alias) is not None:
                value, found_as = cfg.get(alias), alias
                break
    if opt.value == "n":
        if value in (None, "n"):
            return "off", value, found_as, "off, as required"
        return "wrong", value, found_as, f"is {value}, must be off"
    if opt.value == "yn":
        if value == "y":
            return "builtin", value, found_as, ""
        if value in (None, "n"):
            return "off", value, found_as, "off: allowed (built in is better)"
        return "wrong", value, found_as, f"is {value}, must be y or off, never a module"
    if value == "y":
        return "builtin", value, found_as, ""
    if value == "m":
        return "module", value, found_as, "module: must be loaded (or autoloaded) before use"
    if value is None or value == "n":
        fate = FATE_BY_SYMBOL.get(opt.symbol)
        note = f"({fate.fate})" if fate else ""
        return "missing", value, found_as, note
    return "wrong", value, found_as, f"unexpected value {value}"


def check_config(
    cfg: KernelConfig, profiles: list[str] | tuple[str, ...] | None = None, kernel_version: str | None = None
) -> Report:
    chosen = list(dict.fromkeys(profiles or DEFAULT_PROFILES))
    version = parse_version(kernel_version) if kernel_version else cfg.version
    report = Report(
        source=cfg.source,
        arch=cfg.arch,
        kernel=kernel_version or cfg.version_text,
        profiles=chosen,
        results=[],
    )
    if version is None:
        report.notes.append(
            "no 'Linux/<arch> <version> Kernel Configuration' header: kernel version unknown, "
            "so symbols renamed between versions are all expected (pass --kernel-version)"
        )
    if cfg.arch and cfg.arch not in ("arm64", "aarch64"):
        report.notes.append(
            f"config is for {cfg.arch}; the table is written for arm64 but applies to any arch"
        )
    for profile in chosen:
        why_not = fragments.refusal(profile, version) if version else None
        if why_not:
            report.refused[profile] = why_not
    for opt in options_for(chosen, None):
        status, value, found_as, note = _status(opt, cfg, version)
        report.results.append(
            Result(
                symbol=opt.symbol,
                status=status,
                value=value,
                required=opt.required,
                profile=opt.profile,
                component=opt.component,
                why=opt.why,
                source=opt.source,
                found_as=found_as,
                note=note,
                breaks=opt.breaks,
            )
        )
    return report


def check_config_text(
    text: str,
    profiles: list[str] | tuple[str, ...] | None = None,
    kernel_version: str | None = None,
    source: str = "<text>",
) -> Report:
    """Check config ``text`` (a .config's content) for ``profiles`` (default: base, ikconfig, iptables)."""
    return check_config(configfile.parse(text, source), profiles, kernel_version)


def check_config_bytes(
    data: bytes,
    profiles: list[str] | tuple[str, ...] | None = None,
    kernel_version: str | None = None,
    source: str = "<bytes>",
) -> Report:
    """Like ``check_config_text`` for raw file bytes; gzip (config.gz) is detected."""
    return check_config(configfile.parse(configfile.decode(data, source), source), profiles, kernel_version)


def known_profiles() -> list[str]:
    return list(PROFILES)
