"""Which kas file builds what: the one place that maps (board, role) to a kas file and image.

Templates (``gen.kasfiles``), ``rcar-k8s build`` and ``rcar-k8s check --bitbake`` all ask here,
so a new board or role is added once.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.errors import UserError
from generator.matrix.model import Matrix

# The lowest kas project-file format that provides what the kas files use: `commit` + `branch`
# (format 14, kas 3.3) -- lock files pin through `overrides.repos.<id>.commit`, also format 14 and
# the version `kas lock` itself writes (LOCKFILE_VERSION_MIN). `env` with null values needs 13.
# kas 5.x accepts every format from 1 up to its own maximum (23 in kas 5.5).
KAS_HEADER_VERSION = 14
# First kas release that reads format 14 and auto-loads `<file>.lock.yml` lock files.
KAS_MIN_VERSION = "3.3"

BOARDS = ("h3ulcb", "qemuarm64")
ROLES = ("worker", "control-plane")
IMAGES = {"worker": "rcar-k8s-node-image", "control-plane": "rcar-k8s-control-plane-image"}
_BOARD_PREFIX = {"h3ulcb": "rcar-h3-k8s", "qemuarm64": "qemuarm64-k8s"}
# Repos only some boards need (the Renesas BSP is useless, and slow to parse, for QEMU).
BOARD_ONLY_REPOS = {"meta-renesas": "h3ulcb"}


@dataclass(frozen=True)
class Target:
    board: str
    role: str

    @property
    def kas_file(self) -> str:
        """Path of the top-level kas file, relative to the repo root."""
        suffix = "" if self.role == "worker" else f"-{self.role}"
        return f"kas/{_BOARD_PREFIX[self.board]}{suffix}.yml"

    @property
    def image(self) -> str:
        return IMAGES[self.role]


def targets() -> list[Target]:
    return [Target(b, r) for b in BOARDS for r in ROLES]


def target(board: str, role: str) -> Target:
    if board not in BOARDS:
        raise UserError(f"unknown board '{board}'; use one of: {', '.join(BOARDS)}")
    if role not in ROLES:
        raise UserError(f"unknown role '{role}'; use one of: {', '.join(ROLES)}")
    return Target(board, role)


def minor_include(minor: str) -> str:
    """The kas include that switches the Kubernetes stack to ``minor``."""
    return f"kas/include/k8s-{minor}.yml"


def repos_for(matrix: Matrix, board: str) -> dict[str, dict]:
    """The pinned upstream repos (matrix ``yocto.layers``) a board's kas file uses, in matrix order."""
    return {
        name: spec
        for name, spec in matrix.yocto["layers"].items()
        if BOARD_ONLY_REPOS.get(name, board) == board
    }
