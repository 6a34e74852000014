"""Air-gapped images: the layer's own scripts build an OCI archive from digest-named blobs and import it
into a REAL containerd (Debian's package) in the k8s.io namespace; nothing is pulled.

Manifests come in every shape registries serve (tests/images/oci.py): compact OCI with the top-level
mediaType first, pretty-printed OCI, Docker schema 2, OCI without the optional mediaType. The
stand-in boot (tests/qemu/test_runtime_boot.py) imports the same kind of archives into containerd
2.3 on arm64."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, require_tool
from tests.images.oci import DOCKER_MANIFEST, OCI_MANIFEST, STYLES, build_blobs

FILES = REPO / "meta-rcar-k8s" / "recipes-kubernetes" / "k8s-airgap-images" / "files"
REF = "registry.k8s.io/pause:3.10.2"


@pytest.fixture
def containerd(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("skipped: containerd needs root to mount snapshots")
    binary = require_tool("containerd")
    require_tool("ctr")
    sock = tmp_path / "c.sock"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "version = 2\n"
        f'root = "{tmp_path / "root"}"\nstate = "{tmp_path / "state"}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n'
    )
    log = (tmp_path / "containerd.log").open("w")
    proc = subprocess.Popen([binary, "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"containerd did not start: {(tmp_path / 'containerd.log').read_text()[-2000:]}")
        time.sleep(0.1)
    yield sock
    proc.terminate()
    proc.wait(timeout=20)
    subprocess.run(["umount", "-R", str(tmp_path / "root")], capture_output=True)


def _images_dir(tmp_path: Path, style: str = "oci") -> tuple[Path, str]:
    manifest_digest, blobs = build_blobs(tmp_path / "blobs", style=style)
    images = tmp_path / "images"
    images.mkdir()
    subprocess.run(
        [
            str(FILES / "oci-archive-from-blobs"),
            str(images / "pause.oci.tar"),
            REF,
            manifest_digest,
            *map(str, blobs),
        ],
        check=True,
    )
    (images / "images-worker.lock").write_text(f"{REF} {manifest_digest} pause.oci.tar\n")
    return images, manifest_digest


def _import(images: Path, sock: Path, state: Path) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        IMAGES_DIR=str(images),
        STATE_DIR=str(state),
        CTR_ADDRESS=str(sock),
        CONTAINERD_SNAPSHOTTER="native",
    )
    return subprocess.run(
        [str(FILES / "k8s-images-import")], env=env, capture_output=True, text=True, timeout=120
    )


def test_archive_is_deterministic(tmp_path: Path) -> None:
    a, _ = _images_dir(tmp_path / "a")
    b, _ = _images_dir(tmp_path / "b")
    assert (a / "pause.oci.tar").read_bytes() == (b / "pause.oci.tar").read_bytes()


def _index(archive: Path) -> dict[str, object]:
    with tarfile.open(archive) as tar:
        f = tar.extractfile("index.json")
        assert f is not None
        return json.load(f)


@pytest.mark.parametrize("style", STYLES)
def test_index_carries_the_manifests_own_media_type(tmp_path: Path, style: str) -> None:
    # The old packer matched "mediaType" as text: on a compact manifest it wrote the last layer's
    # type into index.json and a real containerd refused the archive ("unexpected media type").
    images, digest = _images_dir(tmp_path, style)
    (entry,) = _index(images / "pause.oci.tar")["manifests"]
    assert entry["mediaType"] == (DOCKER_MANIFEST if style == "docker" else OCI_MANIFEST)
    assert entry["digest"] == digest


def test_image_index_is_refused(tmp_path: Path) -> None:
    blob = tmp_path / "index.blob"
    blob.write_text(
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
    )
    digest = "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
    res = subprocess.run(
        [str(FILES / "oci-archive-from-blobs"), str(tmp_path / "x.tar"), REF, digest, str(blob)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1 and "not a single-platform image manifest" in res.stderr
    assert not (tmp_path / "x.tar").exists()


@pytest.mark.parametrize("style", STYLES)
def test_import_into_k8s_namespace_with_expected_digest(tmp_path: Path, containerd: Path, style: str) -> None:
    images, digest = _images_dir(tmp_path, style)
    state = tmp_path / "state-dir"
    res = _import(images, containerd, state)
    assert res.returncode == 0, res.stderr
    ls = subprocess.run(
        ["ctr", "--address", str(containerd), "-n", "k8s.io", "images", "ls"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    row = next(line.split() for line in ls.splitlines() if line.startswith(REF + " "))
    assert row[2] == digest
    assert "io.cri-containerd.pinned=pinned" in ls
    # Nothing else arrived: the namespace holds exactly the locked image (no pull happened).
    names = [line.split()[0] for line in ls.splitlines()[1:]]
    assert names == [REF]
    # A second boot finds the stamp and does nothing.
    again = _import(images, containerd, state)
    assert again.returncode == 0 and "already imported" in again.stderr


def test_digest_mismatch_is_refused(tmp_path: Path, containerd: Path) -> None:
    images, _ = _images_dir(tmp_path)
    (images / "images-worker.lock").write_text(f"{REF} sha256:{'0' * 64} pause.oci.tar\n")
    res = _import(images, containerd, tmp_path / "state-dir")
    assert res.returncode == 1
    assert "does not match the lock" in res.stderr
    assert not (tmp_path / "state-dir" / "images-imported").exists()


def test_missing_archive_is_refused(tmp_path: Path, containerd: Path) -> None:
    images, digest = _images_dir(tmp_path)
    (images / "images-worker.lock").write_text(f"{REF} {digest} nope.tar\n")
    res = _import(images, containerd, tmp_path / "state-dir")
    assert res.returncode == 1 and "missing archive" in res.stderr


def test_blob_set_without_manifest_is_refused(tmp_path: Path) -> None:
    digest, blobs = build_blobs(tmp_path / "blobs")
    res = subprocess.run(
        [str(FILES / "oci-archive-from-blobs"), str(tmp_path / "x.tar"), REF, digest, *map(str, blobs[1:])],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1 and "not among the blobs" in res.stderr
    assert shutil.which("ctr")


# ---- issue 16: the import checks the content is usable, and a failed import stops kubeadm -------


def _ctr(sock: Path, *args: str) -> str:
    env = dict(os.environ, CONTAINERD_SNAPSHOTTER="native")
    return subprocess.run(
        ["ctr", "--address", str(sock), "-n", "k8s.io", *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout


def test_an_image_that_went_missing_is_imported_again(tmp_path: Path, containerd: Path) -> None:
    images, digest = _images_dir(tmp_path)
    state = tmp_path / "state-dir"
    assert _import(images, containerd, state).returncode == 0
    _ctr(containerd, "images", "rm", REF)  # e.g. removed by hand: the stamp still says "imported"
    again = _import(images, containerd, state)
    assert again.returncode == 0, again.stderr
    assert "not in containerd; importing again" in again.stderr
    assert REF in _ctr(containerd, "images", "ls", "-q").split()


def test_an_image_with_missing_content_is_imported_again(tmp_path: Path, containerd: Path) -> None:
    images, digest = _images_dir(tmp_path)
    state = tmp_path / "state-dir"
    assert _import(images, containerd, state).returncode == 0
    archive = ["tar", "-xOf", str(images / "pause.oci.tar"), f"blobs/sha256/{digest.removeprefix('sha256:')}"]
    manifest = json.loads(subprocess.run(archive, capture_output=True, check=True).stdout)
    layer = manifest["layers"][0]["digest"]
    _ctr(containerd, "content", "rm", layer)
    assert "incomplete" in _ctr(containerd, "images", "check")
    again = _import(images, containerd, state)
    assert again.returncode == 0, again.stderr
    assert "blobs are missing from the content store; importing again" in again.stderr
    assert "complete (2/2)" in _ctr(containerd, "images", "check")


def test_kubelet_and_first_boot_units_require_the_import(tmp_path: Path) -> None:
    """Run the pinned recipe's real do_install; the drop-ins make kubeadm's units Require= the import."""
    from tests.etcd.recipe import install
    from tests.images.test_images_list import _pinned_matrix_data, _render_airgap

    text = _render_airgap(_pinned_matrix_data())
    bb = tmp_path / "k8s-airgap-images.bb"
    bb.write_text(text)
    build = tmp_path / "build"
    build.mkdir()
    (build / "pause.oci.tar").write_bytes(b"")
    root = tmp_path / "root"
    install(bb, root, "k8s-airgap-images", {"S": str(FILES), "B": str(build)})
    unitdir = root / "usr/lib/systemd/system"
    for unit in ("kubelet", "k8s-join", "k8s-init"):
        dropin = (unitdir / f"{unit}.service.d/30-rcar-k8s-images.conf").read_text()
        assert "Requires=k8s-images-import.service" in dropin and "After=k8s-images-import.service" in dropin
    # systemd itself accepts the units with the drop-ins (a typo would be reported here)
    verify_root = tmp_path / "verify"
    shutil.copytree("/lib/systemd/system", verify_root / "usr/lib/systemd/system", symlinks=True)
    shutil.copytree(unitdir, verify_root / "etc/systemd/system", dirs_exist_ok=True)
    join_files = REPO / "meta-rcar-k8s/recipes-kubernetes/k8s-join/files"
    for unit in ("k8s-join.service", "k8s-init.service"):
        shutil.copyfile(join_files / unit, verify_root / "etc/systemd/system" / unit)
    libexec = verify_root / "usr/libexec/rcar-k8s"
    libexec.mkdir(parents=True)
    for script in ("k8s-join", "k8s-init", "k8s-images-import"):
        (libexec / script).write_text("#!/bin/sh\n")
        (libexec / script).chmod(0o755)
    res = subprocess.run(
        [
            require_tool("systemd-analyze"),
            "verify",
            "--man=no",
            "--generators=no",
            f"--root={verify_root}",
            "k8s-join.service",
            "k8s-init.service",
            "k8s-images-import.service",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr
