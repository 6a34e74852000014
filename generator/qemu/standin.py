"""The CI stand-in: a Debian 12 arm64 image that plays the Yocto qemuarm64 node image, plus our node files.

``scripts/build-standin.sh`` builds (and caches) the plain image: Debian's arm64 kernel, a busybox
initramfs and ``base.ext4`` (systemd, containerd, runc, kmod, iptables, timesyncd; hostname
``qemuarm64``; no Kubernetes configuration). ``prepare()`` copies ``base.ext4`` and writes the layer's
own files into the copy with ``debugfs`` (no mount, no root needed for this step), then enables the
units the layer's systemd preset names with the host's real ``systemctl --root`` and copies the
symlinks it made - what Yocto's rootfs step does with the same preset file.

Stand-in limits, reported as notes, never hidden: without the row's runtime test builds
(``rcar-k8s runtime-build``; ``generator.qemu.standin_runtime`` installs them) containerd is Debian's
1.6, which cannot read a version 3/4 config (containerd 2.x), so that file is left out; kubelet and
kubeadm are not packaged in Debian (nor buildable here), so their checks are skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from generator import paths, program
from generator.errors import UserError
from generator.matrix.model import Row
from generator.qemu import ext4
from generator.qemu.machine import BootSpec
from generator.qemu.standin_runtime import RuntimeOverlay as StandinRuntime

DEFAULT_CACHE = Path(os.environ.get("RCAR_K8S_STANDIN_CACHE", "/var/tmp/rcar-k8s-standin"))
BUILD_SCRIPT = "scripts/build-standin.sh"
ETCD_RECIPE = "meta-rcar-k8s/recipes-kubernetes/etcd-tmpfs"
UNITDIR = "/usr/lib/systemd/system"


@dataclass
class Standin:
    dir: Path
    info: dict[str, object]

    @property
    def base(self) -> Path:
        return self.dir / "base.ext4"


@dataclass
class Overlay:
    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    enable: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # bytes the stand-in needs that are not the layer's (test builds, test images): written, not checked
    payload: dict[str, bytes] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)


def build(cache: Path = DEFAULT_CACHE) -> Standin:
    script = paths.repo_root() / BUILD_SCRIPT
    if not script.is_file():
        raise UserError(f"{script} not found: run from a meta-rcar-k8s checkout (or set RCAR_K8S_ROOT)")
    env = dict(os.environ, RCAR_K8S_STANDIN_CACHE=str(cache))
    proc = subprocess.run(["bash", str(script)], env=env, stdout=subprocess.PIPE, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise UserError(
            f"building the stand-in failed (exit {proc.returncode}); see the messages above "
            f"from {BUILD_SCRIPT} (needs root and the Debian archive)"
        )
    out = Path(lines[-1])
    return Standin(out, json.loads((out / "info.json").read_text()))


def boot_spec(st: Standin, rootfs: Path) -> BootSpec:
    # KPTI (forced on by KASLR) and mitigations double TCG boot time; the stand-in's kernel is not under test
    return BootSpec(
        kernel=st.dir / "vmlinuz",
        initrd=st.dir / "initrd.gz",
        rootfs=rootfs,
        append=["nokaslr", "kpti=0", "mitigations=off"],
        source=f"stand-in {st.dir}",
    )


def _preset_units(files: dict[str, bytes]) -> list[str]:
    units: list[str] = []
    for path, data in sorted(files.items()):
        if "/system-preset/" in path and path.endswith(".preset"):
            for ln in data.decode().splitlines():
                parts = ln.split()
                if len(parts) >= 2 and parts[0] == "enable" and parts[1] not in units:
                    units.append(parts[1])
    return units


# Yocto's defaults for the variables the etcd-tmpfs recipe uses (poky meta/conf/bitbake.conf)
YOCTO_DIRS = {
    "prefix": "/usr",
    "exec_prefix": "/usr",
    "libexecdir": "/usr/libexec",
    "localstatedir": "/var",
    "sysconfdir": "/etc",
    "datadir": "/usr/share",
    "docdir": "/usr/share/doc",
    "systemd_system_unitdir": "/usr/lib/systemd/system",
}


def _expand(text: str, values: dict[str, str]) -> str:
    for _ in range(10):
        new = re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)
        if new == text:
            break
        text = new
    return text


def _etcd_files(notes: list[str]) -> tuple[dict[str, bytes], dict[str, int], list[str], list[str]]:
    """The etcd-tmpfs recipe's files laid out as its do_install does, @VARS@ resolved by its own seds."""
    root = paths.repo_root()
    rdir = root / ETCD_RECIPE
    bbs = sorted(rdir.glob("etcd-tmpfs_*.bb"))
    if not bbs or not (rdir / "files").is_dir():
        notes.append(f"{ETCD_RECIPE}/*.bb not generated: control-plane etcd files not installed")
        return {}, {}, [], []
    bb = bbs[0].read_text()
    pn = bbs[0].name.split("_")[0]
    values = dict(YOCTO_DIRS, PN=pn)
    for m in re.finditer(r'^(\w+)\s*\??\??=\s*"([^"]*)"', bb, re.M):
        values.setdefault(m.group(1), m.group(2))
    subst = {m.group(1): _expand(m.group(2), values) for m in re.finditer(r"s\|@(\w+)@\|([^|]*)\|g", bb)}
    libexec = _expand(f"${{libexecdir}}/{pn}", values)
    files: dict[str, bytes] = {}
    modes: dict[str, int] = {}
    for f in sorted((rdir / "files").iterdir()):
        text = f.read_text()
        for var, val in subst.items():
            text = text.replace(f"@{var}@", val)
        left = sorted(set(re.findall(r"@([A-Z_]+)@", text)))
        if left:
            notes.append(f"etcd-tmpfs files not installed: {f.name} keeps unresolved {', '.join(left)}")
            return {}, {}, [], []
        if f.suffix in (".service", ".mount", ".timer"):
            target = f"{UNITDIR}/{f.name}"
        elif f.name.endswith(".default"):
            target = f"/etc/default/{f.name.removesuffix('.default')}"
        elif f.name == "README":
            target = f"/usr/share/doc/{pn}/README"
        else:
            target = f"{libexec}/{f.name}"
        files[target] = text.encode()
        modes[target] = 0o755 if os.access(f, os.X_OK) else 0o644
    m = re.search(r'SYSTEMD_SERVICE:\$\{PN\}\s*=\s*"([^"]*)"', bb)
    enable = m.group(1).replace("\\", " ").split() if m else []
    dirs = [_expand(values["ETCD_TMPFS_BACKUP_DIR"], values)] if "ETCD_TMPFS_BACKUP_DIR" in values else []
    notes.append(
        f"control plane: etcd-tmpfs files from {bbs[0].relative_to(root)} installed, "
        f"enabled: {', '.join(enable)}"
    )
    return files, modes, enable, dirs


