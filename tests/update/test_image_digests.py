"""The registry step of `matrix update`: image index digests and linux/arm64 manifests, and its faults.

The registry world (fixtures/build.py ``registry_world``): registry.k8s.io answers manifests with a 307
to its Artifact Registry backend (anonymous); ghcr.io answers 401 + a Bearer challenge and hands out an
anonymous token. Digests of indexes and arm64 manifests are the sha256 of the served bodies.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from tests.update.helpers import fixture_text, snapshot

DATE = "2026-12-20"
FIX = Path(__file__).resolve().parent / "fixtures"
_spec = importlib.util.spec_from_file_location("fixture_build", FIX / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

K8S = "https://registry.k8s.io/v2"
PAUSE = f"{K8S}/pause/manifests/3.10.1"
PAUSE_AR = f"{build.AR}/pause/manifests/3.10.1?rid={build.RID}"
FLANNEL = "https://ghcr.io/v2/flannel-io/flannel/manifests/v0.28.9"
FLANNEL_TOKEN = "https://ghcr.io/token?service=ghcr.io&scope=repository%3Aflannel-io%2Fflannel%3Apull"


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _data(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _entries(data: dict) -> list[tuple[str, dict]]:
    out = [("addons/kube-vip", data["addons"]["kube-vip"])]
    for row in data["rows"]:
        c = row["components"]
        out += [(f"{row['k8s']}/{n}", e) for n, e in c["kubernetes"]["images"].items()]
        out += [(f"{row['k8s']}/{n}", c[n]) for n in ("pause", "coredns", "etcd", "flannel")]
        out.append((f"{row['k8s']}/flannel-cni-plugin", c["flannel"]["cni_plugin_image"]))
    return out


def _served(image: str) -> str:
    """The body the fixture registry serves for an image tag (after registry.k8s.io's redirect)."""
    host, rest = image.split("/", 1)
    name, tag = rest.rsplit(":", 1)
    if host == "registry.k8s.io":
        return fixture_text(f"{build.AR}/{name}/manifests/{tag}?rid={build.RID}")
    return fixture_text(f"https://{host}/v2/{name}/manifests/{tag}")


def _arm64_body(image: str, digest: str) -> str:
    host, rest = image.split("/", 1)
    name = rest.rsplit(":", 1)[0]
    if host == "registry.k8s.io":
        return fixture_text(f"{build.AR}/{name}/manifests/{digest}?rid={build.RID}")
    return fixture_text(f"https://{host}/v2/{name}/manifests/{digest}")


def test_full_update_pins_every_image_by_digest(upstream, matrix_file: Path, update, monkeypatch) -> None:
    secret = "ghp_FIXTURESECRET0123456789"
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    result = update("--matrix", str(matrix_file), "--date", DATE)
    assert result.code == 0, result
    data = _data(matrix_file)
    entries = _entries(data)
    assert len(entries) == 1 + 4 * 9  # kube-vip + 4 rows (1.38 is new) x 9 images
    for where, e in entries:
        index_body = _served(e["image"])
        index = json.loads(index_body)
        assert e["digest"] == sha(index_body), where  # the bytes served for the tag, hashed here
        arm = [m for m in index["manifests"] if m.get("platform", {}).get("architecture") == "arm64"]
        assert [m["platform"] for m in arm] == [{"architecture": "arm64", "os": "linux", "variant": "v8"}]
        assert e["arm64"]["manifest"] == arm[0]["digest"], where
        manifest = json.loads(_arm64_body(e["image"], arm[0]["digest"]))
        assert e["arm64"]["config"] == manifest["config"]["digest"]
        assert e["arm64"]["layers"] == [layer["digest"] for layer in manifest["layers"]]
        assert "unconfirmed" not in e and "image_unconfirmed" not in e, where
        assert e["digest_source"].endswith(e["image"].split("/", 1)[1].replace(":", "/manifests/", 1))
        assert e["digest_source"].startswith("https://" + e["image"].split("/")[0].replace("docker.io", ""))
    rows = {r["k8s"]: r["components"] for r in data["rows"]}
    # the tags follow the new versions, and the digests are the new tags' ones
    assert rows["1.36"]["kubernetes"]["images"]["kube-apiserver"]["image"].endswith(":v1.36.5")
    assert rows["1.38"]["etcd"]["image"] == "registry.k8s.io/etcd:3.7.1-0" and rows["1.38"]["etcd"]["digest"]
    assert "1.36  kubernetes   digest kube-apiserver: unconfirmed -> sha256:" in result.out
    assert "addons  kube-vip     digest kube-vip: unconfirmed -> sha256:" in result.out

    ghcr = [r for r in upstream.request_history if r.hostname == "ghcr.io"]
    assert ghcr and all(
        secret not in str(r.headers) for r in upstream.request_history if r.hostname != "api.github.com"
    )
    authed = [r for r in ghcr if "/v2/" in r.path and "Authorization" in r.headers]
    assert authed and {r.headers["Authorization"] for r in authed if "flannel-io/flannel/" in r.path} == {
        "Bearer " + build.ghcr_token("flannel-io/flannel")
    }
    # registry.k8s.io's redirect was followed to the backend, and the Accept header asks for every type
    pause = [r for r in upstream.request_history if r.url == PAUSE]
    assert pause and "application/vnd.oci.image.index.v1+json" in pause[0].headers["Accept"]
    assert "application/vnd.docker.distribution.manifest.list.v2+json" in pause[0].headers["Accept"]
    assert any(r.url == PAUSE_AR for r in upstream.request_history)
    # nothing secret reached the cache
    for f in update.cache.iterdir():
        text = f.read_text()
        assert secret not in text and build.ghcr_token("flannel-io/flannel") not in text


def test_only_images_changes_digests_and_nothing_else(upstream, matrix_file: Path, update) -> None:
    result = update("--matrix", str(matrix_file), "--date", DATE, "--only", "images")
    assert result.code == 0, result
    changed = {
        ln.split()[2] for ln in result.out.splitlines() if ln.startswith("  1.") or ln.startswith("  addons")
    }
    assert changed == {"digest"}
    data = _data(matrix_file)
    k136 = data["rows"][1]["components"]["kubernetes"]
    assert k136["version"] == "1.36.4" and k136["images"]["kube-proxy"]["image"].endswith(":v1.36.4")
    assert k136["images"]["kube-proxy"]["digest"] == sha(_served("registry.k8s.io/kube-proxy:v1.36.4"))
    assert not any(r.hostname in ("api.github.com", "dl.k8s.io") for r in upstream.request_history)


def test_only_kubernetes_reads_the_images_of_the_tags_it_moved(upstream, matrix_file: Path, update) -> None:
    result = update("--matrix", str(matrix_file), "--date", DATE, "--only", "kubernetes")
    assert result.code == 0, result
    rows = {r["k8s"]: r["components"] for r in _data(matrix_file)["rows"]}
    assert rows["1.36"]["kubernetes"]["images"]["kube-apiserver"]["digest"] == sha(
        _served("registry.k8s.io/kube-apiserver:v1.36.5")
    )
    assert rows["1.35"]["kubernetes"]["images"]["kube-apiserver"]["digest"] is None  # its tag did not move
    assert rows["1.36"]["pause"]["digest"] is None  # not this component's


def test_single_arch_arm64_image_is_used_directly(upstream, matrix_file: Path, update) -> None:
    config = json.dumps(
        {"architecture": "arm64", "os": "linux", "variant": "v8", "rootfs": {"type": "layers"}}
    )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": build.OCI_MANIFEST,
            "config": {"mediaType": build.OCI_CONFIG, "size": len(config), "digest": sha(config)},
            "layers": [{"mediaType": build.OCI_LAYER, "size": 311, "digest": "sha256:" + "a" * 64}],
        }
    )
    upstream.get(
        PAUSE_AR,
        text=manifest,
        headers={"Content-Type": build.OCI_MANIFEST, "Docker-Content-Digest": sha(manifest)},
    )
    upstream.get(f"{K8S}/pause/blobs/{sha(config)}", text=config)
    result = update("--matrix", str(matrix_file), "--date", DATE, "--only", "images")
    assert result.code == 0, result
    pause = _data(matrix_file)["rows"][0]["components"]["pause"]
    assert pause["digest"] == sha(manifest)
    assert pause["arm64"] == {
        "manifest": sha(manifest),
        "config": sha(config),
        "layers": ["sha256:" + "a" * 64],
    }


