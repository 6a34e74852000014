"""`rcar-k8s matrix resolve` through the real entry point: every minor, both runtimes, both builds, EOL."""

from __future__ import annotations

import json

import pytest

from generator.matrix.model import load_matrix
from tests.conftest import run_cli

MINORS = [r.minor for r in load_matrix().rows]


def resolve(*args: str):
    return run_cli("matrix", "resolve", "--date", "2026-11-25", *args)


@pytest.mark.parametrize("runtime", ["containerd", "docker"])
@pytest.mark.parametrize("minor", MINORS)
def test_binary_build_resolves_every_row(minor, runtime):
    res = resolve("--k8s", minor, "--runtime", runtime, "--format", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    row = load_matrix().row(minor)
    stack = {c["component"]: c for c in out["stack"]}
    assert out["k8s"] == minor and out["build"] == "binary" and out["runtime"] == runtime
    assert stack["kubernetes"]["version"] == row.kubernetes and "R5" in stack["kubernetes"]["rules"]
    assert stack["pause"]["version"] == row.version("pause") and stack["pause"]["rules"] == ["R17"]
    assert stack["runc"]["rules"] == ["R13"]
    kube = [f for f in stack["kubernetes"]["fetch"] if f["kind"] == "binary"]
    assert {f["name"] for f in kube} == {"kubeadm", "kubelet", "kubectl"}
    if runtime == "containerd":
        assert stack["containerd"]["rules"] == ["R7", "R8", "R9"]
        assert out["containerd_config"]["sandbox_image"] == row.comp("pause")["image"]
        assert "docker" not in stack
    else:
        assert stack["cri-dockerd"]["rules"] == ["R19"] and "R19" in stack["docker"]["rules"]
        assert out["containerd_config"] is None
        assert "docker" in stack["go"]["reason"]  # Docker Engine is still compiled by BitBake


@pytest.mark.parametrize("minor", MINORS)
def test_source_build_on_scarthgap_is_impossible(minor):
    res = resolve("--k8s", minor, "--build", "source", "--yocto", "scarthgap")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    msg = lines[0]
    assert "R14" in msg and "Go 1.22.12" in msg and "--build binary" in msg and "go 1.26.5" in msg
    row = load_matrix().row(minor)
    assert f"kubernetes {row.kubernetes} needs {row.comp('kubernetes')['go']}" in msg
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("minor", MINORS)
def test_source_build_on_wrynose_or_with_backported_go(minor):
    res = resolve("--k8s", minor, "--build", "source", "--yocto", "wrynose", "--format", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["yocto"]["go"] == "1.26.5"
    assert any(w["rule"] == "R16" and w["component"] == "meta-renesas" for w in out["warnings"])
    kube = next(c for c in out["stack"] if c["component"] == "kubernetes")
    assert (
        kube["fetch"][0]["kind"] == "source"
        and kube["fetch"][0]["tag"] == f"v{load_matrix().row(minor).kubernetes}"
    )
    res = resolve("--k8s", minor, "--build", "source", "--go", "1.26.5")
    assert res.returncode == 0, res.stderr


def test_docker_on_kirkstone_go_is_too_old():
    res = resolve("--k8s", "1.36", "--runtime", "docker", "--yocto", "kirkstone")
    assert res.returncode == 1
    assert "R14" in res.stderr and "docker 25.0.9 needs 1.22" in res.stderr and "1.17.13" in res.stderr


def test_past_eol_warns():
    res = run_cli("matrix", "resolve", "--k8s", "1.35", "--date", "2027-03-01")
    assert res.returncode == 0, res.stderr
    assert (
        "PAST END OF LIFE" in res.stdout
        and "R20 kubernetes: Kubernetes 1.35 reached end of life" in res.stdout
    )
    res = run_cli("matrix", "resolve", "--k8s", "1.35", "--date", "2027-03-01", "--format", "json")
    assert json.loads(res.stdout)["past_eol"] is True
    res = run_cli("matrix", "resolve", "--k8s", "1.36", "--date", "2026-11-25", "--format", "json")
    assert json.loads(res.stdout)["past_eol"] is False


def test_default_minor_and_text_output():
    res = run_cli("matrix", "resolve", "--date", "2026-11-25")
    assert res.returncode == 0
    default = load_matrix().default_row
    assert res.stdout.startswith(f"Kubernetes {default.kubernetes} ({default.minor})")
    for rule in ("[R5,R1,R4]", "[R6]", "[R7,R8,R9]", "[R10,R11,R17]", "[R13]", "[R18]", "[R14,R15]"):
        assert rule in res.stdout


def test_1_37_warns_provisional_and_unconfirmed_hashes():
    res = resolve("--k8s", "1.37", "--format", "json")
    out = json.loads(res.stdout)
    rules = {w["rule"] for w in out["warnings"]}
    assert {"R6", "R7", "UNCONFIRMED"} <= rules


def test_1_35_containerd_eol_warning():
    res = resolve("--k8s", "1.35", "--format", "json")
    out = json.loads(res.stdout)
    assert any(w["rule"] == "R20" and w["component"] == "containerd" for w in out["warnings"])
