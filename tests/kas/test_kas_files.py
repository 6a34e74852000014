"""The committed kas files, checked with kas itself: its JSON schema, its include handler, its lock dumper."""

from __future__ import annotations

import importlib.resources
import io
import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from generator import kasfiles, paths
from generator.matrix.model import load_matrix
from generator.render.engine import render_tree
from tests.conftest import REPO

KAS_DIR = REPO / "kas"
ALL_FILES = sorted(KAS_DIR.rglob("*.yml"))
TOP_FILES = sorted(p for p in KAS_DIR.glob("*.yml") if not p.name.endswith(".lock.yml"))
SHA = re.compile(r"^[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads((importlib.resources.files("kas") / "schema-kas.json").read_text())


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _kas_merge(files: list[Path]) -> tuple[dict, list[str]]:
    """Merge a kas file chain with kas's own IncludeHandler (lock files included), offline."""
    from kas.context import create_global_context
    from kas.includehandler import IncludeHandler
    from kas.kas import kas_get_argparser

    create_global_context(kas_get_argparser().parse_args(["dump", str(files[0])]))
    handler = IncludeHandler([str(f) for f in files])
    config, missing = handler.get_config()
    return config, [str(Path(c.filename).relative_to(REPO)) for c in handler.config_files]


def test_expected_files_exist():
    for t in kasfiles.targets():
        assert (REPO / t.kas_file).is_file(), t.kas_file
    assert {p.relative_to(REPO).as_posix() for p in TOP_FILES} == {t.kas_file for t in kasfiles.targets()}


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.relative_to(KAS_DIR).as_posix())
def test_valid_against_kas_schema(path: Path, schema: dict):
    jsonschema.Draft7Validator(schema).validate(_load(path))


def test_schema_rejects_a_broken_file(schema: dict):
    """The validation can fail: an unknown top-level key and a missing header are rejected."""
    good = _load(KAS_DIR / "rcar-h3-k8s.yml")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dict(good, machines="h3ulcb"), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in good.items() if k != "header"}, schema)


def test_header_version_is_the_lowest_needed_and_accepted(schema: dict):
    versions = {_load(p)["header"]["version"] for p in ALL_FILES}
    assert versions == {kasfiles.KAS_HEADER_VERSION}
    int_range = schema["properties"]["header"]["properties"]["version"]["anyOf"][1]
    assert int_range["minimum"] <= kasfiles.KAS_HEADER_VERSION <= int_range["maximum"]
    # format 14 is what `commit`/`branch`/`overrides` need, and what `kas lock` writes
    from kas.plugins.dump import LOCKFILE_VERSION_MIN

    assert kasfiles.KAS_HEADER_VERSION == LOCKFILE_VERSION_MIN


@pytest.mark.parametrize("top", TOP_FILES, ids=lambda p: p.name)
def test_includes_resolve_and_merge(top: Path):
    for inc in _load(top)["header"]["includes"]:
        assert (REPO / inc).is_file(), f"{top.name} includes missing {inc}"
    config, loaded = _kas_merge([top])
    target = next(t for t in kasfiles.targets() if t.kas_file == top.relative_to(REPO).as_posix())
    assert config["machine"] == target.board
    assert config["distro"] == "rcar-k8s"
    assert config["target"] == target.image
    assert f"kas/{top.stem}.lock.yml" in loaded  # kas found and applied the lock file
    repos = config["repos"]
    assert repos["meta-rcar-k8s"] == {"layers": {"meta-rcar-k8s": None}}  # this repo, no url/path
    assert set(repos) - {"meta-rcar-k8s"} == set(kasfiles.repos_for(load_matrix(), target.board))
    assert ("meta-renesas" in repos) == (target.board == "h3ulcb")
    header = "".join(config["local_conf_header"].values())
    assert f'RCAR_K8S_VERSION = "{load_matrix().default}"' in header
    if target.board == "h3ulcb":
        assert 'BBMASK += "meta-rcar-gen3/recipes-graphics/cogl/"' in header
        assert "gles-user-module|kernel-module-gles|wayland-kms|libgbm" in header


def test_per_minor_includes_match_the_matrix():
    matrix = load_matrix()
    found = {p.name for p in (KAS_DIR / "include").glob("k8s-*.yml")}
    assert found == {Path(kasfiles.minor_include(m)).name for m in matrix.minors}
    for minor in matrix.minors:
        config, _ = _kas_merge([KAS_DIR / "rcar-h3-k8s.yml", REPO / kasfiles.minor_include(minor)])
        assert config["local_conf_header"]["rcar-k8s-version"] == f'RCAR_K8S_VERSION = "{minor}"\n'


