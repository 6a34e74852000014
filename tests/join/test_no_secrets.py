"""No join token or private key may ever be part of the generated layer (and so of the image)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

TOKEN = re.compile(rb"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")
CERT_HASH = re.compile(rb"sha256:[0-9a-f]{64}")


def scan(root: Path) -> list[str]:
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for name, pattern in (("bootstrap token", TOKEN), ("private key", PRIVATE_KEY)):
            if pattern.search(data):
                hits.append(f"{path.relative_to(root)}: {name}")
    return hits


def test_generated_layer_holds_no_token_or_private_key() -> None:
    layer = REPO / "meta-rcar-k8s"
    assert layer.is_dir()
    assert scan(layer) == []


def test_scanner_finds_planted_secrets(tmp_path: Path) -> None:
    (tmp_path / "join.env").write_text("K8S_TOKEN=abcdef.0123456789abcdef\n")
    (tmp_path / "key.pem").write_text("-----BEGIN RSA PRIVATE KEY-----\nMII\n")
    (tmp_path / "ok.txt").write_text("sha256:" + "a" * 64 + "\n")
    assert scan(tmp_path) == ["join.env: bootstrap token", "key.pem: private key"]
    assert CERT_HASH.search((tmp_path / "ok.txt").read_bytes())
