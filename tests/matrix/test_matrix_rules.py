"""Every rule R1-R21: break exactly that rule in a copy of the committed matrix; `matrix check` names it.

Some rules imply others (kubeadm deploys the control plane at its own version, containerd's support
table only lists CRI v1 runtimes), so each case states the exact set of error rules it must produce.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.matrix.matrixlab import check_json, comps, errors, mutate

K8S = "https://dl.k8s.io/release"


def _set_kubelet(v: str):
    def f(d: dict[str, Any]) -> None:
        comps(d, "1.36")["kubernetes"]["artifacts"]["kubelet"]["url"] = f"{K8S}/v{v}/bin/linux/arm64/kubelet"

    return f


def _image(name: str, v: str):
    def f(d: dict[str, Any]) -> None:
        comps(d, "1.36")["kubernetes"]["images"][name]["image"] = f"registry.k8s.io/{name}:v{v}"

    return f


def _kubectl(d: dict[str, Any]) -> None:
    comps(d, "1.36")["kubernetes"]["artifacts"]["kubectl"]["url"] = f"{K8S}/v1.38.0/bin/linux/arm64/kubectl"


def _kubeadm(d: dict[str, Any]) -> None:
    comps(d, "1.36")["kubernetes"]["artifacts"]["kubeadm"]["url"] = f"{K8S}/v1.36.3/bin/linux/arm64/kubeadm"


def _cri_tools(d: dict[str, Any]) -> None:
    comps(d, "1.36")["cri-tools"]["version"] = "1.35.0"


def _containerd(minor: str, version: str, **extra: Any):
    def f(d: dict[str, Any]) -> None:
        comps(d, minor)["containerd"]["version"] = version
        comps(d, minor)["containerd"].update(extra)

    return f


def _docker_driver(d: dict[str, Any]) -> None:
    comps(d, "1.36")["docker"]["cgroup_driver"] = "cgroupfs"


def _kernel(d: dict[str, Any]) -> None:
    d["yocto"]["kernel"]["version"] = "5.4.0"


def _runc(d: dict[str, Any]) -> None:
    comps(d, "1.36")["runc"].update(version="1.3.6", go="1.23.0")


def _k8s_go(d: dict[str, Any]) -> None:
    comps(d, "1.36")["kubernetes"]["go"] = "1.22"


def _yocto_go(d: dict[str, Any]) -> None:
    d["yocto"]["go"] = "1.24.6"


def _layer_branch(d: dict[str, Any]) -> None:
    d["yocto"]["layers"]["meta-virtualization"]["branch"] = "master"


def _pause(d: dict[str, Any]) -> None:
    comps(d, "1.36")["pause"].update(version="3.10.1", image="registry.k8s.io/pause:3.10.1")


def _etcd(d: dict[str, Any]) -> None:
    comps(d, "1.36")["etcd"].update(version="3.5.26", image="registry.k8s.io/etcd:3.5.26-0")


def _no_cri_dockerd(d: dict[str, Any]) -> None:
    del comps(d, "1.36")["cri-dockerd"]


def _flannel_manifest_pulls(extra: str):
    def f(d: dict[str, Any]) -> None:
        comps(d, "1.36")["flannel"]["manifest"]["images"].append(extra)

    return f


def _flannel_bumped_without_its_manifest(d: dict[str, Any]) -> None:
    comps(d, "1.36")["flannel"].update(version="0.29.0", image="ghcr.io/flannel-io/flannel:v0.29.0")


def _no_flannel_manifest(d: dict[str, Any]) -> None:
    del comps(d, "1.36")["flannel"]["manifest"]


CASES = [
    # rule, mutation, exact set of error rules expected
    ("R1", _set_kubelet("1.32.0"), {"R1", "R2", "R5"}),  # 4 minors older: kube-proxy and kubeadm skew too
    ("R2", _image("kube-proxy", "1.37.0"), {"R2"}),
    ("R3", _image("kube-scheduler", "1.34.0"), {"R3"}),
    ("R4", _kubectl, {"R4"}),
    ("R5", _kubeadm, {"R5"}),
    ("R6", _cri_tools, {"R6"}),
    ("R7", _containerd("1.35", "2.1.4"), {"R7"}),  # 2.1 listed for 1.35 from 2.1.5
    ("R8", _containerd("1.35", "1.6.10", config_version=2), {"R7", "R8"}),  # table lists only CRI v1 runtimes
    (
        "R9",
        lambda d: (_containerd("1.36", "2.1.5", runc_pinned="1.3", config_version=3)(d), _runc(d)),
        {"R7", "R9"},
    ),  # not listed
    ("R10", _containerd("1.35", "2.2.7", config_version=4), {"R10"}),
    # containerd 2.3 writes version 4 (v2.3.4 version/version.go): a v3 file is migrated at every start
    ("R10", _containerd("1.36", "2.3.4", config_version=3), {"R10"}),
    ("R11", _docker_driver, {"R11"}),
    ("R12", _kernel, {"R12"}),
    ("R13", _runc, {"R13"}),
    ("R14", _k8s_go, {"R14"}),
    ("R15", _yocto_go, {"R15"}),
    ("R16", _layer_branch, {"R16"}),
    ("R17", _pause, {"R17"}),
    ("R18", _etcd, {"R18"}),
    ("R19", _no_cri_dockerd, {"R19"}),
    ("R21", _flannel_manifest_pulls("docker.io/library/busybox:1.36"), {"R21"}),
    ("R21", _flannel_bumped_without_its_manifest, {"R21"}),
    ("R21", _no_flannel_manifest, {"R21"}),
]


def test_committed_matrix_passes(matrix_copy):
    rc, report = check_json(matrix_copy)
    assert rc == 0 and errors(report) == set()
    warn = {
        (f["rule"], f["minor"], f["component"])
        for f in report["findings"]
        if f["severity"] == "warning" and f["rule"] != "UNCONFIRMED"
    }
    # The known, deliberate warnings: containerd 2.2 EOL (1.35 row), no cri-tools 1.37, containerd not
    # listing 1.37 yet, and the default row (1.36) not being the newest supported minor (1.37).
    assert warn == {
        ("R20", "1.35", "containerd"),
        ("R6", "1.37", "cri-tools"),
        ("R7", "1.37", "containerd"),
        ("STALE", None, "default"),
    }


@pytest.mark.parametrize("rule,change,expected", CASES, ids=[c[0] for c in CASES])
def test_breaking_a_rule_is_named(matrix_copy, rule, change, expected):
    mutate(matrix_copy, change)
    rc, report = check_json(matrix_copy)
    assert rc == 1
    assert rule in errors(report)
    assert errors(report) == expected


def test_r11_mismatch_with_driver_from_cri_is_a_warning(matrix_copy):
    mutate(matrix_copy, lambda d: comps(d, "1.36")["containerd"].update(cgroup_driver="cgroupfs"))
    rc, report = check_json(matrix_copy)
    assert rc == 0
    assert any(
        f["rule"] == "R11" and f["minor"] == "1.36" and f["severity"] == "warning" for f in report["findings"]
    )


def test_r20_row_past_eol_warns_and_stays_green(matrix_copy):
    rc, report = check_json(matrix_copy, "--date", "2027-03-01")
    assert rc == 0
    msgs = [f["message"] for f in report["findings"] if f["rule"] == "R20" and f["minor"] == "1.35"]
    assert any("Kubernetes 1.35 reached end of life on 2027-02-28" in m for m in msgs)


def test_r20_eol_edited_in_the_row(matrix_copy):
    mutate(matrix_copy, lambda d: next(r for r in d["rows"] if r["k8s"] == "1.36").update(eol="2026-10-01"))
    rc, report = check_json(matrix_copy)
    assert rc == 0
    r20 = [f["message"] for f in report["findings"] if f["rule"] == "R20" and f["minor"] == "1.36"]
    assert any("reached end of life" in m for m in r20) and any("disagrees with upstream" in m for m in r20)


def test_unconfirmed_values_are_reported(matrix_copy):
    rc, report = check_json(matrix_copy)
    unconf = [f for f in report["findings"] if f["rule"] == "UNCONFIRMED"]
    assert rc == 0 and unconf and all(f["severity"] == "warning" for f in unconf)
    text = " ".join(f["message"] for f in unconf)
    assert "kubeadm sha256 unconfirmed" in text  # 1.37.1 hashes are not in any stored source
    assert "flannel: git commit unconfirmed" in text  # flannel v0.28.9
    assert "containerd: git commit unconfirmed" not in text  # v2.2.7 confirmed in containerd/containerd


def test_source_build_check_reports_go(matrix_copy):
    rc, report = check_json(matrix_copy, "--build", "source")
    assert rc == 1 and errors(report) == {"R14"}
    rc, report = check_json(matrix_copy, "--build", "source", "--yocto", "wrynose")
    assert rc == 0
