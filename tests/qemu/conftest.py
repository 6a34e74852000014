"""The QEMU stand-in, built (or reused from its cache) once per test module that boots it."""

from __future__ import annotations

import os
import subprocess

import pytest

from generator.qemu import standin
from tests.conftest import REPO, require_tool


@pytest.fixture(scope="module")
def built() -> standin.Standin:
    require_tool("qemu-system-aarch64")
    require_tool("debugfs")
    if os.geteuid() != 0:
        pytest.fail("the stand-in build needs root (mmdebstrap --mode=root, binfmt); .ci/run runs as root")
    # cold: ~3-7 min (mmdebstrap under qemu-user); cached afterwards
    proc = subprocess.run(
        ["bash", str(REPO / "scripts/build-standin.sh")], capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return standin.build()
