"""rcar-k8s etcd-bench: the real CLI on real directories (a disk-backed one, a tmpfs, bad ones)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from generator.etcd import bench
from tests.conftest import run_cli


def _json(path: Path, *extra: str) -> tuple[int, dict]:
    res = run_cli("etcd-bench", str(path), "--count", "50", "--format", "json", *extra)
    assert res.returncode in (0, 1), res.stderr
    return res.returncode, json.loads(res.stdout)


def test_json_report_on_a_directory(tmp_path: Path) -> None:
    rc, data = _json(tmp_path, "--size", "512")
    assert data["count"] == 50 and data["size"] == 512 and data["path"] == str(tmp_path)
    assert 0 <= data["p50_ms"] <= data["p99_ms"] <= data["max_ms"]
    assert data["guidance_p99_ms"] == 10.0
    assert data["meets_guidance"] == (data["p99_ms"] < 10.0) == (rc == 0)
    assert list(tmp_path.iterdir()) == []  # scratch file removed


def test_tmpfs_meets_the_guidance() -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("skipped: no /dev/shm tmpfs on this host")
    rc, data = _json(shm)
    assert rc == 0 and data["meets_guidance"] and data["p99_ms"] < 10.0
    assert "OK" in data["verdict"]


def test_text_report(tmp_path: Path) -> None:
    res = run_cli("etcd-bench", str(tmp_path), "--count", "20")
    assert res.returncode in (0, 1)
    assert "fdatasync p50" in res.stdout and "p99" in res.stdout and "max" in res.stdout
    assert ("OK:" in res.stdout) == (res.returncode == 0)


@pytest.mark.parametrize("make", ["missing", "file", "zero-count"])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, make: str) -> None:
    target = tmp_path / "nope"
    extra: list[str] = []
    if make == "file":
        target.write_text("x")
    elif make == "zero-count":
        target = tmp_path
        extra = ["--count", "0"]
    res = run_cli("etcd-bench", str(target), *extra)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert res.stdout == ""


def test_unwritable_directory_is_one_line_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "ro"
    target.mkdir()
    if os.geteuid() == 0:
        # root ignores permissions: a read-only tmpfs gives a real EROFS
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)], capture_output=True, text=True
        )
        if mounted.returncode != 0:
            pytest.skip(f"skipped: cannot mount a read-only tmpfs here: {mounted.stderr.strip()}")
    else:
        target.chmod(0o500)
    try:
        res = run_cli("etcd-bench", str(target), "--count", "5")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(target)], check=False)
    assert res.returncode == 2
    assert "cannot create a file there" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_percentile_and_verdict() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert bench.percentile(values, 50) == 50.0 and bench.percentile(values, 99) == 99.0
    assert bench.percentile([3.0], 99) == 3.0
    slow = bench.Result("/x", 100, 2300, 5.0, 12.0, 40.0, 6.0, 1.0, False)
    assert bench.verdict(slow).startswith("TOO SLOW")
