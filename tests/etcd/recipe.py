"""Install a generated recipe into a scratch root by running its real ``do_install`` with bash.

The shell body of ``do_install`` is taken verbatim from the .bb and BitBake's ``${VAR}`` expansion is
applied to it as BitBake does (``${D}``, ``${libexecdir}``…, and the recipe's own ``?=`` defaults;
unknown names are left to the shell), so the units that land in the root are what the image gets.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

# poky scarthgap with usrmerge (meta/conf/bitbake.conf + DISTRO_FEATURES usrmerge)
POKY_DIRS = {
    "prefix": "/usr",
    "sysconfdir": "/etc",
    "localstatedir": "/var",
    "libexecdir": "/usr/libexec",
    "datadir": "/usr/share",
    "docdir": "/usr/share/doc",
    "bindir": "/usr/bin",
    "systemd_system_unitdir": "/usr/lib/systemd/system",
    "systemd_unitdir": "/usr/lib/systemd",
}

# one-line `VAR = "x"`, `VAR ?= "x"`, `VAR ??= "x"` (no overrides, no multi-line values)
_DEFAULT = re.compile(r'^([A-Za-z0-9_]+)\s*\?{0,2}=\s*"([^"]*)"\s*$', re.M)


def recipe_defaults(bb_text: str) -> dict[str, str]:
    return dict(_DEFAULT.findall(bb_text))


def do_install_body(bb_text: str) -> str:
    m = re.search(r"^do_install\(\) \{\n(.*?)^\}\n", bb_text, re.M | re.S)
    if not m:
        raise AssertionError("recipe has no do_install")
    return m.group(1)


def expand(value: str, env: dict[str, str]) -> str:
    for _ in range(5):
        value = re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: env.get(m.group(1), m.group(0)), value)
    return value


class InstallError(Exception):
    """do_install failed; the message is its stderr."""


def install(bb: Path, root: Path, pn: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Run do_install of ``bb`` with D=root; returns the variables it saw."""
    text = bb.read_text()
    env = dict(POKY_DIRS, PN=pn, D=str(root), S=str(bb.parent / "files"), WORKDIR=str(bb.parent / "files"))
    for k, v in recipe_defaults(text).items():
        env[k] = v
    env.update(overrides or {})
    env = {k: expand(v, env) for k, v in env.items()}
    root.mkdir(parents=True, exist_ok=True)
    # BitBake's shell logging helper (meta/classes-global/logging.bbclass): message and fail
    prelude = 'bbfatal() { echo "ERROR: $*" >&2; exit 1; }\n'
    body = prelude + expand(do_install_body(text), env)
    res = subprocess.run(["bash", "-euc", body], env=dict(os.environ), capture_output=True, text=True)
    if res.returncode != 0:
        raise InstallError(res.stderr)
    return env
