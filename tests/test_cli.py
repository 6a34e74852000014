"""The CLI's contract: every command has --help; user errors are one line, no traceback."""

from __future__ import annotations

import pkgutil

import pytest

from generator import commands
from tests.conftest import run_cli

COMMANDS = sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(commands.__path__))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    res = run_cli(command, "--help")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: rcar-k8s " + command)


def test_unwritable_output_is_one_line_not_a_traceback(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    res = run_cli("generate", "--root", str(blocker / "sub"))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rcar-k8s: error: ") and str(blocker) in lines[0]


def test_schema_errors_reach_every_command(tmp_path) -> None:
    """Commands that read the matrix validate it first (missing add-ons => file:line, exit 2)."""
    from tests.conftest import MATRIX

    text = MATRIX.read_text().replace("\naddons:\n", "\naddons_removed:\n")
    bad = tmp_path / "matrix.yml"
    bad.write_text(text)
    for argv in (["generate", "--check", "--matrix", str(bad)], ["images", "list", "--matrix", str(bad)]):
        res = run_cli(*argv)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert f"{bad}:" in res.stderr and "addons" in res.stderr
