"""Real `kas lock` (the installed kas) writes exactly the lock files we generate.

Offline: four tiny local git repos stand in for poky, meta-openembedded, meta-virtualization and
meta-renesas; KAS_PREMIRRORS points the matrix URLs at them and a matrix copy pins their commits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from generator import kasfiles, paths
from generator.matrix.model import load_matrix
from generator.render.engine import render_tree, write_tree
from tests.conftest import require_tool

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@localhost", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, **GIT_ENV)
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _fake_upstream(root: Path, name: str, layers: list[str], branch: str) -> str:
    repo = root / name
    for layer in layers:
        (repo / layer / "conf").mkdir(parents=True, exist_ok=True)
        (repo / layer / "conf" / "layer.conf").write_text(f"# {name}/{layer}\n")
    _git(repo, "init", "-q", "-b", branch)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", f"{name} stand-in")
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def locked(tmp_path_factory) -> tuple[Path, dict]:
    require_tool("git")
    kas = Path(sys.executable).with_name("kas")
    if not kas.exists():
        pytest.fail("kas is a project dependency but not installed next to the interpreter")
    tmp = tmp_path_factory.mktemp("kaslock")
    data = yaml.safe_load(paths.MATRIX_FILE.read_text())
    premirrors = []
    for name, spec in data["yocto"]["layers"].items():
        spec["commit"] = _fake_upstream(tmp / "upstream", name, spec["layers"], spec["branch"])
        premirrors.append(f"^{spec['url'].replace('.', '[.]')}$ file://{tmp / 'upstream' / name}")
    matrix_file = tmp / "matrix.yml"
    matrix_file.write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.copytree(paths.TEMPLATES_DIR / "kas", tmp / "templates" / "kas")
    rendered = render_tree(load_matrix(matrix_file), tmp / "templates")
    project = tmp / "project"
    write_tree(rendered, project)
    _git(project, "init", "-q")
    for t in kasfiles.targets():
        (project / t.kas_file).with_suffix(".lock.yml").unlink()
    env = dict(os.environ, **GIT_ENV, HOME=str(tmp), KAS_WORK_DIR=str(tmp / "work"),
               KAS_PREMIRRORS="\n".join(premirrors))
    for t in kasfiles.targets():
        res = subprocess.run([str(kas), "lock", t.kas_file], cwd=project, env=env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
    return project, rendered


@pytest.mark.parametrize("target", kasfiles.targets(), ids=lambda t: t.kas_file)
def test_kas_lock_writes_our_lock_files(locked, target):
    project, rendered = locked
    lock = target.kas_file.removesuffix(".yml") + ".lock.yml"
    assert (project / lock).read_bytes() == rendered[lock].content
