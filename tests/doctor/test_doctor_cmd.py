"""`rcar-k8s doctor` on a fake host: one failure at a time, with the message and fix a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.doctor.fakehost import FakeHost, write_stub


@pytest.fixture
def host(tmp_path: Path) -> FakeHost:
    return FakeHost(tmp_path / "host")


def doctor(host: FakeHost, *args: str):
    return run_cli("doctor", "--min-disk-gb", "0", *args, env=host.env())


def line(out: str, name: str) -> str:
    return next(ln for ln in out.splitlines() if ln[7:].startswith(name + " "))


def test_healthy_host_passes(host: FakeHost):
    res = doctor(host)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().endswith("doctor: host is ready to build")
    for name in ("disk", "memory", "cores", "user", "host tools", "tool versions", "locale", "kas"):
        assert line(res.stdout, name).startswith("[ok  ]"), res.stdout
    assert "kas 5.5 (format 23; need >= 3.3)" in res.stdout


def test_too_little_disk(host: FakeHost):
    res = run_cli("doctor", "--min-disk-gb", "1000000000", env=host.env())
    assert res.returncode == 1
    assert line(res.stdout, "disk").startswith("[FAIL] disk")
    assert "need 1000000000 GB" in res.stdout
    assert "fix: free space on" in res.stdout and "KAS_WORK_DIR/KAS_BUILD_DIR" in res.stdout
    assert "doctor: 1 required check(s) failed: disk" in res.stdout


def test_default_disk_figure_is_100_gb(host: FakeHost):
    res = run_cli("doctor", env=host.env())
    assert "need 100 GB for build, downloads and sstate" in line(res.stdout, "disk")


def test_disk_is_measured_where_the_build_goes(host: FakeHost):
    # KAS_BUILD_DIR does not exist yet: the nearest existing parent is measured
    res = doctor(host)
    assert f"free at {host.root}" in line(res.stdout, "disk")


def test_too_little_memory(host: FakeHost):
    host.memory_gb(4)
    res = doctor(host)
    assert res.returncode == 1
    assert line(res.stdout, "memory").startswith("[FAIL] memory")
    assert "3.7 GiB RAM (need 8 GB)" in res.stdout
    assert "BB_NUMBER_THREADS" in res.stdout


def test_few_cores_only_warn(host: FakeHost):
    host.cores(2)
    res = doctor(host)
    assert res.returncode == 0, res.stdout
    assert line(res.stdout, "cores").startswith("[warn] cores          2 CPU cores")


def test_root_fails_unless_kas_container(host: FakeHost):
    host.uid = 0
    res = doctor(host)
    assert res.returncode == 1
    assert "[FAIL] user" in res.stdout and "BitBake refuses to build as root" in res.stdout
    assert "--kas-container" in res.stdout

    write_stub(host.bin, "podman", "exit 0")
    host.kas("kas-container 5.5", name="kas-container")
    res = doctor(host, "--kas-container")
    assert res.returncode == 0, res.stdout
    assert "kas-container runs BitBake as an unprivileged user" in res.stdout
    assert "podman found" in res.stdout


def test_kas_container_needs_an_engine(host: FakeHost):
    host.kas("kas-container 5.5", name="kas-container")
    res = doctor(host, "--kas-container")
    assert res.returncode == 1
    assert "[FAIL] container engine" in res.stdout and "apt-get install podman" in res.stdout


def test_missing_host_tools_name_the_packages(host: FakeHost):
    host.remove("chrpath", "makeinfo", "rsync", "lz4c")
    res = doctor(host)
    assert res.returncode == 1
    assert "[FAIL] host tools" in res.stdout
    assert "missing: chrpath lz4c makeinfo rsync" in res.stdout
    assert "fix: sudo apt-get install chrpath lz4 rsync texinfo" in res.stdout


def test_too_old_tools(host: FakeHost):
    write_stub(host.bin, "gcc", "echo 7.5.0")
    write_stub(host.bin, "tar", "echo 'tar (GNU tar) 1.27.1'")
    res = doctor(host)
    assert res.returncode == 1
    assert "too old: tar 1.27.1 < 1.28, gcc 7.5.0 < 8.0" in res.stdout


def test_missing_utf8_locale(host: FakeHost):
    host.locales(["C", "C.utf8", "POSIX"])
    res = doctor(host)
    assert res.returncode == 1
    assert "[FAIL] locale" in res.stdout and "locale-gen" in res.stdout


@pytest.mark.parametrize("version,expect", [
    (None, "`kas` not found on PATH"),
    ("kas 3.2 (configuration format version 13, earliest compatible version 1)", "kas 3.2 is too old"),
    ("kas: command broken", "`kas --version` gave no version"),
])
def test_kas_missing_or_too_old(host: FakeHost, version, expect):
    host.kas(version)
    res = doctor(host)
    assert res.returncode == 1
    assert "[FAIL] kas" in res.stdout and expect in res.stdout
    assert "pip install --upgrade 'kas>=3.3'" in res.stdout


def test_real_host_runs(tmp_path: Path):
    """On the real host every probe runs (result depends on the machine; it must not crash)."""
    res = run_cli("doctor", "--build-dir", str(tmp_path))
    assert res.returncode in (0, 1), res.stderr
    assert res.stdout.splitlines()[-1].startswith("doctor: ")
