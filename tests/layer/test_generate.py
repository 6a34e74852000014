"""The layer is rendered deterministically and `generate --check` catches drift."""

from __future__ import annotations

import shutil
from pathlib import Path

from generator.matrix.model import load_matrix
from generator.render.engine import render_tree
from tests.conftest import run_cli
from tests.layer.conftest import LAYER, REPO


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_render_twice_is_byte_identical():
    m = load_matrix()
    a, b = render_tree(m), render_tree(m)
    assert {k: v.content for k, v in a.items()} == {k: v.content for k, v in b.items()}
    assert any(k.startswith("meta-rcar-k8s/recipes-kubernetes/kubernetes-bin/") for k in a)


def test_generate_into_empty_root_twice_gives_same_bytes_and_matches_committed(tmp_path: Path):
    for n in (1, 2):
        r = run_cli("generate", "--root", str(tmp_path / f"out{n}"))
        assert r.returncode == 0, r.stderr
    one, two = _tree(tmp_path / "out1" / "meta-rcar-k8s"), _tree(tmp_path / "out2" / "meta-rcar-k8s")
    assert one == two
    # golden: the committed layer is exactly what the generator writes
    assert _tree(LAYER) == one


def test_check_reports_a_modified_layer_file(tmp_path: Path):
    root = tmp_path / "checkout"
    for top in ("meta-rcar-k8s", "kas"):
        shutil.copytree(REPO / top, root / top)
    r = run_cli("generate", "--check", "--root", str(root))
    assert r.returncode == 0, r.stderr
    victim = root / "meta-rcar-k8s/conf/rcar-k8s/k8s-1.36.inc"
    victim.write_text(victim.read_text().replace('"2.3.4"', '"1.7.28"'))
    (root / "meta-rcar-k8s/recipes-core/images/stray.bb").write_text("# not generated\n")
    r = run_cli("generate", "--check", "--root", str(root))
    assert r.returncode == 1
    assert "changed  meta-rcar-k8s/conf/rcar-k8s/k8s-1.36.inc" in r.stderr
    assert "stale    meta-rcar-k8s/recipes-core/images/stray.bb" in r.stderr


def test_readme_dependencies_follow_the_matrix_layers(matrix_copy: Path, tmp_path: Path) -> None:
    # issue 19: the README's layer branches and series come from matrix.yocto, not from the template.
    import yaml

    data = yaml.safe_load(matrix_copy.read_text())
    data["yocto"]["layers"]["meta-virtualization"]["branch"] = "walnascar-next"
    matrix_copy.write_text(yaml.safe_dump(data, sort_keys=False))
    templates = tmp_path / "templates" / "meta-rcar-k8s"
    templates.mkdir(parents=True)
    shutil.copyfile(REPO / "generator/templates/meta-rcar-k8s/README.md.j2", templates / "README.md.j2")
    readme = render_tree(load_matrix(matrix_copy), tmp_path / "templates")["meta-rcar-k8s/README.md"]
    text = readme.content.decode()
    assert "| https://git.yoctoproject.org/meta-virtualization | walnascar-next |" in text
    assert "| https://github.com/renesas-rcar/meta-renesas | scarthgap |" in text
    assert f"Yocto ({data['yocto']['series']}) layer" in text
