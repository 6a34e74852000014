"""generator.program: every way a program can fail becomes one UserError naming it and the fix."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from generator import kasrun, program
from generator.errors import UserError
from generator.flash import device

FIX = "do the thing (apt install thing)"


def test_missing_program_is_named_with_the_fix(tmp_path):
    with pytest.raises(UserError) as exc:
        program.run([str(tmp_path / "nosuchtool"), "--version"], fix=FIX)
    assert str(exc.value) == f"`nosuchtool` not found: {FIX}"


def test_program_without_execute_permission(tmp_path):
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\nexit 0\n")  # mode 0644: execve says EACCES
    with pytest.raises(UserError, match=r"^`tool` may not be run here \(permission denied\): do the thing"):
        program.run([str(tool)], fix=FIX)


def test_hanging_program_times_out():
    with pytest.raises(UserError) as exc:
        program.run([sys.executable, "-c", "import time; time.sleep(30)"], fix=FIX, timeout=0.5)
    assert str(exc.value) == f"`{Path(sys.executable).name}` gave no answer within 0.5 s: {FIX}"


def test_non_zero_exit_says_why_from_the_last_line():
    code = "import sys; print('working'); print('noise\\nE: disk full\\n', file=sys.stderr); sys.exit(3)"
    with pytest.raises(UserError) as exc:
        program.run([sys.executable, "-c", code], fix=FIX, what="writing the card failed")
    # the last line of stderr (stdout may hold a partial result); stdout when stderr is empty
    assert str(exc.value) == f"writing the card failed (E: disk full): {FIX}"
    with pytest.raises(UserError, match=r"^`python[0-9.]*` failed \(working\): "):
        program.run([sys.executable, "-c", "print('working'); raise SystemExit(1)"], fix=FIX)


def test_check_false_leaves_the_exit_code_to_the_caller():
    res = program.run([sys.executable, "-c", "import sys; print('x'); sys.exit(4)"], fix=FIX, check=False)
    assert (res.returncode, res.stdout) == (4, "x\n")


def test_kas_that_cannot_start_is_one_line_not_a_traceback(tmp_path):
    kas = tmp_path / "kas"
    kas.write_text("#!/bin/sh\n")  # not executable: Popen raises PermissionError, which was a traceback
    with pytest.raises(UserError, match=r"^`kas` may not be run here .*: install kas \(pip install kas\)"):
        kasrun.follow([str(kas), "build", "x.yml"], cwd=tmp_path, log=tmp_path / "log")
    with pytest.raises(UserError, match=r"^`kas-container` not found: install kas"):
        kasrun.follow([str(tmp_path / "kas-container"), "build"], cwd=tmp_path)


def test_lsblk_missing_names_its_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match=r"^`lsblk` not found: .*util-linux"):
        device.run_lsblk("/dev/sdz")


@pytest.mark.skipif(
    shutil.which("lsblk") is None, reason="skipped: no lsblk (prepare with: apt-get install util-linux)"
)
def test_real_lsblk_refusing_a_device_says_why(tmp_path):
    not_a_disk = tmp_path / "sdz"
    with pytest.raises(UserError) as exc:
        device.run_lsblk(str(not_a_disk))
    # util-linux lsblk's own words, exit 32
    assert str(exc.value).startswith(
        f"lsblk cannot inspect {not_a_disk} (lsblk: {not_a_disk}: not a block device): "
    )


def test_crosscheck_without_git_is_one_line(monkeypatch, tmp_path):
    from generator.matrix.crosscheck import Mirrors

    (tmp_path / "o+n/repo").mkdir(parents=True)
    (tmp_path / "o+n/repo/HEAD").write_text("ref: refs/heads/main\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UserError, match=r"^`git` not found: install git"):
        Mirrors(tmp_path).commit("o+n", "v1.0")
