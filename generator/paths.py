"""Where things live: the package data, and the checkout the generator writes into."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
TEMPLATES_DIR = PACKAGE_DIR / "templates"
MATRIX_FILE = DATA_DIR / "matrix.yml"


def repo_root() -> Path:
    """The checkout that holds meta-rcar-k8s/ and kas/ (RCAR_K8S_ROOT overrides, for tests)."""
    env = os.environ.get("RCAR_K8S_ROOT")
    if env:
        return Path(env).resolve()
    return PACKAGE_DIR.parent
