"""Debian arm64 packages the stand-in lacks (sfdisk, sshd, sudo): fetched once into the stand-in's
deb cache with ``apt-get download`` (checked against the signed index), unpacked on the host, and
laid into the image at merged-/usr paths."""

from __future__ import annotations

from pathlib import Path

from generator import program
from generator.errors import UserError


def fetch(cache: Path, name: str) -> Path:
    """The cached ``NAME_*_arm64.deb``, downloaded the first time."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{name}_*_arm64.deb"))
    if not found:
        fix = f"prepare with: cd {cache} && apt-get download {name}:arm64 (needs the Debian archive once)"
        proc = program.run(["apt-get", "download", "-q", f"{name}:arm64"], fix=fix, check=False, cwd=cache)
        found = sorted(cache.glob(f"{name}_*_arm64.deb"))
        if proc.returncode != 0 or not found:
            raise UserError(
                f"apt-get download {name}:arm64 failed (needs the Debian archive once; "
                f"prepare with: cd {cache} && apt-get download {name}:arm64)"
            )
    return found[-1]


def unpack(cache: Path, names: tuple[str, ...], tree: Path) -> Path:
    """Every package of ``names`` unpacked into ``tree`` (``dpkg-deb -x``, no maintainer scripts)."""
    for name in names:
        program.run(
            ["dpkg-deb", "-x", str(fetch(cache, name)), str(tree)],
            fix="install dpkg (dpkg-deb); if the .deb is damaged, delete it from the deb cache and rerun",
        )
    return tree


def merged_usr(path: str) -> str:
    """bookworm's packages still ship /sbin, /lib; the image has merged /usr (debugfs does not
    follow the /sbin -> usr/sbin symlink)."""
    for top in ("/sbin/", "/bin/", "/lib/"):
        if path.startswith(top):
            return "/usr" + path
    return path