def _add_runtime(ov: Overlay, rt: StandinRuntime) -> None:
    """The row's runtime test builds replace Debian's containerd/runc (generator.qemu.standin_runtime)."""
    ov.files.update(rt.files)
    ov.payload.update(rt.payload)
    ov.modes.update(rt.modes)
    ov.remove += [p for p in rt.remove if p not in ov.remove]
    ov.enable += [u for u in rt.enable if u not in ov.enable]
    ov.notes += rt.notes


def overlay_for(
    row: Row,
    role: str,
    info: dict[str, object],
    drop: list[str] | None = None,
    runtime: StandinRuntime | None = None,
) -> Overlay:
    """The layer's node files for ``role`` as the stand-in can take them (with ``runtime``: all of them)."""
    from generator.layer import node_files as nf

    ov = Overlay(files=dict(nf.node_files(row, role)))
    ov.modes = dict(nf.modes(row, role)) if hasattr(nf, "modes") else {}
    cfg = ov.files.get("/etc/containerd/config.toml", b"")
    debian_1x = str(info.get("containerd", "")).startswith("1.")  # Debian's 1.6 reads version 2 only
    if runtime is None and debian_1x and re.search(rb"^version\s*=\s*[34]", cfg, re.M):
        del ov.files["/etc/containerd/config.toml"]
        ov.notes.append(
            f"/etc/containerd/config.toml not installed: it is a containerd {row.version('containerd')} "
            f"config; the stand-in's containerd {info.get('containerd')} reads version 2 only, so it runs "
            f"with its built-in defaults (build the pinned runtime: rcar-k8s runtime-build --k8s {row.minor})"
        )
    for p in drop or []:
        if p not in ov.files:
            raise UserError(
                f"--standin-drop {p}: not a node file; choose one of {', '.join(sorted(ov.files))}"
            )
        del ov.files[p]
        ov.notes.append(f"{p} left out on purpose (--standin-drop)")
    ov.enable = _preset_units(ov.files)
    if runtime is not None:
        _add_runtime(ov, runtime)
    if role == "control-plane":
        ef, em, eu, ed = _etcd_files(ov.notes)
        ov.dirs += ed
        ov.files.update(ef)
        ov.modes.update(em)
        ov.enable += [u for u in eu if u not in ov.enable]
    # The layer ships no /etc/hostname (first boot derives a unique one); a Yocto image without
    # our layer has hostname = MACHINE, as the plain stand-in does.
    if "/usr/lib/systemd/system/rcar-k8s-hostname.service" in ov.files:
        ov.remove.append("/etc/hostname")
    return ov