def test_a_moved_tag_is_an_error_not_an_update(upstream, matrix_file: Path, update) -> None:
    assert update("--matrix", str(matrix_file), "--date", DATE).code == 0
    before = snapshot(matrix_file)
    moved = _served("ghcr.io/flannel-io/flannel:v0.28.9").replace('"size":', '"size": ', 1)
    _serve_ghcr(upstream, FLANNEL, moved)
    result = update("--matrix", str(matrix_file), "--date", DATE)
    assert result.code == 3, result
    assert result.err.startswith(f"rcar-k8s: error: {FLANNEL}: tag now serves {sha(moved)}")
    assert "moved image tag needs a human look" in result.err and len(result.err.strip().splitlines()) == 1
    assert snapshot(matrix_file) == before


def _serve_ghcr(upstream, url: str, body: str, headers: dict | None = None, status: int = 200) -> None:
    token = build.ghcr_token("flannel-io/flannel")

    def respond(request, context):
        if request.headers.get("Authorization") != f"Bearer {token}":
            context.status_code = 401
            context.headers["WWW-Authenticate"] = (
                'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:flannel-io/flannel:pull"'
            )
            return "{}"
        context.status_code = status
        context.headers.update(
            headers
            if headers is not None
            else {"Content-Type": build.OCI_INDEX, "Docker-Content-Digest": sha(body)}
        )
        return body

    upstream.get(url, text=respond)


