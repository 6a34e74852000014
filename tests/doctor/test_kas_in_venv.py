"""After ./scripts/quickstart.sh, `.venv/bin/rcar-k8s doctor` finds the kas quickstart installed into
.venv/bin, with no activated venv (PATH without .venv/bin), as a new user runs it from README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_doctor_finds_kas_next_to_the_interpreter():
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "kas").exists(), "the test venv has kas (pyproject dependency)"
    proc = subprocess.run(
        [str(venv_bin / "rcar-k8s"), "doctor"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "LANG": "C.UTF-8"},
    )
    kas_line = next(ln for ln in proc.stdout.splitlines() if "] kas " in ln)
    assert "not found on PATH" not in kas_line and kas_line.startswith("[ok  ]"), kas_line


def test_path_is_appended_once_and_keeps_the_users_order():
    from generator.cli import tools_next_to_interpreter

    env = {"PATH": "/opt/kas/bin:/usr/bin"}
    tools_next_to_interpreter(env, "/home/u/meta-rcar-k8s/.venv/bin/python")
    tools_next_to_interpreter(env, "/home/u/meta-rcar-k8s/.venv/bin/python")
    assert env["PATH"] == "/opt/kas/bin:/usr/bin:/home/u/meta-rcar-k8s/.venv/bin"


def test_readme_and_quickstart_activate_the_venv_before_kas_build():
    """The line after quickstart must work in a fresh shell: kas is only in .venv/bin."""
    for path in (REPO / "README.md", REPO / "scripts/quickstart.sh"):
        lines = [ln.strip() for ln in path.read_text().splitlines()]
        first = next(i for i, ln in enumerate(lines) if ln.startswith("kas build"))
        assert any(". .venv/bin/activate" in ln for ln in lines[max(0, first - 4) : first]), path
