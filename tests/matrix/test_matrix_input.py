"""Bad input: one line on stderr, exit 2, no traceback. Lock file round trip and the API others use."""

from __future__ import annotations

import re

import pytest

from generator.matrix import store
from generator.matrix.model import load_matrix
from generator.matrix.rules import RULES, check_matrix, containerd_config
from tests.conftest import MATRIX, run_cli
from tests.matrix.matrixlab import comps, mutate


def one_line_error(res, pattern: str) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "args,pattern",
    [
        (
            ["resolve", "--k8s", "1.30"],
            r"Kubernetes 1\.30 is not in the matrix \(supported: 1\.35, 1\.36, 1\.37\)",
        ),
        (["resolve", "--k8s", "banana"], r"--k8s 'banana' is not a Kubernetes minor"),
        (["resolve", "--k8s", "1.36.1"], r"pins Kubernetes 1\.36\.4"),
        (["resolve", "--runtime", "cri-o"], r"unknown runtime 'cri-o'"),
        (["resolve", "--build", "nix"], r"unknown build mode 'nix'"),
        (["resolve", "--date", "2026/11/25"], r"--date '2026/11/25' is not a date in YYYY-MM-DD form"),
        (["resolve", "--date", "2026-13-01"], r"not a date in YYYY-MM-DD form"),
        (["resolve", "--yocto", "dunfell"], r"unknown Yocto series 'dunfell'"),
        (["resolve", "--format", "xml"], r"unknown --format 'xml'"),
        (["check", "--date", "25.11.2026"], r"not a date in YYYY-MM-DD form"),
        (["check", "--yocto", "honister"], r"unknown Yocto series"),
    ],
)
def test_bad_arguments(args, pattern):
    one_line_error(run_cli("matrix", *args), pattern)


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "m.yml"
    text = MATRIX.read_text().splitlines()
    text[20] = text[20] + ": ["  # line 21 becomes invalid
    bad.write_text("\n".join(text) + "\n")
    for action in ("check", "show", "resolve"):
        msg = one_line_error(run_cli("matrix", action, "--matrix", str(bad)), r"malformed YAML")
        assert re.search(rf"{re.escape(str(bad))}:2[12]:\d+:", msg), msg


def test_missing_field_names_file_and_line(matrix_copy):
    mutate(matrix_copy, lambda d: comps(d, "1.36")["containerd"].pop("config_version"))
    msg = one_line_error(
        run_cli("matrix", "check", "--matrix", str(matrix_copy)),
        r"rows\[1\]\.components\.containerd\.config_version: missing field",
    )
    line = int(re.search(rf"{re.escape(str(matrix_copy))}:(\d+):", msg).group(1))
    # The line named is the containerd mapping of the 1.36 row.
    assert matrix_copy.read_text().splitlines()[line - 1].strip() == "containerd:"


def test_wrong_type_points_at_the_key(matrix_copy):
    text = matrix_copy.read_text()
    lines = text.splitlines()
    idx = next(i for i, ln in enumerate(lines) if ln.strip() == "go: '1.26'")
    lines[idx] = lines[idx].replace("'1.26'", "1.26")  # unquoted: a float in YAML
    matrix_copy.write_text("\n".join(lines) + "\n")
    msg = one_line_error(run_cli("matrix", "check", "--matrix", str(matrix_copy)), r"expected a version")
    assert f":{idx + 1}:" in msg and "quote it" in msg


def test_bad_date_and_hash_in_file(matrix_copy):
    mutate(matrix_copy, lambda d: d["rows"][0].update(eol="28/02/2027"))
    one_line_error(
        run_cli("matrix", "check", "--matrix", str(matrix_copy)), r"rows\[0\]\.eol: expected a date"
    )


def test_null_hash_without_reason_is_a_schema_error(matrix_copy):
    def f(d):
        art = comps(d, "1.36")["runc"]["artifacts"]["runc"]
        art["sha256"] = None

    mutate(matrix_copy, f)
    one_line_error(
        run_cli("matrix", "check", "--matrix", str(matrix_copy)),
        r"artifacts\.runc\.unconfirmed: missing field",
    )


def test_unknown_minor_default(matrix_copy):
    mutate(matrix_copy, lambda d: d.update(default="1.99"))
    one_line_error(run_cli("matrix", "check", "--matrix", str(matrix_copy)), r"`default` must be one of")


def test_missing_file():
    one_line_error(run_cli("matrix", "check", "--matrix", "/nonexistent/m.yml"), r"matrix file not found")


def test_dump_load_roundtrip_is_byte_identical():
    text = MATRIX.read_text(encoding="utf-8")
    assert store.dump(store.loads(text)) == text


def test_show_and_rules():
    res = run_cli("matrix", "show", "--date", "2026-11-25")
    assert res.returncode == 0, res.stderr
    for minor in ("1.35", "1.36 (default)", "1.37"):
        assert minor in res.stdout
    assert "containerd" in res.stdout and "2.3.4" in res.stdout
    res = run_cli("matrix", "rules", "--format", "markdown")
    assert res.returncode == 0
    for r in RULES:
        assert f"| {r.id} |" in res.stdout
    assert [r.id for r in RULES] == [f"R{i}" for i in range(1, 22)]
    assert all(r.source and r.text and r.severity in ("error", "warning") for r in RULES)


def test_containerd_config_api():
    m = load_matrix()
    for row in m.rows:
        cfg = containerd_config(row)
        # the version the row's containerd writes itself (v2.2.7: 3, v2.3.4: 4; version/version.go)
        assert cfg["config_version"] == (4 if row.version("containerd").startswith("2.3") else 3)
        assert (
            cfg["systemd_cgroup_table"]
            == "plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options"
        )
        assert cfg["systemd_cgroup"] is True
        assert cfg["sandbox_image_table"] == "plugins.'io.containerd.cri.v1.images'.pinned_images"
        assert cfg["sandbox_image_key"] == "sandbox"
        assert cfg["sandbox_image"] == row.comp("pause")["image"]


def test_check_matrix_api_accepts_data_and_paths():
    import datetime as dt

    data = store.load(MATRIX)
    a = check_matrix(data, date=dt.date(2026, 11, 25))
    b = check_matrix(MATRIX, date=dt.date(2026, 11, 25))
    assert [(f.rule, f.minor, f.message) for f in a] == [(f.rule, f.minor, f.message) for f in b]
    assert all(f.line for f in b if f.rule != "UNCONFIRMED" or f.minor)


def test_update_subcommand_registered_when_present():
    import importlib.util

    res = run_cli("matrix", "update", "--help")
    present = importlib.util.find_spec("generator.matrix.update") is not None
    assert (res.returncode == 0) == present