INDEX = json.loads(fixture_text(PAUSE_AR))
NO_ARM64 = json.dumps(
    {**INDEX, "manifests": [m for m in INDEX["manifests"] if m["platform"]["architecture"] != "arm64"]}
)
ARM64_DIGEST = next(m["digest"] for m in INDEX["manifests"] if m["platform"]["architecture"] == "arm64")
ARM64_AR = f"{build.AR}/pause/manifests/{ARM64_DIGEST}?rid={build.RID}"
ARM64_URL = f"{K8S}/pause/manifests/{ARM64_DIGEST}"
PAUSE_INDEX = fixture_text(PAUSE_AR)

REGISTRY_FAULTS = {
    "401 without a token realm": (
        FLANNEL,
        {
            "status_code": 401,
            "headers": {"WWW-Authenticate": 'Basic realm="GitHub Package Registry"'},
            "text": "{}",
        },
        "registry requires authentication (HTTP 401) but offers no bearer token realm",
    ),
    "401 without any challenge": (
        FLANNEL,
        {"status_code": 401, "text": "{}"},
        "offers no bearer token realm (WWW-Authenticate: none)",
    ),
    "token endpoint without a token": (
        FLANNEL_TOKEN,
        {"text": '{"errors":[{"code":"DENIED"}]}', "headers": {"Content-Type": "application/json"}},
        "not a registry token response",
    ),
    "404 manifest": (
        PAUSE_AR,
        {
            "status_code": 404,
            "headers": {"Content-Type": "application/json"},
            "text": '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"Failed to fetch \\"3.10.1\\""}]}',
        },
        "not found (HTTP 404)",
    ),
    "no arm64 in the index": (
        PAUSE_AR,
        {
            "text": NO_ARM64,
            "headers": {"Content-Type": build.OCI_INDEX, "Docker-Content-Digest": sha(NO_ARM64)},
        },
        "no linux/arm64 image in the index (platforms: linux/amd64, linux/arm/v7, linux/ppc64le, "
        "linux/s390x)",
    ),
    "digest header mismatch": (
        PAUSE_AR,
        {
            "text": PAUSE_INDEX,
            "headers": {"Content-Type": build.OCI_INDEX, "Docker-Content-Digest": "sha256:" + "0" * 64},
        },
        "but the registry says Docker-Content-Digest sha256:" + "0" * 64,
    ),
    "truncated index": (
        PAUSE_AR,
        {
            "text": PAUSE_INDEX[:200],
            "headers": {"Content-Type": build.OCI_INDEX, "Docker-Content-Digest": sha(PAUSE_INDEX)},
        },
        "damaged or truncated transfer",
    ),
    "truncated index without a digest header": (
        PAUSE_AR,
        {"text": PAUSE_INDEX[:200], "headers": {"Content-Type": build.OCI_INDEX}},
        "response is not valid JSON",
    ),
    "arm64 manifest not matching its digest": (
        ARM64_AR,
        {"text": fixture_text(ARM64_AR)[:-2] + "}", "headers": {"Content-Type": build.OCI_MANIFEST}},
        f"not the requested {ARM64_DIGEST}",
    ),
    "unsupported media type": (
        PAUSE_AR,
        {
            "text": json.dumps(
                {"schemaVersion": 2, "mediaType": "application/vnd.oci.artifact.manifest.v1+json"}
            ),
            "headers": {"Content-Type": "application/vnd.oci.artifact.manifest.v1+json"},
        },
        "unsupported manifest media type application/vnd.oci.artifact.manifest.v1+json",
    ),
}
FAULT_URL = {PAUSE_AR: PAUSE, ARM64_AR: ARM64_URL}  # errors name the registry.k8s.io URL, not the backend


@pytest.mark.parametrize("fault", REGISTRY_FAULTS)
def test_registry_faults_leave_the_matrix_untouched(fault: str, upstream, matrix_file: Path, update) -> None:
    url, response, message = REGISTRY_FAULTS[fault]
    upstream.get(url, **response)
    before = snapshot(matrix_file)
    result = update("--matrix", str(matrix_file), "--date", DATE, "--only", "images")
    assert result.code == 3, (fault, result)
    err = result.err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"rcar-k8s: error: {FAULT_URL.get(url, url)}: "), err
    assert message in err, err
    assert "Bearer " not in err and build.ghcr_token("flannel-io/flannel") not in err
    assert snapshot(matrix_file) == before
    assert list(matrix_file.parent.glob(".*")) == []  # no temp file left behind