@pytest.mark.parametrize("top", TOP_FILES, ids=lambda p: p.name)
def test_lock_files_pin_every_repo_to_the_matrix(top: Path):
    layers = load_matrix().yocto["layers"]
    lock = top.with_name(f"{top.stem}.lock.yml")
    pins = _load(lock)["overrides"]["repos"]
    config, _ = _kas_merge([top])
    url_repos = {name for name, spec in config["repos"].items() if spec.get("url")}
    assert set(pins) == url_repos
    for name, pin in pins.items():
        assert SHA.match(pin["commit"]), f"{lock.name}: {name} not pinned by a full SHA"
        assert pin["commit"] == layers[name]["commit"]
        assert config["repos"][name]["branch"] == layers[name]["branch"]
        assert config["repos"][name]["url"] == layers[name]["url"]


@pytest.mark.parametrize("top", TOP_FILES, ids=lambda p: p.name)
def test_lock_files_are_in_kas_lock_format(top: Path):
    """Byte-identical to what kas's lock plugin writes, so `kas lock --update` leaves them alone."""
    from kas.plugins.dump import Dump, IoTarget

    lock = top.with_name(f"{top.stem}.lock.yml")
    out = io.StringIO()
    Dump.dump_config(_load(lock), IoTarget(target=out, managed=False), "yaml", 2, False)
    assert out.getvalue() == lock.read_text()


def test_lock_follows_the_matrix(matrix_copy: Path, tmp_path: Path):
    new = "0123456789abcdef0123456789abcdef01234567"
    data = yaml.safe_load(matrix_copy.read_text())
    data["yocto"]["layers"]["poky"]["commit"] = new
    matrix_copy.write_text(yaml.safe_dump(data, sort_keys=False))
    # render only the kas templates: this test is about them, not the rest of the tree
    shutil.copytree(paths.TEMPLATES_DIR / "kas", tmp_path / "templates" / "kas")
    rendered = render_tree(load_matrix(matrix_copy), tmp_path / "templates")
    for top in TOP_FILES:
        lock = yaml.safe_load(rendered[f"kas/{top.stem}.lock.yml"].content)
        assert lock["overrides"]["repos"]["poky"]["commit"] == new


def test_team_build_env_and_no_build_time_stamp():
    stack = _load(KAS_DIR / "include" / "stack.yml")
    assert {"DL_DIR", "SSTATE_DIR", "SSTATE_MIRRORS", "BB_HASHSERVE"} <= set(stack["env"])
    for p in ALL_FILES:
        text = p.read_text()
        assert not re.search(r"^\s*(export\s+)?SOURCE_DATE_EPOCH\s*[?:]*=", text, re.M), p
        assert "strftime" not in text and "DATETIME" not in text, p


def test_distro_policy_is_not_in_kas():
    """DISTRO_FEATURES & co. belong to the layer's distro conf, not to the kas files."""
    for p in ALL_FILES:
        for text in (_load(p).get("local_conf_header") or {}).values():
            assert "DISTRO_FEATURES" not in text and "INIT_MANAGER" not in text, p


def test_kas_files_are_rendered_from_kasfiles_targets(tmp_path: Path):
    # issue 19: one template pair renders every (board, role) of kasfiles; nothing names a board twice.
    templates = sorted(p.name for p in (paths.TEMPLATES_DIR / "kas").glob("*.j2"))
    assert templates == ["[[ target.name ]].lock.yml.j2", "[[ target.name ]].yml.j2"]
    shutil.copytree(paths.TEMPLATES_DIR / "kas", tmp_path / "templates" / "kas")
    rendered = render_tree(load_matrix(), tmp_path / "templates")
    tops = {p for p in rendered if p.count("/") == 1}
    assert tops == {f for t in kasfiles.targets() for f in (t.kas_file, t.lock_file)}
    for t in kasfiles.targets():
        top = yaml.safe_load(rendered[t.kas_file].content)
        assert (top["machine"], top["target"]) == (t.board, t.image)
        assert ("kas/include/meta-renesas.yml" in top["header"]["includes"]) == (t.board == "h3ulcb")
        lock = yaml.safe_load(rendered[t.lock_file].content)
        assert set(lock["overrides"]["repos"]) == set(kasfiles.repos_for(load_matrix(), t.board))
