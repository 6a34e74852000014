"""docs/flashing.md names the files a build really deploys and the addresses the tool really uses."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from generator.flash import bootloader
from generator.kasfiles import IMAGES
from tests.conftest import MATRIX, REPO

DOC = (REPO / "docs" / "flashing.md").read_text()
MIRROR = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror")) / "renesas-rcar+meta-renesas" / "repo"


def test_image_names_are_the_deployed_ones():
    """meta-renesas sets IMAGE_NAME_SUFFIX = "": <image>-h3ulcb.wic.xz, not <image>-h3ulcb.rootfs.wic.xz."""
    named = set(re.findall(r"[\w.-]+\.wic(?:\.xz|\.bmap)\b", DOC)) - {"X.wic.xz", "X.wic.bmap"}
    deployed = {f"{image}-h3ulcb.wic.{ext}" for image in IMAGES.values() for ext in ("xz", "bmap")}
    assert named and named <= deployed, named - deployed
    assert "rootfs.wic" not in DOC and "core-image" not in DOC


def test_meta_renesas_drops_the_rootfs_suffix():
    if not MIRROR.is_dir():
        pytest.skip(f"skipped: no meta-renesas mirror at {MIRROR} (set MIRROR_ROOT)")
    commit = _find(yaml.safe_load(MATRIX.read_text()), "meta-renesas")["commit"]  # the layer pin
    inc = subprocess.run(["git", "--git-dir", str(MIRROR), "show",
                          f"{commit}:meta-rcar-gen3/conf/machine/include/rcar_common.inc"],
                         capture_output=True, text=True, check=True).stdout
    assert re.search(r'^IMAGE_NAME_SUFFIX = ""$', inc, re.M)


def test_bootloader_table_matches_the_tool():
    row = r"^\| ([\w-]+) \| `([^`]+)` \| (?:`([^`]+)`|\(same\)) \| ([0-9A-F]{8}) \| 0x([0-9A-F]+) \|$"
    rows = re.findall(row, DOC, re.M)
    parts = bootloader.BOARDS["h3ulcb"].parts
    assert [(r[0], r[1], r[2] or r[1], int(r[3], 16), int(r[4], 16)) for r in rows] == [
        (p.name, p.file, bootloader.file_for(p, "4x2g"), p.program_addr, p.flash_addr) for p in parts]


def _find(node, key: str):  # noqa: ANN001, ANN202
    if isinstance(node, dict):
        if key in node:
            return node[key]
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            found = _find(child, key)
            if found is not None:
                return found
    return None
