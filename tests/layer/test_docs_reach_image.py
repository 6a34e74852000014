"""Docs and examples reach the image: the READMEs units name in Documentation= and join.env.example.

poky scarthgap meta/conf/bitbake.conf: PACKAGES = "... ${PN}-doc ${PN}-locale ${PACKAGE_BEFORE_PN} ${PN}"
and FILES:${PN}-doc = "${docdir} ...": files go to the first package whose FILES match, so whatever a
recipe installs under ${docdir} is in ${PN}-doc, whatever FILES:${PN} says, and no image installs
-doc packages unless asked to.
"""

from __future__ import annotations

import re

from generator.layer import disk_layout as dl

from .conftest import LAYER

PACKAGEGROUPS = LAYER / "recipes-core/packagegroups"


def installed_packages() -> set[str]:
    names: set[str] = set()
    for bb in PACKAGEGROUPS.glob("*.bb"):
        text = bb.read_text().replace("\\\n", " ")
        for m in re.finditer(r'^RDEPENDS:\$\{PN\}\s*\+?=\s*"([^"]*)"', text, re.M):
            names.update(n for n in m.group(1).split() if "$" not in n)
    return names


def documented() -> dict[str, set[str]]:
    """recipe name -> files under /usr/share/doc/<recipe>/ that some unit names."""
    out: dict[str, set[str]] = {}
    for unit in LAYER.rglob("files/*"):
        if unit.suffix not in (".service", ".timer", ".mount", ".socket"):
            continue
        for m in re.finditer(r"^Documentation=.*?file:(\S+)", unit.read_text(), re.M):
            path = m.group(1).removeprefix("//")
            recipe = unit.parent.parent.name
            path = path.replace("@ETCD_TMPFS_DOCDIR@", f"/usr/share/doc/{recipe}")
            if path.startswith("/usr/share/doc/"):
                pn, name = path.removeprefix("/usr/share/doc/").split("/", 1)
                out.setdefault(pn, set()).add(name)
    return out


def test_every_documentation_file_is_installed_and_its_doc_package_is_in_the_image():
    docs = documented()
    assert {"k8s-join", "k8s-node-config", "etcd-tmpfs"} <= set(docs)
    packages = installed_packages()
    for pn, names in docs.items():
        recipes = list(LAYER.rglob(f"recipes-*/{pn}/{pn}_*.bb"))
        assert recipes, pn
        for bb in recipes:
            body = bb.read_text().replace("\\\n", " ")
            for name in names:
                assert re.search(
                    rf"install .*\b{re.escape(name)}\b.*\$\{{D\}}\$\{{docdir\}}/\$\{{PN\}}", body
                ), (
                    bb.name,
                    name,
                )
            assert "FILES:${PN}-doc" not in body  # so ${docdir} really is in ${PN}-doc
        assert f"{pn}-doc" in packages, f"{pn}-doc is installed by no packagegroup"


def test_examples_are_on_the_config_partition():
    join = (LAYER / "recipes-kubernetes/k8s-join/k8s-join_1.0.bb").read_text()
    assert f"${{D}}{dl.CONFIG.mountpoint}/" in join
    assert "join.env.example ${S}/cluster.env.example ${D}" + dl.CONFIG.mountpoint in join
    assert 'FILES:${PN} += "' in join and dl.CONFIG.mountpoint in join.split("FILES:${PN} +=", 1)[1]
    example = (LAYER / "recipes-kubernetes/k8s-join/files/join.env.example").read_text()
    assert example.startswith(f"# Copy to the config partition (FAT, label {dl.CONFIG.label}) as join.env")
