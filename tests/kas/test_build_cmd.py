"""`rcar-k8s build` and `rcar-k8s check --bitbake` with a stand-in kas that prints real BitBake lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from generator import kasrun
from tests.conftest import REPO, run_cli
from tests.doctor.fakehost import FakeHost

STUB = Path(__file__).with_name("stub_kas.py")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A checkout with the generated tree (what `rcar-k8s build` runs kas in)."""
    root = tmp_path_factory.mktemp("project")
    res = run_cli("generate", "--root", str(root))
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture
def host(tmp_path: Path, project: Path):
    h = FakeHost(tmp_path / "host")
    kas = h.bin / "kas"
    kas.write_text(f"#!{sys.executable}\n" + STUB.read_text())
    kas.chmod(0o755)
    h.record = tmp_path / "kas-calls.jsonl"
    h.project = project
    return h


def build(host: FakeHost, *args: str, scenario: str = "success", extra_env: dict | None = None):
    env = dict(host.env(), RCAR_K8S_ROOT=str(host.project), STUB_KAS_RECORD=str(host.record),
               STUB_KAS_SCENARIO=scenario, **(extra_env or {}))
    return run_cli("build", "--min-disk-gb", "0", *args, env=env)


def calls(host: FakeHost) -> list[dict]:
    if not host.record.exists():
        return []
    return [json.loads(line) for line in host.record.read_text().splitlines()]


def test_dry_run_prints_the_kas_command():
    res = run_cli("build", "--dry-run", "--board", "qemuarm64", "--role", "control-plane", "--k8s", "1.35")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == \
        f"cd {REPO} && kas build kas/qemuarm64-k8s-control-plane.yml:kas/include/k8s-1.35.yml"
    res = run_cli("build", "--dry-run")
    assert res.stdout.strip().endswith("kas build kas/rcar-h3-k8s.yml")


def test_unknown_minor_is_a_user_error():
    res = run_cli("build", "--dry-run", "--k8s", "1.20")
    assert res.returncode == 2
    assert "Kubernetes 1.20 is not in the matrix (supported:" in res.stderr


def test_success_runs_kas_in_the_project_with_progress(host):
    res = build(host, "--k8s", "1.35")
    assert res.returncode == 0, res.stdout + res.stderr
    [call] = calls(host)
    assert call["argv"] == ["build", "kas/rcar-h3-k8s.yml:kas/include/k8s-1.35.yml"]
    assert Path(call["cwd"]) == host.project
    assert "tasks" in res.stderr and "3/3" in res.stderr  # rich progress from "Running task N of M"
    assert "rcar-k8s-node-image for h3ulcb done" in res.stderr
    log = host.build / "rcar-k8s-build.log"
    assert "NOTE: Tasks Summary: Attempted 3 tasks" in log.read_text()


def test_failure_names_the_task_and_its_log(host):
    res = build(host, "--board", "qemuarm64", scenario="fail")
    assert res.returncode == 1
    assert calls(host)[0]["argv"] == ["build", "kas/qemuarm64-k8s.yml"]
    assert "build failed: 1 task(s) failed" in res.stderr
    assert "task kubernetes_git.bb:do_compile failed (exit code 1)" in res.stderr
    assert ("log:  /home/user/work/build/tmp/work/cortexa57-poky-linux/kubernetes/v1.36.4+git/temp/"
            "log.do_compile.4242") in res.stderr
    # the ERROR lines are shown live too
    assert "ERROR: Task (/home/user/work/meta-virtualization/recipes-containers/kubernetes/" \
        "kubernetes_git.bb:do_compile) failed with exit code '1'" in res.stderr


def test_failure_without_a_task_shows_the_last_error(host):
    res = build(host, scenario="crash")
    assert res.returncode == 1
    assert "build failed: kas exited with 1; last error: ERROR: Unable to connect to bitbake server" \
        in res.stderr
    assert "rcar-k8s-build.log" in res.stderr


def test_refuses_when_generated_files_drifted(host, tmp_path):
    drifted = tmp_path / "drifted"
    res = run_cli("generate", "--root", str(drifted))
    assert res.returncode == 0
    (drifted / "kas" / "include" / "k8s-1.36.yml").write_text("header:\n  version: 14\n")
    host.project = drifted
    res = build(host)
    assert res.returncode == 2
    assert "1 generated file(s) drifted from the matrix (first: kas/include/k8s-1.36.yml)" in res.stderr
    assert "run `rcar-k8s generate`" in res.stderr
    assert calls(host) == []


