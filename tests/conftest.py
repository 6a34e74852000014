"""Shared test helpers. Tests run the real entry point (``python -m generator``), never a mock of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MATRIX = REPO / "generator" / "data" / "matrix.yml"


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``rcar-k8s ARGS`` through the real console entry point module."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        cwd=cwd or REPO, env=full_env, capture_output=True, text=True, timeout=timeout, input=input,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def matrix_copy(tmp_path: Path) -> Path:
    """A writable copy of the committed matrix for tests that break it on purpose."""
    dst = tmp_path / "matrix.yml"
    shutil.copyfile(MATRIX, dst)
    return dst


def require_tool(name: str) -> str:
    """Path of a host tool the test needs; .ci/run installs it, so a missing one is a setup bug."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"host tool '{name}' is missing: run scripts/test.sh (it installs the CI packages)")
    return path