def _enable_links(image: Path, files: dict[str, bytes], units: list[str]) -> dict[str, str]:
    """Symlinks `systemctl --root enable UNITS` makes, computed in a scratch root holding the unit files."""
    if not units:
        return {}
    with tempfile.TemporaryDirectory(prefix="standin-enable.") as tmp:
        scratch = Path(tmp)
        (scratch / "etc/systemd/system").mkdir(parents=True)
        for unit in units:
            path = f"{UNITDIR}/{unit}"
            data = files.get(path)
            if data is None:  # a unit the image ships itself (e.g. Debian's systemd-timesyncd.service)
                for cand in (
                    f"/lib/systemd/system/{unit}",
                    f"{UNITDIR}/{unit}",
                    f"/etc/systemd/system/{unit}",
                ):
                    data = ext4.read(image, cand)
                    if data:
                        break
            if data is None:
                raise UserError(
                    f"the layer's preset enables {unit}, but neither the layer nor the stand-in has it"
                )
            dst = scratch / path.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
        program.run(
            ["systemctl", f"--root={scratch}", "enable", *units],
            what=f"systemctl --root enable {' '.join(units)} failed",
            fix="the units (and their [Install] sections) must be valid for systemctl --root enable",
        )
        links = {}
        for p in (scratch / "etc").rglob("*"):
            if p.is_symlink():
                links["/" + str(p.relative_to(scratch))] = os.readlink(p)
        return links


def prepare(st: Standin, ov: Overlay | None, out: Path) -> Path:
    """A copy of the stand-in's base image with ``ov`` applied (None: the plain image, untouched)."""
    if ov is None:
        return st.base
    out.parent.mkdir(parents=True, exist_ok=True)
    program.run(["cp", "--sparse=always", str(st.base), str(out)], fix=f"free space in {out.parent}")
    if ov.payload:
        _grow(out, ov.payload)
    links = _enable_links(st.base, ov.files, ov.enable)
    with tempfile.TemporaryDirectory(prefix="standin-files.") as tmp:
        script = ext4.Script()
        for p in ov.remove:
            script.rm(p)
        for d in ov.dirs:
            script.dir(d, ov.modes.get(d, 0o700))
        for i, (path, data) in enumerate(sorted({**ov.payload, **ov.files}.items())):
            src = Path(tmp) / f"f{i}"
            src.write_bytes(data)
            script.put(src, path, ov.modes.get(path, 0o755 if data.startswith(b"#!") else 0o644))
        for path, target in sorted({**ov.symlinks, **links}.items()):
            script.symlink(path, target)
        script.apply(out)
    # prove what landed: every file reads back byte for byte
    for path, data in ov.files.items():
        if ext4.read(out, path) != data:
            raise UserError(f"writing {path} into {out} with debugfs did not stick")
    return out


def _grow(image: Path, payload: dict[str, bytes]) -> None:
    """Room for the payload (runtime binaries, images, and what containerd unpacks from them)."""
    extra_mb = 3 * sum(map(len, payload.values())) // (1 << 20) + 256
    size = image.stat().st_size
    os.truncate(image, size + extra_mb * (1 << 20))
    program.run(["resize2fs", "-f", str(image)], what=f"resize2fs {image} failed", fix=ext4.IMAGE_FIX)


def overlay_digest(ov: Overlay | None) -> str:
    h = hashlib.sha256()
    if ov:
        for p in sorted(ov.files):
            h.update(p.encode() + b"\0" + ov.files[p])
        for p in sorted(ov.payload):
            h.update(p.encode() + b"\0" + ov.payload[p])
        h.update(repr((sorted(ov.remove), ov.enable)).encode())
    return h.hexdigest()[:12]


