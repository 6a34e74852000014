"""Host checks: what a scarthgap build of our images needs, each with the fix a user can apply.

Figures and lists, and where they come from:

* disk: the Yocto 5.0 manual asks for 90 GB free to build core-image-sato (``MIN_DISK_SPACE`` in
  poky ``documentation/poky.yaml.in``); our images add several Go builds (kubernetes, containerd,
  runc, cri-tools) and the Renesas kernel, so we ask for 100 GB for the build dir, downloads and sstate.
* RAM: 8 GB (``MIN_RAM`` there); fewer than 4 cores only warns (slow, not broken).
* host tools: scarthgap's ``HOSTTOOLS`` (meta/conf/bitbake.conf) -- BitBake stops when one is missing --
  plus ``rsync``/``sync`` that meta-rcar-gen3 adds (conf/machine/include/rcar_common.inc) and the
  commands of the documented Debian/Ubuntu package list (texinfo, unzip, socat, xz-utils);
  minimum versions from ``MIN_*_VERSION`` in the same poky.yaml.in (sanity.bbclass enforces them).
* not root: BitBake refuses to run as root (sanity.bbclass); kas-container runs it unprivileged.
* locale: kas runs BitBake with ``LC_ALL=en_US.UTF-8`` on Debian/Ubuntu (``en_US.utf8`` elsewhere),
  so that locale must be generated.
* kas: at least ``generator.kasfiles.KAS_MIN_VERSION``, the first release reading our header version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generator import kasfiles
from generator.host.probe import Host
from generator.version import Version, parse

GB = 1000**3
MIN_DISK_GB = 100
MIN_RAM_GB = 8
MIN_CORES = 4

# scarthgap meta/conf/bitbake.conf HOSTTOOLS (unconditional part), verbatim.
HOSTTOOLS = """
[ ar as awk basename bash bunzip2 bzip2 cat chgrp chmod chown chrpath cmp comm cp cpio
cpp cut date dd diff diffstat dirname du echo egrep env expand expr false
fgrep file find flock g++ gawk gcc getconf getopt git grep gunzip gzip
head hostname iconv id install ld ldd ln ls lz4c make md5sum mkdir mkfifo mknod
mktemp mv nm objcopy objdump od patch perl pr printf pwd
python3 pzstd ranlib readelf readlink realpath rm rmdir rpcgen sed seq sh
sha1sum sha224sum sha256sum sha384sum sha512sum
sleep sort split stat strings strip tail tar tee test touch tr true truncate uname
uniq unzstd wc wget which xargs zstd
""".split()
RCAR_GEN3_HOSTTOOLS = ["rsync", "sync"]
DOC_PACKAGE_TOOLS = ["makeinfo", "unzip", "socat", "xz"]
REQUIRED_TOOLS = sorted(set(HOSTTOOLS + RCAR_GEN3_HOSTTOOLS + DOC_PACKAGE_TOOLS))

# Debian/Ubuntu package that provides a tool (anything not listed is in coreutils).
DEBIAN_PACKAGE = {
    **dict.fromkeys("ar as ld nm objcopy objdump ranlib readelf strings strip".split(), "binutils"),
    **dict.fromkeys("cpp gcc g++ make".split(), "build-essential"),
    **dict.fromkeys("bunzip2 bzip2".split(), "bzip2"),
    **dict.fromkeys("gunzip gzip".split(), "gzip"),
    **dict.fromkeys("pzstd unzstd zstd".split(), "zstd"),
    **dict.fromkeys("iconv ldd getconf".split(), "libc-bin"),
    **dict.fromkeys("flock getopt".split(), "util-linux"),
    **dict.fromkeys("egrep fgrep grep".split(), "grep"),
    "awk": "gawk", "gawk": "gawk", "bash": "bash", "sh": "dash", "chrpath": "chrpath", "cpio": "cpio",
    "diff": "diffutils", "cmp": "diffutils", "diffstat": "diffstat", "file": "file", "find": "findutils",
    "xargs": "findutils", "git": "git", "hostname": "hostname", "lz4c": "lz4", "patch": "patch",
    "perl": "perl", "python3": "python3", "rpcgen": "libc-dev-bin", "sed": "sed", "tar": "tar",
    "wget": "wget", "which": "debianutils", "rsync": "rsync", "makeinfo": "texinfo", "unzip": "unzip",
    "socat": "socat", "xz": "xz-utils",
}

# tool: (minimum, argv printing the version) -- poky documentation/poky.yaml.in MIN_*_VERSION
MIN_TOOL_VERSIONS = {
    "python3": ("3.8.0", ["python3", "--version"]),
    "git": ("1.8.3.1", ["git", "--version"]),
    "tar": ("1.28", ["tar", "--version"]),
    "gcc": ("8.0", ["gcc", "-dumpversion"]),
    "make": ("4.0", ["make", "--version"]),
}


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "pass" | "fail" | "warn" | "skip"
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def _gb(n: float) -> str:
    return f"{n / GB:.0f} GB"


def check_disk(host: Host, min_gb: int = MIN_DISK_GB) -> Check:
    where, free = host.free_bytes()
    detail = f"{_gb(free)} free at {where} (need {min_gb} GB for build, downloads and sstate)"
    if free >= min_gb * GB:
        return Check("disk", "pass", detail)
    return Check("disk", "fail", detail,
                 f"free space on {where}, or point KAS_WORK_DIR/KAS_BUILD_DIR at a disk with {min_gb} GB "
                 "free (a shared DL_DIR/SSTATE_DIR elsewhere reduces what the build dir needs)")


def check_memory(host: Host) -> Check:
    mem = host.mem_total_bytes()
    if mem is None:
        return Check("memory", "skip", f"skipped: cannot read {host.proc / 'meminfo'}")
    # MemTotal is a little under the installed RAM (kernel reserve): allow 5 %
    if mem >= MIN_RAM_GB * GB * 0.95:
        return Check("memory", "pass", f"{mem / 1024**3:.1f} GiB RAM (need {MIN_RAM_GB} GB)")
    return Check("memory", "fail", f"{mem / 1024**3:.1f} GiB RAM (need {MIN_RAM_GB} GB)",
                 f"use a host with at least {MIN_RAM_GB} GB RAM, or limit parallelism "
                 "(BB_NUMBER_THREADS=2 PARALLEL_MAKE=-j2) and add swap")


def check_cores(host: Host) -> Check:
    n = host.cpu_count()
    if n is None:
        return Check("cores", "skip", f"skipped: cannot read {host.proc / 'cpuinfo'}")
    if n >= MIN_CORES:
        return Check("cores", "pass", f"{n} CPU cores")
    return Check("cores", "warn",
                 f"{n} CPU cores (a first build takes many hours with fewer than {MIN_CORES})",
                 "use a bigger build host, or share SSTATE_DIR/SSTATE_MIRRORS with one that has built before")


def check_not_root(host: Host, kas_container: bool) -> Check:
    if host.uid != 0:
        return Check("user", "pass", f"running as uid {host.uid} (not root)")
    if kas_container:
        return Check("user", "pass", "root, but kas-container runs BitBake as an unprivileged user")
    return Check("user", "fail", "running as root: BitBake refuses to build as root",
                 "run as a normal user, or build in a container with `rcar-k8s build --kas-container`")


def check_tools(host: Host) -> Check:
    missing = [t for t in REQUIRED_TOOLS if host.which(t) is None]
    if not missing:
        return Check("host tools", "pass", f"all {len(REQUIRED_TOOLS)} scarthgap host tools found")
    pkgs = sorted({DEBIAN_PACKAGE.get(t, "coreutils") for t in missing})
    return Check("host tools", "fail", f"missing: {' '.join(missing)}",
                 f"sudo apt-get install {' '.join(pkgs)}  (Debian/Ubuntu; see docs/building.md for others)")


def _version_in(text: str) -> Version | None:
    m = re.search(r"(\d+(?:\.\d+)*)", text)
    return parse(m.group(1)) if m else None


def check_tool_versions(host: Host) -> Check:
    old, unknown = [], []
    for tool, (minimum, argv) in MIN_TOOL_VERSIONS.items():
        if host.which(tool) is None:
            continue  # reported by check_tools
        res = host.run(argv)
        found = _version_in((res.stdout + res.stderr) if res else "")
        if found is None:
            unknown.append(tool)
        elif found < parse(minimum):
            old.append(f"{tool} {found} < {minimum}")
    if old:
        return Check("tool versions", "fail", "too old: " + ", ".join(old),
                     "upgrade them, or use a supported distro (Debian 12, Ubuntu 22.04/24.04) "
                     "or kas-container")
    if unknown:
        return Check("tool versions", "warn", f"could not read the version of: {' '.join(unknown)}")
    return Check("tool versions", "pass", "python3, git, tar, gcc, make new enough for scarthgap")


def check_locale(host: Host) -> Check:
    res = host.run(["locale", "-a"])
    if res is None:
        return Check("locale", "fail", "`locale` not found", "sudo apt-get install locales")
    names = {n.strip().lower().replace("-", "") for n in res.stdout.splitlines()}
    if "en_us.utf8" in names:
        return Check("locale", "pass", "en_US.UTF-8 available (kas runs BitBake with it)")
    return Check("locale", "fail",
                 "locale en_US.UTF-8 not generated (kas runs BitBake with LC_ALL=en_US.UTF-8)",
                 "sudo sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen "
                 "&& sudo locale-gen")


KAS_VERSION_RE = re.compile(r"kas(?:-container)?\s+(\d+(?:\.\d+)+)(?:.*?format version (\d+))?")


def kas_version(host: Host, exe: str = "kas") -> tuple[Version, int | None] | None:
    res = host.run([exe, "--version"])
    if res is None or res.returncode != 0:
        return None
    m = KAS_VERSION_RE.search(res.stdout + res.stderr)
    if not m:
        return None
    return parse(m.group(1)), (int(m.group(2)) if m.group(2) else None)


def check_kas(host: Host, kas_container: bool) -> Check:
    exe = "kas-container" if kas_container else "kas"
    fix = (f"pip install --upgrade 'kas>={kasfiles.KAS_MIN_VERSION}'"
           "  (kas-container is part of the kas package)")
    if host.which(exe) is None:
        return Check("kas", "fail", f"`{exe}` not found on PATH", fix)
    found = kas_version(host, exe)
    if found is None:
        return Check("kas", "fail", f"`{exe} --version` gave no version", fix)
    version, fmt = found
    need = parse(kasfiles.KAS_MIN_VERSION)
    if version < need or (fmt is not None and fmt < kasfiles.KAS_HEADER_VERSION):
        return Check("kas", "fail",
                     f"{exe} {version} is too old: our kas files use format {kasfiles.KAS_HEADER_VERSION} "
                     f"(kas >= {need})", fix)
    return Check("kas", "pass", f"{exe} {version} (format {fmt or '?'}; need >= {need})")


def check_container_engine(host: Host) -> Check:
    for engine in ("docker", "podman"):
        if host.which(engine):
            return Check("container engine", "pass", f"{engine} found (for kas-container)")
    return Check("container engine", "fail", "neither docker nor podman found (kas-container needs one)",
                 "sudo apt-get install podman  (or docker.io)")


def run_checks(host: Host, *, kas_container: bool = False, min_disk_gb: int = MIN_DISK_GB) -> list[Check]:
    checks = [check_disk(host, min_disk_gb), check_memory(host), check_cores(host),
              check_not_root(host, kas_container)]
    if kas_container:
        # the container image brings host tools and locale; the host needs the engine
        checks += [check_container_engine(host), check_kas(host, True)]
    else:
        checks += [check_tools(host), check_tool_versions(host), check_locale(host), check_kas(host, False)]
    return checks
