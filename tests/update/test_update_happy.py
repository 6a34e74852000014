"""`matrix update` against the fixture world: a new patch (1.36.5) and a new minor (1.38) appear."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from generator.matrix import rules, store
from tests.update.helpers import DL, snapshot

DATE = "2026-12-20"


def _rows(path: Path) -> dict[str, dict]:
    return {r["k8s"]: r for r in yaml.safe_load(path.read_text())["rows"]}


def test_new_patch_and_new_minor(upstream, matrix_file: Path, update) -> None:
    result = update("--matrix", str(matrix_file), "--date", DATE)
    assert result.code == 0, result
    rows = _rows(matrix_file)
    assert list(rows) == ["1.35", "1.36", "1.37", "1.38"]

    k136 = rows["1.36"]["components"]["kubernetes"]
    assert k136["version"] == "1.36.5"
    assert k136["go"] == "1.26.3"
    assert k136["go_source"].endswith("/kubernetes/kubernetes/v1.36.5/build/dependencies.yaml")
    kubeadm = k136["artifacts"]["kubeadm"]
    assert kubeadm["url"] == f"{DL}/v1.36.5/bin/linux/arm64/kubeadm"
    assert kubeadm["sha256_source"] == f"{DL}/v1.36.5/bin/linux/arm64/kubeadm.sha256"
    assert re.fullmatch(r"[0-9a-f]{64}", kubeadm["sha256"]) and "cross_check" not in kubeadm
    assert k136["images"]["kube-apiserver"]["image"].endswith(":v1.36.5")
    # an annotated tag, peeled through the git tag object to its commit
    assert re.fullmatch(r"[0-9a-f]{40}", k136["git"]["commit"])
    assert "unconfirmed" not in k136["git"] and "/git/ref/tags/v1.36.5" in k136["git"]["commit_source"]

    # the 1.35 row keeps its versions and cross-checked hashes; its commits get resolved
    k135 = rows["1.35"]["components"]["kubernetes"]
    assert k135["version"] == "1.35.8"
    assert (
        k135["artifacts"]["kubelet"]["sha256"]
        == "7744f84c49df6dff7d0a0471f9acef31568c02459659de83aa279cf3a04b1714"
    )
    assert "cross_check" in k135["artifacts"]["kubelet"]
    # 1.37's missing hashes are now filled from the published .sha256 files
    for art in rows["1.37"]["components"]["kubernetes"]["artifacts"].values():
        assert art["sha256"] and "unconfirmed" not in art

    new = rows["1.38"]
    assert (new["released"], new["maintenance"], new["eol"]) == ("2026-12-16", "2027-12-28", "2028-02-28")
    c = new["components"]
    assert c["kubernetes"]["version"] == "1.38.0"
    assert c["etcd"]["version"] == "3.7.1" and c["etcd"]["image"] == "registry.k8s.io/etcd:3.7.1-0"
    assert c["cri-tools"]["version"] == "1.36.0" and "no cri-tools v1.38.x" in c["cri-tools"]["why"]
    assert c["containerd"]["version"] == "2.3.4" and "provisional" in c["containerd"]["why"]
    assert c["runc"]["version"] == "1.4.3"
    for name, comp in c.items():
        if "git" in comp and name != "docker":  # docker's commit comes from meta-virtualization
            assert re.fullmatch(r"[0-9a-f]{40}", comp["git"]["commit"]), name
    assert yaml.safe_load(matrix_file.read_text())["checked"] == DATE

    assert "1.36  kubernetes   version: 1.36.4 -> 1.36.5" in result.out
    assert "+ 1.38: new row, end of life 2028-02-28" in result.out
    # what was written is the store's canonical form and passes the rules
    data = store.load(matrix_file)
    assert store.dump(data) == matrix_file.read_text()
    assert [f for f in rules.check_matrix(data, date=None) if f.severity == "error"] == []


def test_a_new_minor_without_facts_is_refused(
    upstream, matrix_file: Path, update, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1.38.0 is out and scheduled, but facts.py has no 1.38 pause/CoreDNS/etcd/containerd entry:
    no rule could check such a row, so the run is refused (issue 18): exit 1, one line naming the
    missing facts and what to do, nothing written, no row refreshed."""
    from generator.matrix import facts

    before = snapshot(matrix_file)
    for name in ("PAUSE", "COREDNS", "ETCD_LINE"):
        monkeypatch.delitem(getattr(facts, name).data, "1.38")
    result = update("--matrix", str(matrix_file), "--date", DATE)
    assert result.code == 1, result
    assert snapshot(matrix_file) == before
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rcar-k8s: error: matrix update refused"), result.err
    refused = lines[0]
    assert "1.38 (v1.38.0 is out) lacks" in refused and "generator/matrix/facts.py" in refused
    for name in ("PAUSE (kubeadm's pause image", "COREDNS (kubeadm's CoreDNSVersion)", "ETCD_LINE ("):
        assert name in refused, refused
    assert "CONTAINERD_K8S" not in refused  # that one is known: only the missing ones are named
    assert "--only k8s=1.N" in refused and "nothing written" in refused
    assert "Traceback" not in result.err and "1.36.5" not in result.out  # refused before any row refresh

    monkeypatch.delitem(facts.CONTAINERD_K8S.data, "1.38")
    result = update("--matrix", str(matrix_file), "--date", DATE, "--dry-run")
    assert result.code == 1 and "CONTAINERD_K8S (containerd's Kubernetes support table)" in result.err

    # the way out the message names: the existing rows still refresh one at a time
    result = update("--matrix", str(matrix_file), "--date", DATE, "--only", "k8s=1.36")
    assert result.code == 0, result
    assert list(_rows(matrix_file)) == ["1.35", "1.36", "1.37"]
    assert _rows(matrix_file)["1.36"]["components"]["kubernetes"]["version"] == "1.36.5"


