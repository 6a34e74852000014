"""Fixtures for the kernel tests: real Kconfig trees (Debian linux-source) and real arm64 configs."""

from __future__ import annotations

import glob
import lzma
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import kconfig_tree  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def _tree(tarball: Path):
    src = kconfig_tree.extract(tarball)
    return src, kconfig_tree.load(src)


@pytest.fixture(scope="session")
def tree61():
    """(source dir, Kconfig) of Debian's linux-source-6.1 (scripts/ci-packages.txt installs it)."""
    found = sorted(glob.glob("/usr/src/linux-source-6.*.tar.xz"))
    if not found:
        pytest.fail(
            "Debian package linux-source is not installed: run scripts/test.sh (it installs CI packages)"
        )
    return _tree(Path(found[-1]))


def linux_source_tarball(minor: str) -> Path | None:
    """linux-source-<minor>.tar.xz fetched by fixtures/fetch.sh (or $RCAR_K8S_LINUX_SOURCE_5_10 / _6_12)."""
    env = os.environ.get(f"RCAR_K8S_LINUX_SOURCE_{minor.replace('.', '_')}")
    cand = (
        Path(env)
        if env
        else kconfig_tree.cache_root().parent / "linux-source" / f"linux-source-{minor}.tar.xz"
    )
    return cand if cand.is_file() else None


def linux_510_tarball() -> Path | None:
    return linux_source_tarball("5.10")


def _fetched_tree(minor: str, why: str):
    tarball = linux_source_tarball(minor)
    if tarball is None:
        pytest.skip(
            f"skipped: no Linux {minor} source tarball; run tests/kernel/fixtures/fetch.sh source-{minor} "
            f"(or set RCAR_K8S_LINUX_SOURCE_{minor.replace('.', '_')}) to check the fragments against {why}"
        )
    return _tree(tarball)


@pytest.fixture(scope="session")
def tree510():
    """(source dir, Kconfig) of Debian bullseye's linux-source-5.10, when fetched (fixtures/fetch.sh)."""
    return _fetched_tree("5.10", "a real 5.10 Kconfig (linux-renesas 5.10)")


@pytest.fixture(scope="session")
def tree612():
    """(source dir, Kconfig) of Debian trixie's linux-source-6.12, when fetched: the Debian tree
    closest to linux-yocto 6.6 (Debian ships no 6.6; bookworm has 6.1, bookworm-backports and
    trixie 6.12)."""
    return _fetched_tree("6.12", "the Debian Kconfig closest to linux-yocto 6.6")


def debian_config(version: str) -> str:
    """Text of Debian's arm64 kernel config fixture (linux-config-<minor>:arm64)."""
    (path,) = FIXTURES.glob(f"debian-{version}.*-arm64.config.xz")
    return lzma.decompress(path.read_bytes()).decode()
