"""`matrix update` reads flannel's manifest at the new tag: sha256, images, Network (served offline)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests_mock

from generator.matrix.model import load_matrix
from generator.upstream import sources as src
from generator.upstream.http import HttpClient, UpstreamError

FLANNEL_GIT = Path(os.environ.get("MIRROR_ROOT", "/work/.mirror")) / "flannel-io+flannel" / "repo"


def _real_manifest(tag: str) -> str:
    if not FLANNEL_GIT.is_dir():
        pytest.skip(
            f"skipped: no flannel mirror at {FLANNEL_GIT} "
            f"(prepare with: git clone --mirror https://github.com/flannel-io/flannel {FLANNEL_GIT})"
        )
    show = ["git", f"--git-dir={FLANNEL_GIT}", "show", f"{tag}:{src.FLANNEL_MANIFEST}"]
    return subprocess.run(show, capture_output=True, text=True, check=True).stdout


def test_reads_the_pinned_facts_from_flannels_real_manifest() -> None:
    row = load_matrix().default_row
    tag = f"v{row.version('flannel')}"
    url = f"{src.RAW}/flannel-io/flannel/{tag}/{src.FLANNEL_MANIFEST}"
    with requests_mock.Mocker() as m:
        m.get(url, text=_real_manifest(tag))
        fact = src.flannel_manifest(HttpClient(), tag)
    pinned = row.comp("flannel")["manifest"]
    for key in ("url", "sha256", "images", "network", "path"):
        assert fact.value[key] == pinned[key], key
    assert fact.source == url


def test_a_document_that_is_not_flannels_manifest_is_refused() -> None:
    url = f"{src.RAW}/flannel-io/flannel/v9.9.9/{src.FLANNEL_MANIFEST}"
    with requests_mock.Mocker() as m:
        m.get(url, text="kind: ConfigMap\ndata: {}\n")
        with pytest.raises(UpstreamError, match="not flannel's manifest"):
            src.flannel_manifest(HttpClient(), "v9.9.9")
