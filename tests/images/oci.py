"""Build a real (tiny) linux/arm64 image as content-addressed blobs, the way a registry serves them.

Fixtures look like the real world, not like our own writer: registries serve manifests as compact
JSON in the producer's key order (``schemaVersion``, ``mediaType``, ``config``, ``layers``), so the
top-level ``mediaType`` comes *before* the config's and the layers'. ``style`` picks:

- ``oci``: OCI image manifest, compact, mediaType first (registry.k8s.io serves pause like this);
- ``oci-pretty``: the same manifest indented, one key per line (what ``crane manifest | jq`` shows);
- ``docker``: Docker Image Manifest V2, Schema 2 (Docker Hub and older registries), compact;
- ``oci-no-mediatype``: OCI manifest without the optional top-level mediaType.

The generator's stand-in uses ``generator.qemu.airgap`` to make its images; this module stays the
tests' own, independent writer.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA = {
    "oci": (
        OCI_MANIFEST,
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    "docker": (
        DOCKER_MANIFEST,
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ),
}
STYLES = ("oci", "oci-pretty", "docker", "oci-no-mediatype")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_json(style: str, config: bytes, layer: bytes) -> bytes:
    kind = "docker" if style == "docker" else "oci"
    top, cfg_type, layer_type = MEDIA[kind]
    doc: dict[str, object] = {"schemaVersion": 2}
    if style != "oci-no-mediatype":
        doc["mediaType"] = top
    doc["config"] = {"mediaType": cfg_type, "size": len(config), "digest": _digest(config)}
    doc["layers"] = [{"mediaType": layer_type, "size": len(layer), "digest": _digest(layer)}]
    if style == "oci-pretty":
        return json.dumps(doc, indent=3).encode()
    return json.dumps(doc, separators=(",", ":")).encode()


def build_blobs(
    out: Path, payload: bytes = b"hello from rcar-k8s\n", style: str = "oci"
) -> tuple[str, list[Path]]:
    """Write layer, config and manifest blobs into ``out``; return (manifest digest, blob files)."""
    out.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("etc/rcar-k8s-test")
        info.size, info.mtime, info.mode = len(payload), 0, 0o644
        tar.addfile(info, io.BytesIO(payload))
    layer_tar = raw.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    # image config as Go's encoding/json writes it: compact, struct field order
    config = json.dumps(
        {
            "architecture": "arm64",
            "config": {"Cmd": ["/pause"]},
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer_tar)]},
        },
        separators=(",", ":"),
    ).encode()
    manifest = manifest_json(style, config, layer)
    files = []
    for name, data in (("manifest", manifest), ("config", config), ("layer", layer)):
        path = out / f"{name}.blob"
        path.write_bytes(data)
        files.append(path)
    return _digest(manifest), files
