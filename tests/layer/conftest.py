"""Helpers for the meta-rcar-k8s layer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.matrix.model import load_matrix

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "meta-rcar-k8s"
TEMPLATES = REPO / "generator" / "templates" / "meta-rcar-k8s"


@pytest.fixture(scope="session")
def matrix():
    return load_matrix()
