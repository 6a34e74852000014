"""Which kas file builds what: the one place that maps (board, role) to a kas file and image.

Templates (``gen.kasfiles``), ``rcar-k8s build`` and ``rcar-k8s check --bitbake`` all ask here,
so a new board or role is added once: the kas files themselves are rendered once per ``targets()``
entry from ``templates/kas/[[ target.name ]].yml.j2`` (and its ``.lock.yml.j2``).
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

BOARDS = ("h3ulcb", "qemuarm64")  # each is the BitBake MACHINE it builds for
# The node roles: the one list the kas files, the image catalog and the node files ask.
ROLES = ("worker", "control-plane")
IMAGES = {"worker": "rcar-k8s-node-image", "control-plane": "rcar-k8s-control-plane-image"}
_BOARD_PREFIX = {"h3ulcb": "rcar-h3-k8s", "qemuarm64": "qemuarm64-k8s"}
# Repos only some boards need (the Renesas BSP is useless, and slow to parse, for QEMU); each has
# its kas include kas/include/<repo>.yml.
BOARD_ONLY_REPOS = {"meta-renesas": "h3ulcb"}
# The header comment of each top-level kas file: what the board is, and what the role's image is for.
_BOARD_TEXT = {
    "h3ulcb": "the Renesas R-Car H3 Starter Kit (h3ulcb)",
    "qemuarm64": "QEMU arm64 (qemuarm64)",
}
_PURPOSE = {
    ("h3ulcb", "worker"): "boots ready for `kubeadm join`",
    ("h3ulcb", "control-plane"): "boots ready for `kubeadm init`",
    ("qemuarm64", "worker"): "the h3ulcb stack without the Renesas BSP, for runqemu",
    ("qemuarm64", "control-plane"): "the h3ulcb stack without the Renesas BSP",
}


@dataclass(frozen=True)
class Target:
    board: str
    role: str

    @property
    def name(self) -> str:
        """The kas file's stem: ``rcar-h3-k8s``, ``qemuarm64-k8s-control-plane``."""
        suffix = "" if self.role == "worker" else f"-{self.role}"
        return f"{_BOARD_PREFIX[self.board]}{suffix}"

    @property
    def kas_file(self) -> str:
        """Path of the top-level kas file, relative to the repo root."""
        return f"kas/{self.name}.yml"

    @property
    def lock_file(self) -> str:
        """The lock file kas loads automatically next to ``kas_file``."""
        return f"kas/{self.name}.lock.yml"

    @property
    def machine(self) -> str:
        return self.board

    @property
    def image(self) -> str:
        return IMAGES[self.role]

    @property
    def summary(self) -> str:
        """One line for the kas file's header comment."""
        what = f"{self.role.capitalize()} image for {_BOARD_TEXT[self.board]}"
        return f"{what}: {_PURPOSE[(self.board, self.role)]}."

    @property
    def board_includes(self) -> list[str]:
        """kas includes of the repos only this board needs (kas/include/meta-renesas.yml on h3ulcb)."""
        return [f"kas/include/{repo}.yml" for repo, board in BOARD_ONLY_REPOS.items() if board == self.board]


def targets() -> list[Target]:
    return [Target(b, r) for b in BOARDS for r in ROLES]


def target(board: str, role: str) -> Target:
    if board not in BOARDS:
        raise UserError(f"unknown board '{board}'; use one of: {', '.join(BOARDS)}")
    return Target(board, check_role(role))


def check_role(role: str) -> str:
    """``role`` if it is one of ``ROLES``, else the one-line error naming them."""
    if role not in ROLES:
        raise UserError(f"unknown role '{role}'; use one of: {', '.join(ROLES)}")
    return role


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
