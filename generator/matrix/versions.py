"""Version strings as the matrix writes them ("1.36.4", "v1.14.2", "3.6.8-0", "1.26") made comparable.

The parsing and ordering are generator.version's (one version type for the project); this module
adds the matrix's vocabulary: minor lines, and the versions inside download URLs and image tags.
"""

from __future__ import annotations

import re

from generator import version

# Leading numeric part as a tuple; "v1.14.2" -> (1, 14, 2), "3.6.8-0" -> (3, 6, 8), "1.26" -> (1, 26).
parse = version.release


def key(value: object, width: int = 3) -> tuple[int, ...]:
    """Comparable key: missing parts count as 0, so "1.26" == "1.26.0" < "1.26.2"."""
    parts = parse(value)
    return parts + (0,) * (width - len(parts))


def minor(value: object) -> str:
    """ "1.36.4" -> "1.36"."""
    p = parse(value)
    return f"{p[0]}.{p[1] if len(p) > 1 else 0}"


def major(value: object) -> str:
    return str(parse(value)[0])


def minor_num(value: object) -> int:
    """Minor number within major 1 (Kubernetes): "1.36.4" -> 36."""
    return parse(value)[1]


def ge(a: object, b: object) -> bool:
    return version.parse(a) >= version.parse(b)


def lt(a: object, b: object) -> bool:
    return version.parse(a) < version.parse(b)


def is_version(value: object) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


_URL_VERSION = re.compile(r"/v(\d+\.\d+\.\d+)/")


def from_url(url: str) -> str | None:
    """The release version a download URL names (".../release/v1.36.4/bin/..." -> "1.36.4")."""
    m = _URL_VERSION.search(url or "")
    return m.group(1) if m else None


_TAG_VERSION = re.compile(r":v?(\d+\.\d+\.\d+)[^:/]*$")


def from_image(image: str) -> str | None:
    """ "registry.k8s.io/kube-apiserver:v1.36.4" -> "1.36.4"."""
    m = _TAG_VERSION.search(image or "")
    return m.group(1) if m else None
