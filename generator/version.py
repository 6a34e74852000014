"""The one version type of the generator: ``packaging``'s ``Version`` over a string's release number.

Every version the project compares is a dotted release number with a spelling quirk around it:
the matrix writes "1.36.4", "v1.14.2" and etcd's image tag "3.6.8-0"; GitHub release tags are exact
"vX.Y.Z"; a kernel is "5.10.218-yocto-standard" and is judged by major.minor. ``release`` reads the
leading number (the quirks are what follows it), ``parse`` turns it into a ``packaging`` Version so
comparisons follow packaging (1.26 == 1.26.0 < 1.26.2), and ``semver``/``kernel`` are the adapters
for the two stricter spellings. A suffix never orders: "3.6.8-0" compares equal to "3.6.8".
"""

from __future__ import annotations

import re

from packaging.version import Version

_RELEASE = re.compile(r"^v?(\d+(?:\.\d+)*)")
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
_KERNEL = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?")


def release(value: object) -> tuple[int, ...]:
    """Leading numeric part; "v1.14.2" -> (1, 14, 2), "3.6.8-0" -> (3, 6, 8). ValueError if none."""
    m = _RELEASE.match(str(value).strip())
    if not m:
        raise ValueError(f"not a version: {value!r}")
    return tuple(int(p) for p in m.group(1).split("."))


def parse(value: object) -> Version:
    """The release number as a packaging Version (suffixes dropped, see the module note)."""
    return Version(".".join(map(str, release(value))))


def semver(text: str) -> tuple[int, int, int] | None:
    """An exact release tag "v1.3.6" / "1.3.6" -> (1, 3, 6); anything else (rc, extra text) -> None."""
    m = _SEMVER.match(text.strip())
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def kernel(text: str) -> tuple[int, int]:
    """A kernel release "5.10.218-yocto-standard" / "6.6" -> (5, 10): Kconfig facts change per major.minor."""
    m = _KERNEL.match(str(text))
    if not m:
        raise ValueError(f"not a kernel version: {text!r}")
    return int(m.group(1)), int(m.group(2))