def test_refuses_when_doctor_fails(host):
    host.uid = 0
    res = build(host)
    assert res.returncode == 1
    assert "[FAIL] user" in res.stdout and "BitBake refuses to build as root" in res.stdout
    assert "build: not started" in res.stderr
    assert calls(host) == []


def test_check_bitbake_ok_and_premirrors(host):
    env = dict(host.env(), RCAR_K8S_ROOT=str(host.project), STUB_KAS_RECORD=str(host.record),
               KAS_PREMIRRORS="^https://git.yoctoproject.org/poky$ file:///srv/mirrors/poky")
    res = run_cli("check", "--bitbake", "--board", "qemuarm64", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    got = calls(host)
    assert [c["argv"][0] for c in got] == ["checkout", "shell", "shell"]
    assert got[1]["argv"] == ["shell", "kas/qemuarm64-k8s.yml", "-c", "BB_NO_NETWORK=1 bitbake -p"]
    assert got[2]["argv"][3].startswith("BB_NO_NETWORK=1 bitbake -g rcar-k8s-node-image && python3 ")
    assert all(c["premirrors"] == env["KAS_PREMIRRORS"] for c in got)
    assert "check: parse OK (2954 recipes)" in res.stdout
    assert "check --bitbake: OK: rcar-k8s-node-image (qemuarm64) graph has 6020 tasks and includes " \
        "kubeadm(kubernetes) kubelet(kubernetes) containerd(containerd-opencontainers)" in res.stdout


def test_check_bitbake_reports_missing_node_stack(host):
    env = dict(host.env(), RCAR_K8S_ROOT=str(host.project), STUB_KAS_RECORD=str(host.record),
               STUB_KAS_SCENARIO="fail")
    res = run_cli("check", "--bitbake", env=env)
    assert res.returncode == 1
    assert "check --bitbake: FAIL: rcar-k8s-node-image lacks the node stack: cni: not installed" in res.stdout


def test_check_bitbake_reports_parse_errors(host):
    env = dict(host.env(), RCAR_K8S_ROOT=str(host.project), STUB_KAS_RECORD=str(host.record),
               STUB_KAS_SCENARIO="parse-error")
    res = run_cli("check", "--bitbake", env=env)
    assert res.returncode == 1
    assert "check --bitbake: FAIL: bitbake -p: ERROR: ParseError at /home/user/work/meta-rcar-k8s/" \
        "recipes-core/images/rcar-k8s-node-image.bb:3: Could not inherit file classes/nosuch.bbclass" \
        in res.stdout


def test_check_bitbake_refuses_root(host):
    host.uid = 0
    res = run_cli("check", "--bitbake", env=dict(host.env(), RCAR_K8S_ROOT=str(host.project)))
    assert res.returncode == 2
    assert "BitBake refuses to run as root" in res.stderr


def test_parser_on_recorded_knotty_lines():
    state = kasrun.BuildState()
    for line in [
        "Loaded 4852 entries from dependency cache.",
        "Parsing of 2910 .bb files complete (0 cached, 2910 parsed). 4852 targets, 402 skipped, 0 masked, "
        "0 errors.",
        "NOTE: Running setscene task 5 of 9 (/l/poky/meta/recipes-core/zlib/zlib_1.3.1.bb:"
        "do_package_setscene)",
        "NOTE: Running task 41 of 5678 (virtual:native:/l/poky/meta/recipes-devtools/go/"
        "go-native_1.22.12.bb:do_fetch)",
        "ERROR: Logfile of failure stored in: /b/tmp/work/x86_64-linux/go-native/1.22.12/temp/log.do_fetch.1",
        "ERROR: Task (virtual:native:/l/poky/meta/recipes-devtools/go/go-native_1.22.12.bb:do_fetch) "
        "failed with exit code '1'",
        "Summary: 1 task failed:",
        "  virtual:native:/l/poky/meta/recipes-devtools/go/go-native_1.22.12.bb:do_fetch",
        "    log: /b/tmp/work/x86_64-linux/go-native/1.22.12/temp/log.do_fetch.1",
        "Summary: There was 1 ERROR message, returning a non-zero exit code.",
    ]:
        state.feed(line)
    assert state.setscene == (5, 9) and state.tasks == (41, 5678)
    assert state.cached_entries == 4852 and state.parsed_recipes == 2910
    [f] = state.failures
    assert f.recipe_task == "virtual:native:go-native_1.22.12.bb:do_fetch"
    assert f.log == "/b/tmp/work/x86_64-linux/go-native/1.22.12/temp/log.do_fetch.1"
    assert f.exit_code == "1"
