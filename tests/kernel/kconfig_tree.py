"""Real kernel Kconfig trees for the tests, loaded with kconfiglib.

Only the Kconfig files, ``arch/arm64/configs/defconfig``, ``scripts/*.sh`` (the compiler probes
Kconfig.include runs) and the few C files the tests read (``SOURCE_FILES``) are extracted from a
Debian ``linux-source-*.tar.xz`` and cached, keyed by the tarball's name, size and mtime, so a warm
run loads a tree in about two seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import kconfiglib

from generator.kernel.fragments import parse_fragment

# C sources the tests quote (what an option does at run time); part of the cache key.
SOURCE_FILES = ("kernel/sched/core.c", "net/netfilter/nfnetlink.c", "net/netfilter/Makefile")
_LAYOUT = "3"  # bump when the extracted file set changes


def cache_root() -> Path:
    base = os.environ.get("RCAR_K8S_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rcar-k8s"
    )
    return Path(base) / "kconfig-trees"


def extract(tarball: Path) -> Path:
    """Extract the Kconfig tree of ``tarball`` once; return its source root."""
    st = tarball.stat()
    dest = cache_root() / f"{tarball.name}-{st.st_size}-{int(st.st_mtime)}-l{_LAYOUT}"
    if (dest / ".complete").is_file():
        return next(p for p in dest.iterdir() if p.is_dir())
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
    with tarfile.open(tarball) as tf:  # peek at the top directory name
        top = tf.next().name.split("/")[0]
    subprocess.run(
        [
            "tar",
            "-xJf",
            str(tarball),
            "-C",
            str(tmp),
            "--wildcards",
            "--no-wildcards-match-slash",
            f"{top}/Kconfig",
            f"{top}/*/Kconfig*",
            f"{top}/*/*/Kconfig*",
            f"{top}/*/*/*/Kconfig*",
            f"{top}/*/*/*/*/Kconfig*",
            f"{top}/*/*/*/*/*/Kconfig*",
            f"{top}/*/*/*/*/*/*/Kconfig*",
            f"{top}/arch/arm64/configs/defconfig",
            f"{top}/scripts/*.sh",
            *(f"{top}/{path}" for path in SOURCE_FILES),
        ],
        check=True,
    )
    src = tmp / top
    _adapt_for_kconfiglib(src)
    (tmp / ".complete").write_text("ok\n")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest / top


def _adapt_for_kconfiglib(src: Path) -> None:
    # Linux 5.14 replaced `option modules` by the bare `modules` keyword, which kconfiglib 14.1 (the
    # last release) does not parse. Both mark MODULES as the symbol that enables =m; same meaning.
    for path in src.rglob("Kconfig*"):
        text = path.read_text(errors="replace")
        if re.search(r"^\s+modules\s*$", text, re.M):
            path.write_text(re.sub(r"^(\s+)modules\s*$", r"\1option modules", text, flags=re.M))


def source_file(src: Path, path: str) -> str:
    """Text of one of ``SOURCE_FILES`` in the extracted tree."""
    assert path in SOURCE_FILES, f"add {path} to SOURCE_FILES"
    return (src / path).read_text(errors="replace")


def kernel_version(src: Path) -> str:
    """``6.1`` from the Debian tarball directory name (``linux-source-6.1``)."""
    m = re.search(r"(\d+\.\d+)", src.name)
    assert m, src
    return m.group(1)


def load(src: Path) -> kconfiglib.Kconfig:
    """The arm64 Kconfig of ``src`` (host gcc/ld answer the compiler probes; none of our options
    depends on them)."""
    env = {
        "srctree": str(src),
        "ARCH": "arm64",
        "SRCARCH": "arm64",
        "KERNELVERSION": kernel_version(src),
        "CC": "gcc",
        "LD": "ld",
        "HOSTCC": "gcc",
        "HOSTCXX": "g++",
        "CC_VERSION_TEXT": "gcc",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        kconf = kconfiglib.Kconfig(str(src / "Kconfig"), warn=False)
        kconf.warn_assign_override = kconf.warn_assign_redun = False  # fragments override on purpose
        return kconf
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def apply(kconf: kconfiglib.Kconfig, base: Path | None, fragments: list[str]) -> dict[str, str]:
    """merge_config.sh --alldefconfig in kconfiglib: ``base`` defconfig (None: allnoconfig) then each
    fragment in order (later lines win); return the requested value per symbol."""
    if base is None:  # what scripts/kconfig/allnoconfig.py does
        kconf.warn = False
        for sym in kconf.unique_defined_syms:
            sym.set_value(2 if sym.is_allnoconfig_y else 0)
        kconf.warn = True
    else:
        kconf.load_config(str(base), replace=True)
    requested: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(fragments):
            path = Path(tmp) / f"frag{i}.cfg"
            path.write_text(text)
            kconf.load_config(str(path), replace=False)
            requested.update(parse_fragment(text))
    return requested


def dropped(kconf: kconfiglib.Kconfig, requested: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    """``{symbol: (requested, actual, unmet dependency)}`` for every request Kconfig did not keep."""
    out = {}
    for name, want in requested.items():
        sym = kconf.syms[name]
        got = sym.str_value
        if got != want:
            out[name] = (want, got or "n", kconfiglib.expr_str(sym.direct_dep))
    return out
