"""R21: the pinned CNI manifest k8s-init applies is flannel's own file at its tag, and every image it
names is in the air-gapped image list (and no CNI image there goes unused)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from generator.matrix.model import Matrix
from generator.matrix.rules.base import ERROR, Context, Hit, Rule


def _r21(ctx: Context) -> Iterator[Hit]:
    from generator.images.catalog import manifest_image_mismatch

    comp = ctx.comp("flannel")
    manifest = (comp or {}).get("manifest")
    if not manifest:
        yield Hit("flannel", "no pinned CNI manifest: k8s-init has nothing to apply and nodes stay NotReady")
        return
    tag = f"v{comp['version']}"
    if f"/{tag}/" not in str(manifest["url"]):
        yield Hit("flannel", f"manifest {manifest['url']} is not read at flannel's pinned tag {tag}")
    matrix = Matrix(path=Path("<row>"), data={"addons": {}}, rows=(ctx.row,))
    extra, unused = manifest_image_mismatch(matrix, ctx.row)
    if extra:
        yield Hit(
            "flannel",
            f"{manifest['path']} at {tag} pulls {', '.join(extra)}, which the air-gapped image list "
            "does not carry (the node would pull it, or hang without network)",
        )
    if unused:
        yield Hit(
            "flannel", f"the air-gapped image list carries {', '.join(unused)}, which the manifest never uses"
        )


RULES: tuple[Rule, ...] = (
    Rule(
        "R21",
        "CNI manifest",
        "the pinned CNI manifest is read at the CNI's tag and its image references equal the "
        "air-gapped image list's CNI images",
        "flannel-io/flannel Documentation/kube-flannel.yml at the pinned tag",
        ERROR,
        _r21,
        way_out="pin flannel's manifest at its tag (url, sha256, images) and its images in the row",
    ),
)
