"""LICENSE of each -bin recipe covers what its static release binaries contain, read from upstream:
the LICENSE files under vendor/ at the matrix tag (containerd, runc, cni-plugins, cri-tools),
etcd's bill-of-materials.json, and runc's release build linking libseccomp statically."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from generator.layer import recipes
from generator.matrix.model import load_matrix

from .conftest import LAYER

MIRRORS = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror"))
REPOS = {
    "containerd-bin": "containerd+containerd",
    "runc-bin": "opencontainers+runc",
    "cni-plugins-bin": "containernetworking+plugins",
    "cri-tools-bin": "kubernetes-sigs+cri-tools",
}


def git(repo: str, *args: str) -> str:
    gd = MIRRORS / repo / "repo"
    if not (gd / "HEAD").is_file():
        pytest.skip(
            f"skipped: mirror {gd} missing (prepare with: /work/.mirror/fetch.sh {repo.replace('+', '/')})"
        )
    return subprocess.run(
        ["git", f"--git-dir={gd}", *args], capture_output=True, text=True, check=True, errors="replace"
    ).stdout


def classify(text: str) -> set[str]:
    t = " ".join(text.split())
    out = set()
    if "Mozilla Public License" in t:
        out.add("MPL-2.0")  # its text names the LGPL as a "Secondary License": not an LGPL file
    elif t.lstrip().upper().startswith("GNU LESSER GENERAL PUBLIC LICENSE"):
        out.add("LGPL")
    if "Apache License" in t and "Version 2.0" in t:
        out.add("Apache-2.0")
    if "Permission is hereby granted, free of charge" in t:
        out.add("MIT")
    if "Redistribution and use in source and binary forms" in t:
        three = any(
            k in t for k in ("Neither the name", "names of its contributors", "name of the copyright holder")
        )
        out.add("BSD-3-Clause" if three else "BSD-2-Clause")
    if "Permission to use, copy, modify, and/or distribute" in t or (
        "Permission to use, copy, modify, and distribute this software for any purpose" in t
    ):
        out.add("ISC")
    return out


def recipe_license(pn: str, version: str) -> set[str]:
    bb = next(LAYER.rglob(f"{pn}_{version}.bb"))
    m = re.search(r'^LICENSE = "([^"]*)"$', bb.read_text(), re.M)
    return set(m.group(1).split(" & "))


def versions(pn: str) -> set[str]:
    return {recipes.pv(row, pn) for row in load_matrix().rows}


@pytest.mark.parametrize("pn", sorted(REPOS))
def test_vendored_module_licences_are_in_license(pn: str):
    for version in sorted(versions(pn)):
        tag = f"v{version}"
        files = [
            f
            for f in git(REPOS[pn], "ls-tree", "-r", "--name-only", tag, "vendor/").split()
            if re.search(r"/(LICEN[CS]E|COPYING)[^/]*$", f, re.I) and not f.endswith(".md")
        ]
        assert files, (pn, tag)
        found = {"BSD-3-Clause"}  # the Go standard library, in every Go binary
        for f in files:
            found |= classify(git(REPOS[pn], "show", f"{tag}:{f}"))
        found.discard("LGPL")  # no vendored module is LGPL-only; libseccomp is checked below
        assert found <= recipe_license(pn, version), (
            pn,
            version,
            sorted(found - recipe_license(pn, version)),
        )


def test_runc_release_links_libseccomp_statically():
    for version in sorted(versions("runc-bin")):
        script = git(REPOS["runc-bin"], "show", f"v{version}:script/release_build.sh")
        assert re.search(r"LIBSECCOMP_VERSION:=2\.\d", script) and " static)" in script, version
        assert "LGPL-2.1-only" in recipe_license("runc-bin", version)


def test_etcd_bill_of_materials_is_in_license():
    spdx = {
        "Apache License 2.0": "Apache-2.0",
        "MIT License": "MIT",
        'BSD 3-clause "New" or "Revised" License': "BSD-3-Clause",
        'BSD 2-clause "Simplified" License': "BSD-2-Clause",
        "ISC License": "ISC",
        "Mozilla Public License 2.0": "MPL-2.0",
    }
    for version in sorted(versions("etcd-bin")):
        bom = json.loads(git("etcd-io+etcd", "show", f"v{version}:bill-of-materials.json"))
        found = {spdx[lic["type"]] for mod in bom for lic in mod.get("licenses", [])}
        assert found <= recipe_license("etcd-bin", version), (version, found)


def test_every_license_has_its_common_text_checksummed():
    for bb in LAYER.rglob("*-bin_*.bb"):
        text = bb.read_text()
        lic = re.search(r'^LICENSE = "([^"]*)"$', text, re.M).group(1).split(" & ")
        assert "BSD-3-Clause" in lic, bb.name  # Go standard library
        for name in lic:
            assert f"file://${{COMMON_LICENSE_DIR}}/{name};md5={recipes.LICENSE_MD5[name]}" in text, (
                bb.name,
                name,
            )
