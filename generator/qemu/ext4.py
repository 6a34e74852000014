"""Files into and out of an ext4 image with e2fsprogs' debugfs: no mount, no loop device, and the
modes and owners the image should have, not the ones of whoever runs the test.

Every stand-in step that changes a root image (the layer's files, Debian's sshd and sfdisk, the
admin user, the disk's fstab) writes through :class:`Script`, so parent directories are made once
and every file gets the same ``rm`` / ``write`` / ``sif`` sequence. debugfs keeps going after a
failed command (``rm`` of a path that is not there, ``mkdir`` of one that is), which is what lets
one script both add and replace; what matters is checked afterwards by reading back.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from generator import program

# what to do when e2fsprogs fails on a stand-in image: the tools or the cached base image are at fault
IMAGE_FIX = "install e2fsprogs (debugfs, resize2fs); if it persists, delete the stand-in cache and rerun"


def run(image: Path, script: str) -> str:
    """Run a debugfs command script read-write on ``image``; its output."""
    with tempfile.NamedTemporaryFile("w", suffix=".debugfs", delete=False) as f:
        f.write(script)
    try:
        proc = program.run(
            ["debugfs", "-w", "-f", f.name, str(image)], what=f"debugfs failed on {image}", fix=IMAGE_FIX
        )
    finally:
        os.unlink(f.name)
    return proc.stdout + proc.stderr


def read(image: Path, path: str) -> bytes | None:
    """The bytes of ``path`` in ``image``; None when it is not there.

    An empty file is b"", not None: recipes install empty files on purpose (rcar-k8s-access's
    authorized_keys when no key is given at build time). debugfs exits 0 on a missing path and says
    so on stderr only. ``cat`` does not follow a symlink at ``path``: use :func:`exists` for those.
    """
    proc = subprocess.run(["debugfs", "-R", f"cat {path}", str(image)], capture_output=True)
    if proc.returncode != 0 or b"File not found by ext2_lookup" in proc.stderr:
        return None
    return proc.stdout


def exists(image: Path, path: str) -> bool:
    """A file, directory or symlink at ``path``."""
    proc = subprocess.run(["debugfs", "-R", f"stat {path}", str(image)], capture_output=True, text=True)
    return "Inode:" in proc.stdout


class Script:
    """debugfs commands that lay files, directories and symlinks into an image."""

    def __init__(self) -> None:
        self.cmds: list[str] = []
        self._made: set[str] = set()

    def parents(self, path: str) -> None:
        """``mkdir`` each parent of ``path`` once (an existing one only makes debugfs complain)."""
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            if d not in self._made:
                self._made.add(d)
                self.cmds.append(f"mkdir {d}")

    def dir(self, path: str, mode: int, uid: int = 0, gid: int = 0) -> None:
        self.parents(path + "/x")
        self.cmds += [f"sif {path} mode 04{mode:04o}", f"sif {path} uid {uid}", f"sif {path} gid {gid}"]

    def put(self, src: Path, path: str, mode: int, uid: int = 0, gid: int = 0) -> None:
        """The host file ``src`` as ``path`` (replacing what is there), with ``mode`` and owner."""
        self.parents(path)
        self.cmds += [
            f"rm {path}",
            f"write {src} {path}",
            f"sif {path} mode 0{0o100000 | mode:o}",
            f"sif {path} uid {uid}",
            f"sif {path} gid {gid}",
        ]

    def symlink(self, path: str, target: str) -> None:
        self.parents(path)
        self.cmds += [f"rm {path}", f"symlink {path} {target}"]

    def rm(self, path: str) -> None:
        self.cmds.append(f"rm {path}")

    def apply(self, image: Path) -> str:
        return run(image, "\n".join(self.cmds) + "\n")