def test_second_run_is_up_to_date_and_costs_only_304s(upstream, matrix_file: Path, update) -> None:
    assert update("--matrix", str(matrix_file), "--date", DATE).code == 0
    first = len(upstream.request_history)
    before = snapshot(matrix_file)
    again = update("--matrix", str(matrix_file), "--date", DATE)
    assert again.code == 0, again
    assert "is up to date" in again.out
    second = upstream.request_history[first:]
    # every request is conditional except the registry token requests (a token is a credential: never
    # cached); registry.k8s.io's manifest requests are answered by a 307 to its backend, which says 304
    tokens = [r for r in second if r.path == "/token"]
    assert tokens and all(r.hostname == "ghcr.io" for r in tokens)
    assert {r.headers.get("If-None-Match") is not None for r in second if r not in tokens} == {True}
    warm = upstream.statuses[first:]
    assert set(warm) == {200, 304, 307} and warm.count(200) == len(tokens)
    assert len(upstream.statuses) == len(upstream.request_history)
    assert snapshot(matrix_file) == before


def test_dry_run_writes_nothing(upstream, matrix_file: Path, update) -> None:
    before = snapshot(matrix_file)
    result = update("--matrix", str(matrix_file), "--date", DATE, "--dry-run")
    assert result.code == 0, result
    assert (
        "1.36  kubernetes   version: 1.36.4 -> 1.36.5" in result.out
        and "dry run: nothing written" in result.out
    )
    assert snapshot(matrix_file) == before


def test_only_one_row(upstream, matrix_file: Path, update) -> None:
    result = update("--matrix", str(matrix_file), "--date", DATE, "--only", "k8s=1.36")
    assert result.code == 0, result
    rows = _rows(matrix_file)
    assert list(rows) == ["1.35", "1.36", "1.37"]  # no new minor with --only
    assert rows["1.36"]["components"]["kubernetes"]["version"] == "1.36.5"
    assert rows["1.35"]["components"]["kubernetes"]["git"]["commit"] is None
    assert all(line.startswith("  1.36") for line in result.out.splitlines()[1:] if line.startswith("  1."))