def cleanup(path: Path, st: Standin) -> None:
    if path != st.base and path.exists():
        path.unlink()
        shutil.rmtree(path.parent, ignore_errors=True) if not any(path.parent.iterdir()) else None


# ---- boot what the recipes install (issue 14) ----------------------------------------------------
# `rcar-k8s check --recipes` runs the layer's recipes under BitBake and splits each D into packages
# with poky's code; <build dir>/rcar-k8s-recipes/<machine>/recipes.json maps every package an image
# installs to its split directory. Those trees, not node_files, are what a real image gets.
STUB_MARK = b"stand-in for upstream's"


def runs_recipe_runtime(ov: Overlay) -> bool:
    """The recipe output carries containerd itself: containerd-bin's download was the `rcar-k8s
    runtime-build` test build (stubs of upstream binaries are never laid over the stand-in)."""
    return "/usr/bin/containerd" in ov.files


def overlay_from_recipes(run_json: Path, image: str, info: dict[str, object]) -> Overlay:
    """The packages ``image`` installs from this layer, as the recipe run produced them.

    Presets: poky's systemd.bbclass writes 98-<pkg>.preset into each package and the rootfs step
    enables what the presets name (image.bbclass: systemctl --root preset-all); ``prepare`` does the
    same with the host's systemctl. Left out, with a note: stubs standing in for upstream binaries
    the recipe run had no real build of (the stand-in keeps its own), and a containerd config
    version 3+ the stand-in's containerd 1.x cannot read. When the recipe run had the runtime-build
    test builds (recipe_run.make_download), their containerd and runc replace Debian's instead.
    """
    try:
        summary = json.loads(run_json.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(
            f"{run_json}: not a recipe-run result ({exc}); run `rcar-k8s check --recipes` first"
        ) from None
    if summary.get("errors"):
        raise UserError(f"{run_json}: that recipe run failed ({summary['errors'][0]}); fix it first")
    if image not in summary.get("images", {}):
        raise UserError(f"{run_json} has no image {image} (it has: {', '.join(summary.get('images', {}))})")
    ov = Overlay()
    ov.notes.append(f"layer files from the recipe run {run_json} ({summary.get('machine')}), image {image}")
    stubs: list[str] = []
    for pkg, root in sorted(summary["images"][image]["rootfs"].items()):
        base = Path(root)
        for p in sorted(base.rglob("*")):
            path = "/" + str(p.relative_to(base))
            if p.is_symlink():
                ov.symlinks[path] = os.readlink(p)
            elif p.is_dir():
                if not any(p.iterdir()):
                    ov.dirs.append(path)
                    ov.modes[path] = p.stat().st_mode & 0o7777
            else:
                data = p.read_bytes()
                if STUB_MARK in data[:200]:
                    stubs.append(f"{path} ({pkg})")
                    continue
                ov.files[path] = data
                ov.modes[path] = p.stat().st_mode & 0o7777
    if stubs:
        ov.notes.append(
            "not laid over the stand-in (stubs of upstream binaries; it keeps its own): " + ", ".join(stubs)
        )
    cfg = ov.files.get("/etc/containerd/config.toml", b"")
    if runs_recipe_runtime(ov):
        # containerd-bin's download was the `rcar-k8s runtime-build` test build (the recipe run takes
        # them where cached; stubs were left out above): the recipes' runtime runs, as with --standin's
        # runtime overlay, so Debian's own containerd and runc (first in PATH: /usr/sbin) go
        from generator.qemu.standin_runtime import DEBIAN_RUNTIME

        gone = [p for p in DEBIAN_RUNTIME if p not in ov.files]
        ov.remove += gone
        ov.notes.append(
            "the recipe run's containerd is a runtime-build test build: Debian's containerd/runc removed "
            f"({', '.join(gone)})"
        )
    elif re.search(rb"^version\s*=\s*[34]", cfg, re.M) and str(info.get("containerd", "")).startswith("1."):
        del ov.files["/etc/containerd/config.toml"]
        ov.notes.append(
            f"/etc/containerd/config.toml (config version 3+) not installed: the stand-in's "
            f"containerd {info.get('containerd')} reads version 2 only"
        )
    ov.enable = _preset_units(ov.files)
    if f"{UNITDIR}/rcar-k8s-hostname.service" in ov.files:
        ov.remove.append("/etc/hostname")
    return ov
