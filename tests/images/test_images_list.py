"""`rcar-k8s images list` and the air-gapped image recipe, both read from the matrix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from generator import kasfiles, paths
from generator.errors import UserError
from generator.images.catalog import node_images, split_roles
from generator.layer import node_files
from generator.matrix import store
from generator.matrix.model import from_data, load_matrix
from generator.render.engine import _environment
from tests.conftest import run_cli


def test_worker_list_json_matches_matrix() -> None:
    res = run_cli(
        "images", "list", "--k8s", "1.36", "--role", "worker", "--cni", "flannel", "--format", "json"
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    row = load_matrix().row("1.36")
    refs = [i["ref"] for i in data["images"]]
    assert refs == [
        row.comp("pause")["image"],
        row.comp("kubernetes")["images"]["kube-proxy"]["image"],
        row.comp("coredns")["image"],
        row.comp("flannel")["image"],
        row.comp("flannel")["cni_plugin_image"]["image"],
    ]
    assert all(f"v{row.kubernetes}" in r for r in refs if "kube-" in r)


def test_control_plane_adds_etcd_and_static_pods() -> None:
    m = load_matrix()
    names = [i.name for i in node_images(m, m.row("1.35"), "control-plane", "none", ha=True)]
    assert names == [
        "pause",
        "kube-proxy",
        "coredns",
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-vip",
    ]


def test_unconfirmed_digests_are_flagged_and_strict_fails() -> None:
    res = run_cli("images", "list", "--k8s", "1.37")
    assert res.returncode == 0 and "UNCONFIRMED" in res.stdout
    strict = run_cli("images", "list", "--k8s", "1.37", "--strict")
    assert strict.returncode == 1


def test_bad_input_is_one_line_exit_2() -> None:
    for args in (("--k8s", "1.20"), ("--role", "master"), ("--cni", "weave")):
        res = run_cli("images", "list", *args)
        assert res.returncode == 2
        assert "Traceback" not in res.stderr
        assert "error:" in res.stderr.strip().splitlines()[-1]


def _render_airgap(data: dict) -> str:
    matrix = from_data(data, Path("matrix.yml"))
    env = _environment(paths.TEMPLATES_DIR)
    tpl = env.get_template(
        "meta-rcar-k8s/recipes-kubernetes/k8s-airgap-images/k8s-airgap-images_[[ row.kubernetes ]].bb.j2"
    )
    return tpl.render(matrix=matrix, rows=matrix.rows, default=matrix.default_row, row=matrix.row("1.36"))


def test_recipe_refuses_at_parse_time_while_digests_are_unconfirmed() -> None:
    text = _render_airgap(store.load(paths.MATRIX_FILE))
    assert "raise bb.parse.SkipRecipe(" in text and "SRC_URI +=" not in text


def _pinned_entries(data: dict) -> list[dict]:
    row = next(r for r in data["rows"] if r["k8s"] == "1.36")
    entries = [row["components"][c] for c in ("pause", "coredns", "etcd", "flannel")]
    entries += list(row["components"]["kubernetes"]["images"].values())
    entries += [row["components"]["flannel"]["cni_plugin_image"], data["addons"]["kube-vip"]]
    return entries


def _pinned_matrix_data() -> dict:
    """The committed matrix with distinct, well-formed fake digests for every image of row 1.36."""
    data = store.load(paths.MATRIX_FILE)
    counter = iter(range(1, 10_000))

    def fake() -> str:  # distinct, well-formed digests: the template must copy them, not invent them
        return "sha256:" + f"{next(counter):064x}"

    for e in _pinned_entries(data):
        e["digest"] = fake()
        e["arm64"] = {"manifest": fake(), "config": fake(), "layers": [fake(), fake()]}
    return data


def test_recipe_fetches_every_blob_by_digest_once_pinned() -> None:
    data = _pinned_matrix_data()
    entries = _pinned_entries(data)
    text = _render_airgap(data)
    assert "SkipRecipe" not in text
    for e in entries:
        for d in [e["arm64"]["manifest"], e["arm64"]["config"], *e["arm64"]["layers"]]:
            hexd = d.removeprefix("sha256:")
            assert f'.sha256sum] = "{hexd}"' in text
            kind = "manifests" if d == e["arm64"]["manifest"] else "blobs"
            assert f"/{kind}/{d};downloadfilename={hexd}.blob" in text
    assert "https://${@d.getVar('RCAR_K8S_REGISTRY_MIRROR') or 'registry.k8s.io'}/v2/pause/manifests/" in text
    assert "AUTOREV" not in text and ":latest" not in text
    m = from_data(data, Path("matrix.yml"))
    roles = split_roles(m, m.row("1.36"))
    assert len(re.findall(r"oci-archive-from-blobs ", text)) == len(roles["worker"]) + len(
        roles["control-plane"]
    )


def test_every_image_component_is_preloaded_somewhere() -> None:
    # IMAGE_COMPONENTS (matrix/components.py) owns which row components are images; the catalog must
    # place each of them on a role and the schema must demand their `image:` field.
    from generator.images.catalog import _WHY
    from generator.matrix import schema
    from generator.matrix.components import IMAGE_COMPONENTS

    assert set(_WHY) == set(IMAGE_COMPONENTS)
    for row in load_matrix().rows:
        roles = split_roles(load_matrix(), row)
        preloaded = {i.name for images in roles.values() for i in images}
        assert set(IMAGE_COMPONENTS) <= preloaded, row.minor
    assert schema.KUBE_IMAGES == ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")


def test_roles_have_one_owner() -> None:
    """kasfiles owns the roles: the catalog refuses others with kasfiles' words, the node files and
    both CLI commands offer exactly its list."""
    m = load_matrix()
    with pytest.raises(UserError) as exc:
        node_images(m, m.default_row, "master")
    assert str(exc.value) == "unknown role 'master'; use one of: worker, control-plane"
    with pytest.raises(UserError) as exc2:
        kasfiles.target("h3ulcb", "master")
    assert str(exc2.value) == str(exc.value)
    assert node_files.ROLES is kasfiles.ROLES
    for cmd in (("images", "list"), ("build", "--dry-run")):
        res = run_cli(*cmd, "--role", "master")
        assert res.returncode == 2 and "(choose from 'worker', 'control-plane')" in res.stderr, res.stderr
