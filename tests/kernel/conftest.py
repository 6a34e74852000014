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


def linux_510_tarball() -> Path | None:
    env = os.environ.get("RCAR_K8S_LINUX_SOURCE_5_10")
    cand = (
        Path(env) if env else kconfig_tree.cache_root().parent / "linux-source" / "linux-source-5.10.tar.xz"
    )
    return cand if cand.is_file() else None


@pytest.fixture(scope="session")
def tree510():
    """(source dir, Kconfig) of Debian bullseye's linux-source-5.10, when fetched (fixtures/fetch.sh)."""
    tarball = linux_510_tarball()
    if tarball is None:
        pytest.skip(
            "skipped: no Linux 5.10 source tarball; run tests/kernel/fixtures/fetch.sh source-5.10 "
            "(or set RCAR_K8S_LINUX_SOURCE_5_10) to check the fragments against a real 5.10 Kconfig"
        )
    return _tree(tarball)


def debian_config(version: str) -> str:
    """Text of Debian's arm64 kernel config fixture (linux-config-<minor>:arm64)."""
    (path,) = FIXTURES.glob(f"debian-{version}*-arm64.config.xz")
    return lzma.decompress(path.read_bytes()).decode()