def test_only_one_component(upstream, matrix_file: Path, update) -> None:
    result = update("--matrix", str(matrix_file), "--date", DATE, "--only", "runc")
    assert result.code == 0, result
    changed = {line.split()[1] for line in result.out.splitlines() if line.startswith("  1.")}
    assert changed == {"runc"}
    assert not any(u.url.startswith(DL) for u in upstream.request_history)


def test_rows_past_end_of_life_are_dropped_after_the_grace(upstream, matrix_file: Path, update) -> None:
    kept = update("--matrix", str(matrix_file), "--date", "2027-03-10", "--grace-days", "30", "--dry-run")
    assert kept.code == 0, kept
    assert "dropped" not in kept.out
    dropped = update("--matrix", str(matrix_file), "--date", "2027-03-10")
    assert dropped.code == 0, dropped
    assert "- 1.35: dropped, end of life 2027-02-28 + 0 days grace passed on 2027-03-10" in dropped.out
    assert list(_rows(matrix_file)) == ["1.36", "1.37", "1.38"]


def test_bad_arguments_are_one_line_errors(upstream, matrix_file: Path, update) -> None:
    for args, msg in (
        (["--only", "k8s=1.99"], "no such row"),
        (["--only", "docker"], "meta-virtualization"),
        (["--only", "kubelet"], "unknown component"),
        (["--date", "tomorrow"], "not a date"),
    ):
        result = update("--matrix", str(matrix_file), *args)
        assert result.code == 2, (args, result)
        assert msg in result.err and len(result.err.strip().splitlines()) == 1
    assert upstream.request_history == []


def test_a_row_that_breaks_a_rule_is_not_written(upstream, matrix_file: Path, update) -> None:
    """kubeadm 1.36.5 says pause 3.9: R17 (pause must be kubeadm's for the minor) fails the gate."""
    url = "https://raw.githubusercontent.com/kubernetes/kubernetes/v1.36.5/cmd/kubeadm/app/constants/constants.go"
    from tests.update.helpers import fixture_text

    upstream.get(url, text=fixture_text(url).replace('PauseVersion = "3.10.2"', 'PauseVersion = "3.9"'))
    before = snapshot(matrix_file)
    result = update("--matrix", str(matrix_file), "--date", DATE)
    assert result.code == 1, result
    assert "check: " in result.err and "1.36" in result.err
    assert "fails `matrix check`" in result.err and "left unchanged" in result.err
    assert snapshot(matrix_file) == before


def test_real_entry_point_rejects_a_bad_component_before_any_network(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    result = run_cli("matrix", "update", "--only", "kubelet", "--cache-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "rcar-k8s: error: --only kubelet: unknown component; pick one of kubernetes, etcd, pause, coredns, "
        "cri-tools, containerd, runc, cni-plugins, flannel, cri-dockerd, images or k8s=1.N"
    )
    assert list(tmp_path.iterdir()) == []


def test_containerd_gets_the_config_version_its_line_writes(upstream, matrix_file: Path, update) -> None:
    """A row left at config version 3 for containerd 2.3 (as the matrix was before issue 18's audit):
    update sets 4, the version containerd 2.3 writes itself, instead of a row R10 refuses."""
    text = matrix_file.read_text()
    assert text.count("config_version: 4") == 2
    matrix_file.write_text(text.replace("config_version: 4", "config_version: 3"))
    result = update("--matrix", str(matrix_file), "--date", DATE)
    assert result.code == 0, result
    for minor in ("1.36", "1.37", "1.38"):
        ctd = _rows(matrix_file)[minor]["components"]["containerd"]
        assert ctd["version"].startswith("2.3.") and ctd["config_version"] == 4, minor
        assert "version/version.go" in ctd["config_source"], minor
