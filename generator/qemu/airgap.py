"""Test images for the stand-in's air-gapped path: built here, packed and imported by the layer's own scripts.

Two tiny linux/arm64 images, TEST images, never shipped:

- a static ``pause`` of our own (``PAUSE_C`` below, cross-compiled with aarch64-linux-gnu-gcc), tagged
  with the real sandbox image name and tag the matrix row pins (e.g. ``registry.k8s.io/pause:3.10.2``),
  so containerd's CRI finds its pinned sandbox image without pulling;
- ``TEST_IMAGE``: Debian's static busybox (from the stand-in's own busybox-static .deb) with /bin/sh,
  for ``crictl create/start/exec``.

Each is laid out as a registry serves it: blobs named by digest, the manifest as compact JSON with
the top-level ``mediaType`` first; pause as an OCI manifest, the test image as a Docker schema 2
manifest (both kinds reach the layer's packer in real builds). The blobs are packed by the layer's
``oci-archive-from-blobs`` (exactly what the recipe's do_compile runs) and listed in
``images-worker.lock`` in the format the layer's ``k8s-images-import`` reads at boot.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from generator import paths
from generator.errors import UserError

AIRGAP_FILES = "meta-rcar-k8s/recipes-kubernetes/k8s-airgap-images/files"
IMAGES_DIR = "/usr/share/rcar-k8s/images"
TEST_IMAGE = "localhost/rcar-k8s/busybox-test:1"
CC = "aarch64-linux-gnu-gcc"
OCI = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.oci.image.layer.v1.tar+gzip",
)
DOCKER = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
)

# What a sandbox's pause does: hold the namespaces, reap children, exit on SIGINT/SIGTERM.
PAUSE_C = r"""
/* rcar-k8s TEST pause for the QEMU stand-in (never shipped). */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
    struct sigaction a = {0};
    a.sa_handler = quit;
    sigaction(SIGINT, &a, NULL);
    sigaction(SIGTERM, &a, NULL);
    a.sa_handler = reap;
    a.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &a, NULL);
    for (;;)
        pause();
}
"""


@dataclass
class Image:
    ref: str
    digest: str  # manifest digest
    archive: str  # file name in IMAGES_DIR
    media_type: str
    data: bytes  # the OCI archive made by the layer's packer


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(files: dict[str, tuple[bytes, int]], links: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in sorted({str(Path(p).parent) for p in [*files, *links]} - {"."}):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for path, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
        for path, target in sorted(links.items()):
            info = tarfile.TarInfo(path)
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 0
            tar.addfile(info)
    return raw.getvalue()


def registry_blobs(out: Path, layer_tar: bytes, entrypoint: list[str], media: tuple[str, str, str]) -> str:
    """Blobs named by digest hex, as a registry serves them; returns the manifest digest."""
    layer = gzip.compress(layer_tar, mtime=0)
    # Go's encoding/json order (struct fields), compact - as registries and build tools produce them
    config = json.dumps(
        {
            "architecture": "arm64",
            "config": {"Entrypoint": entrypoint, "WorkingDir": "/"},
            "created": "1970-01-01T00:00:00Z",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer_tar)]},
        },
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media[0],
            "config": {"mediaType": media[1], "size": len(config), "digest": _digest(config)},
            "layers": [{"mediaType": media[2], "size": len(layer), "digest": _digest(layer)}],
        },
        separators=(",", ":"),
    ).encode()
    out.mkdir(parents=True, exist_ok=True)
    for blob in (manifest, config, layer):
        (out / _digest(blob).removeprefix("sha256:")).write_bytes(blob)
    return _digest(manifest)


def build_pause(work: Path) -> bytes:
    if shutil.which(CC) is None:
        raise UserError(
            f"{CC} not found: the stand-in's test pause is cross-compiled "
            "(apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"
        )
    src = work / "pause.c"
    src.write_text(PAUSE_C)
    proc = subprocess.run(
        [CC, "-static", "-Os", "-s", "-o", str(work / "pause"), str(src)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise UserError(f"building the test pause failed: {proc.stderr.strip()[-300:]}")
    return (work / "pause").read_bytes()


def busybox_from_deb(debs: Path) -> bytes:
    found = sorted(debs.glob("busybox-static_*_arm64.deb"))
    if not found:
        raise UserError(f"no busybox-static arm64 .deb in {debs}: run scripts/build-standin.sh first")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), tmp], check=True)
        return (Path(tmp) / "bin/busybox").read_bytes()


def pack(blobs: Path, digest: str, ref: str, out: Path) -> bytes:
    """The layer's own oci-archive-from-blobs, as its recipe's do_compile calls it."""
    packer = paths.repo_root() / AIRGAP_FILES / "oci-archive-from-blobs"
    files = sorted(blobs.iterdir())
    proc = subprocess.run(
        [str(packer), str(out), ref, digest, *map(str, files)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise UserError(f"the layer's oci-archive-from-blobs failed for {ref}: {proc.stderr.strip()[-300:]}")
    return out.read_bytes()


def test_images(pause_ref: str, debs: Path) -> list[Image]:
    with tempfile.TemporaryDirectory(prefix="rcar-k8s-airgap.") as tmp:
        work = Path(tmp)
        pause = build_pause(work)
        busybox = busybox_from_deb(debs)
        specs = [
            (pause_ref, "pause.oci.tar", _layer({"pause": (pause, 0o755)}, {}), ["/pause"], OCI),
            (
                TEST_IMAGE,
                "busybox-test.oci.tar",
                _layer({"bin/busybox": (busybox, 0o755)}, {"bin/sh": "busybox"}),
                ["/bin/sh"],
                DOCKER,
            ),
        ]
        images = []
        for ref, name, layer, entry, media in specs:
            blobs = work / f"blobs-{name}"
            digest = registry_blobs(blobs, layer, entry, media)
            data = pack(blobs, digest, ref, work / name)
            images.append(Image(ref, digest, name, media[0], data))
        return images


def overlay_files(images: list[Image]) -> dict[str, bytes]:
    """Archives and the worker lock at the paths the k8s-airgap-images recipe installs them."""
    files = {f"{IMAGES_DIR}/{i.archive}": i.data for i in images}
    files[f"{IMAGES_DIR}/images-worker.lock"] = "".join(
        f"{i.ref} {i.digest} {i.archive}\n" for i in images
    ).encode()
    return files
