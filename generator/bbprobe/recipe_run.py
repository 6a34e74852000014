#!/usr/bin/env python3
"""Run this layer's recipes for real and check their packaging the way Yocto does.

Run by `rcar-k8s check --recipes` inside `kas shell` (host python3 + BitBake's lib via tinfoil), in
the kas build dir, as the unprivileged build user. Standalone on purpose (no generator import).

For every recipe of LAYER that IMAGE installs (the image's runtime closure: PACKAGE_INSTALL plus
RDEPENDS/RRECOMMENDS resolved by BitBake's runtime providers), with the datastore BitBake itself
parsed for this MACHINE/DISTRO (tinfoil.parse_recipe_file, bbappends applied):

1. tasks   -- the recipe's own do_unpack, do_configure, do_compile and do_install, expanded and run
              by BitBake's bb.build.exec_func with their [dirs]/[cleandirs]/pre-/postfuncs, each
              recipe in its own WORKDIR (so D, S, B, T all move with it). Not reproduced: do_fetch
              (DL_DIR gets, per download, the `rcar-k8s runtime-build` test build of upstream's file
              name and tag from --runtime-cache, byte for byte, else an archive of upstream's name and
              layout made here with stub scripts; never upstream's bytes: the sha256 check is
              skipped, never satisfied), the
              extend_recipe_sysroot prefunc (nothing here builds against a sysroot) and pseudo:
              do_install runs as the build user, so files are owned by it, not root.
2. package -- poky's own packaging code on that D: perform_packagecopy (D -> PKGD) and the
              recipe's PACKAGESPLITFUNCS (systemd_populate_packages, package_do_split_locales,
              populate_packages with FILES globbing and the installed-vs-shipped QA check).
              fixup_perms is not run (it chowns to root: pseudo's job).
3. checks  -- on the split packages: a SYSTEMD_SERVICE unit outside its package, an empty package
              the image installs, a unit whose Exec*= names a path no installed package ships, a
              .timer/.path whose unit is not shipped, a file that two recipes both ship.

    recipe_run.py --out DIR --layer DIR --downloads DIR [--runtime-cache DIR] [--extra FILE.bb]...
                  [--only-extra] IMAGE...

--runtime-cache DIR is `rcar-k8s runtime-build`'s cache (default $RCAR_K8S_RUNTIME_CACHE; `kas shell`
does not pass that variable on, so `rcar-k8s check --recipes` gives the option).

--extra FILE.bb runs that recipe file too (a deliberately broken copy, say); it replaces the layer
recipe of the same PN. --only-extra runs just the extra files, as if every image installed them.
Prints "RECIPE ..." / "ERROR ..." lines, then "RECIPES {json}" and a last line "RECIPES OK ..." or
"RECIPES FAIL ...". Exit 0/1.
"""

import getpass
import json
import logging
import os
import re
import shutil
import sys
import time
import traceback

TASKS = ["do_unpack", "do_patch", "do_configure", "do_compile", "do_install"]
# prefuncs that need what a real build has and a recipe run does not (see the docstring)
SKIP_FUNCS = {"extend_recipe_sysroot"}
# package suffixes an image never installs by default
AUX = ("-dbg", "-dev", "-staticdev", "-doc", "-locale", "-src", "-ptest")

# Exec*= paths that packages from outside this layer ship, and the packages that ship them (any one
# installed is enough; usrmerge: /bin, /sbin are /usr/bin, /usr/sbin). Sources, poky scarthgap
# (1d54d1c4): meta/recipes-kernel/kmod/kmod_31.bb ALTERNATIVE_LINK_NAME[modprobe] = base_sbindir;
# meta/recipes-core/util-linux/util-linux_2.39.3.bb ALTERNATIVE_LINK_NAME[swapoff] = base_sbindir,
# [kill] = base_bindir, one package per program (util-linux-swapoff, util-linux-kill);
# meta/recipes-core/coreutils/coreutils_9.4.bb base_bindir_progs (true, false, kill).
EXTERNAL = {
    "/usr/sbin/modprobe": ("kmod",),
    "/usr/sbin/swapoff": ("util-linux-swapoff",),
    "/usr/sbin/swapon": ("util-linux-swapon",),
    "/usr/bin/true": ("coreutils",),
    "/usr/bin/false": ("coreutils",),
    "/usr/bin/kill": ("util-linux-kill", "coreutils"),
    # meta/recipes-core/busybox/busybox.inc: ALTERNATIVE:${PN} from busybox.links, which lists /bin/sh;
    # meta/recipes-extended/bash/bash.inc: ALTERNATIVE:${PN} = "bash sh" (ALTERNATIVE_LINK_NAME[sh] =
    # ${base_bindir}/sh)
    "/usr/bin/sh": ("busybox", "bash"),
}

# chown by user name in do_install works in a real build: useradd.bbclass adds the recipe's users to
# its sysroot passwd and pseudo records the ownership. A recipe run has neither, so a `chown` shim
# first in PATH records what would have been chowned (reported as NOT applied, never as checked).
CHOWN_SHIM = """#!/bin/sh
echo "chown $*" >> "$RCAR_K8S_OWNERSHIP_LOG"
"""


# Archives of upstream's name and internal layout, made when the runtime cache (below) lacks the
# download; their executables are stub scripts. Layouts, from each project's release recipe:
#   containerd v2.3.4 Makefile pack_release: tar -czf $(RELEASE).tar.gz -C releases/$(RELEASE) bin
#     with BINARIES = bin/{ctr,containerd,containerd-stress} + containerd-shim-runc-v2 (Makefile.linux)
#   containernetworking/plugins v1.9.1 .github/workflows/release.yaml: cp README.md LICENSE bin/;
#     cd bin; tar cfzpv ../dist/cni-plugins-linux-$arch-$tag.tgz .   (members "./bridge", ...)
#   kubernetes-sigs/cri-tools v1.36.0 hack/release.sh: tar zcf crictl-$V-$os-$arch.tar.gz -C ... crictl
#   etcd-io/etcd v3.6.8 scripts/build-binary.sh package(): etcd-$V-linux-$arch/{etcd,etcdctl,etcdutl,
#     README.md,README-etcdctl.md,READMEv2-etcdctl.md,README-etcdutl.md,Documentation/}
#   runc.arm64, kubeadm/kubelet/kubectl: single files (no archive)
CNI_PLUGINS = (
    "bandwidth bridge dhcp dummy firewall host-device host-local ipvlan loopback macvlan "
    "portmap ptp sbr static tap tuning vlan vrf"
).split()
LAYOUTS = [
    (
        r"^containerd-(?P<v>[\d.]+)-linux-arm64\.tar\.gz$",
        [(f"bin/{b}", 0o755) for b in ("ctr", "containerd", "containerd-stress", "containerd-shim-runc-v2")],
    ),
    (
        r"^cni-plugins-linux-arm64-v(?P<v>[\d.]+)\.tgz$",
        [(f"./{b}", 0o755) for b in CNI_PLUGINS] + [("./README.md", 0o644), ("./LICENSE", 0o644)],
    ),
    (r"^crictl-v(?P<v>[\d.]+)-linux-arm64\.tar\.gz$", [("crictl", 0o755)]),
    (
        r"^(?P<top>etcd-v[\d.]+-linux-arm64)\.tar\.gz$",
        [(f"{{top}}/{b}", 0o755) for b in ("etcd", "etcdctl", "etcdutl")]
        + [
            (f"{{top}}/{f}", 0o644)
            for f in (
                "README.md",
                "README-etcdctl.md",
                "READMEv2-etcdctl.md",
                "README-etcdutl.md",
                "Documentation/README.md",
            )
        ],
    ),
    (r"^cri-dockerd-(?P<v>[\d.]+)\.arm64\.tgz$", [("cri-dockerd/cri-dockerd", 0o755)]),
]


def _stub(base):
    return f"#!/bin/sh\n# stand-in for upstream's {base} (recipe run, not executed)\n".encode()


def runtime_artifacts(cache):
    """The test builds `rcar-k8s runtime-build` cached (generator/runtime/build.py): one directory per
    pin, <component>-<tag>-<commit12>-linux-arm64/, whose manifest.json names the file of upstream's
    release name it holds ("archive", e.g. containerd-2.3.4-linux-arm64.tar.gz or runc.arm64) and
    its sha256. Only those manifests are read: nothing else under the cache (gocache, scratch
    checkouts) is ever searched, so no stray binary of the same name can stand in for a download."""
    found = []
    try:
        entries = sorted(os.listdir(cache)) if cache else []
    except FileNotFoundError:
        return found  # not built: any other OSError (an unreadable cache) is the caller's to say
    for entry in entries:
        manifest = os.path.join(cache, entry, "manifest.json")
        if entry == "gocache" or not os.path.isfile(manifest):
            continue
        try:
            with open(manifest) as f:
                man = json.load(f)
        except (OSError, ValueError):
            continue
        name = man.get("archive") if isinstance(man, dict) else None
        if not isinstance(name, str) or os.path.basename(name) != name or not man.get("tag"):
            continue
        path = os.path.join(cache, entry, name)
        if os.path.isfile(path):
            found.append(
                {
                    "name": name,
                    "tag": str(man["tag"]),
                    "path": path,
                    "sha256": str(man.get("sha256", "")),
                    "built": str(man.get("built", "")),
                }
            )
    return found


def find_artifact(url_path, cache):
    """The runtime-build artifact for the download at url_path (the URL's path, bb.fetch2's ud.path):
    the same upstream file name (the URL's last segment, not a downloadfilename= rename: runc-bin
    fetches .../v1.4.3/runc.arm64 as runc.arm64-v1.4.3-linux-arm64) built from the tag the URL names
    (runc.arm64 carries no version, the release path does). The newest build wins."""
    segments = url_path.split("/")
    hits = [a for a in runtime_artifacts(cache) if a["name"] == segments[-1] and a["tag"] in segments]
    return max(hits, key=lambda a: (a["built"], a["path"])) if hits else None


def _copy_hashed(src, dst):
    import hashlib

    h = hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            h.update(chunk)
            fout.write(chunk)
    return h.hexdigest()


def make_download(localpath, cache, url_path, pinned=None):
    """Write DL_DIR/<name> for a download do_fetch is not run for; returns a one-line description.

    The runtime-build artifact of the same upstream name and tag when the cache has one, byte for
    byte; else an archive (or single file) of upstream's name and layout holding stub scripts."""
    import io
    import tarfile

    name = os.path.basename(localpath)
    tmp = localpath + ".tmp"
    try:
        art, ignored = find_artifact(url_path, cache), ""
    except OSError as exc:  # e.g. root's ~/.cache read by the build user: say so, never silently stub
        art, ignored = None, f" (runtime cache {cache} not readable: {exc.strerror})"
    if art:
        sha = _copy_hashed(art["path"], tmp)
        if sha == art["sha256"]:
            os.replace(tmp, localpath)
            pin = f"the recipe pins upstream's {pinned[:12]}..." if pinned else "the recipe pins none"
            return (
                f"{name}: runtime-build artifact {art['path']}, copied byte for byte (sha256 "
                f"{sha[:12]}... is the test build's, not upstream's; {pin}: sha256 check skipped)"
            )
        os.unlink(tmp)
        ignored = f" (runtime-build artifact {art['path']} ignored: its sha256 differs from its manifest)"
    for rx, members in LAYOUTS:
        m = re.match(rx, name)
        if not m:
            continue
        groups = m.groupdict()
        with tarfile.open(tmp, "w:gz") as tar:
            for member, mode in members:
                member = member.format(**groups)
                data = _stub(os.path.basename(member)) if mode & 0o111 else b"stand-in text\n"
                info = tarfile.TarInfo(member)
                info.size, info.mode, info.mtime = len(data), mode, 0
                tar.addfile(info, io.BytesIO(data))
        os.replace(tmp, localpath)
        return f"{name}: made archive of upstream's layout, {len(members)} members (stub scripts){ignored}"
    # a single upstream file (runc.arm64, kubeadm, ...): the URL's last segment is the tool
    tool = re.sub(r"\.arm64$", "", url_path.split("/")[-1]) or name
    with open(tmp, "wb") as f:
        f.write(_stub(tool))
    os.replace(tmp, localpath)
    return f"{name}: made single file (stub script){ignored}"


class Captured(logging.Handler):
    """Collects BitBake's ERROR/WARNING records (bb.error/bb.warn from poky's QA code)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append((record.levelname, record.getMessage()))


def usrmerge(path):
    for old in ("/bin/", "/sbin/", "/lib/"):
        if path.startswith(old):
            return "/usr" + path
    return path


def image_closure(tf, image, bb_data_pkgs, in_layer):
    """(runtime name -> (fn, package)) the image installs, BitBake's provider choice."""
    cd = tf.cooker_data
    d = tf.parse_recipe(image)
    bad = set((d.getVar("BAD_RECOMMENDATIONS") or "").split())
    norecs = d.getVar("NO_RECOMMENDATIONS") == "1"
    out, todo = {}, list((d.getVar("PACKAGE_INSTALL") or "").split())
    while todo:
        name = re.split(r"[\s(]", todo.pop().strip())[0]
        if not name or name in out:
            continue
        fns, best = tf.get_runtime_providers(name) or ([], None)
        fn = best or (list(fns or []) + [None])[0]
        if not fn:
            out[name] = (None, None)
            continue
        pkg = name if fn in cd.packages.get(name, []) else None
        if pkg is None:
            # an RPROVIDES (or a dynamic package): which package of our recipe provides it is read
            # from the recipe; elsewhere the recipe's main package stands for it
            pkg = bb_data_pkgs(fn, name) if in_layer(fn) else cd.pkg_fn.get(fn)
        out[name] = (fn, pkg)
        todo += list(cd.rundeps.get(fn, {}).get(pkg, []))
        if not norecs:
            todo += [r for r in cd.runrecs.get(fn, {}).get(pkg, []) if r not in bad]
    return out


class Runner:
    def __init__(self, tf, out, downloads, capture, cache=""):
        self.tf = tf
        self.out = out
        self.downloads = downloads
        self.capture = capture
        self.cache = cache
        self.data = {}

    def recipe_data(self, fn):
        if fn not in self.data:
            self.data[fn] = self.tf.parse_recipe_file(fn)
        return self.data[fn]

    def rprovider_pkg(self, fn, name):
        d = self.recipe_data(fn)
        for pkg in (d.getVar("PACKAGES") or "").split():
            rprov = (d.getVar("RPROVIDES:" + pkg) or "").split()
            if name in [re.split(r"[\s(]", r)[0] for r in rprov]:
                return pkg
        return d.getVar("PN")

    def run_task(self, d, task, logdir):
        """BitBake's _exec_task without the worker: prefuncs, the task, postfuncs; output to a log."""
        import bb.build

        if d.getVarFlag(task, "noexec"):
            return "noexec"
        funcs = [f for f in (d.getVarFlag(task, "prefuncs") or "").split() if f not in SKIP_FUNCS]
        funcs.append(task)
        funcs += (d.getVarFlag(task, "postfuncs") or "").split()
        log = os.path.join(logdir, "log." + task)
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        try:
            d.setVar("BB_CURRENTTASK", task[3:])
            for f in funcs:
                bb.build.exec_func(f, d)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(fd)
            os.close(saved[0])
            os.close(saved[1])
        return "ok"

    def run(self, fn, machine_dir):
        """Unpack..install, package; returns a result dict (errors name recipe and path)."""
        import bb.build
        import bb.fetch2

        d = self.recipe_data(fn)
        oe_import(d)
        import oe.package

        pn = d.getVar("PN")
        res = {
            "pn": pn,
            "file": fn,
            "pv": d.getVar("PV"),
            "tasks": {},
            "errors": [],
            "warnings": [],
            "packages": {},
            "systemd": {},
            "allow_empty": [],
            "seconds": 0.0,
        }
        t0 = time.time()
        workdir = os.path.join(machine_dir, pn)
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
        d.setVar("WORKDIR", workdir)
        d.setVar("DL_DIR", self.downloads)
        d.setVar("BB_NO_NETWORK", "1")
        # do_install[fakeroot]: BitBake would wrap it in pseudo (FAKEROOT), which a recipe run does not
        # have; it runs as the build user instead, so ownership is the user's (said in the verdict)
        d.setVar("FAKEROOT", "")
        res["no_pseudo"] = [t for t in TASKS if d.getVarFlag(t, "fakeroot")]
        # ${T} is under WORKDIR already; the stamp and deploy dirs must not reach the shared build
        d.setVar("STAMPS_DIR", os.path.join(workdir, "stamps"))
        d.setVar("DEPLOY_DIR", os.path.join(workdir, "deploy"))
        logdir = d.getVar("T")
        os.makedirs(logdir, exist_ok=True)
        shim = os.path.join(workdir, "no-pseudo-bin")
        os.makedirs(shim)
        with open(os.path.join(shim, "chown"), "w") as f:
            f.write(CHOWN_SHIM)
        os.chmod(os.path.join(shim, "chown"), 0o755)
        ownership_log = os.path.join(logdir, "ownership-not-applied.log")
        d.setVar("PATH", shim + ":" + d.getVar("PATH"))
        d.setVar("RCAR_K8S_OWNERSHIP_LOG", ownership_log)
        d.setVarFlag("RCAR_K8S_OWNERSHIP_LOG", "export", "1")
        try:
            fetcher = bb.fetch2.Fetch((d.getVar("SRC_URI") or "").split(), d)
            for url in fetcher.urls:
                ud = fetcher.ud[url]
                if ud.type in ("http", "https", "ftp"):
                    # rewritten every run: a stub left by a run without the runtime cache must not
                    # shadow a test build cached since (and the made archives are deterministic)
                    res.setdefault("downloads", []).append(
                        make_download(ud.localpath, self.cache, ud.path, getattr(ud, "sha256_expected", None))
                    )
        except Exception as exc:
            res["tasks"]["do_unpack"] = "FAILED"
            res["errors"].append(f"{pn}: do_unpack failed: SRC_URI: {type(exc).__name__}: {exc}")
            return res
        patches = [u for u in (d.getVar("SRC_URI") or "").split() if re.search(r"\.(patch|diff)(;|$)", u)]
        for task in TASKS:
            if task == "do_patch" and not patches:
                res["tasks"][task] = "no patches"
                continue
            self.capture.records.clear()
            try:
                res["tasks"][task] = self.run_task(d, task, logdir)
            except Exception as exc:  # bb.build.FuncFailed, ExecutionError, bb.fatal's BBHandledException
                tail = _log_tail(os.path.join(logdir, "log." + task))
                msgs = [m for lvl, m in self.capture.records if lvl == "ERROR"]
                why = "; ".join(msgs) or tail or f"{type(exc).__name__}: {exc}"
                res["tasks"][task] = "FAILED"
                res["errors"].append(f"{pn}: {task} failed: {why} (log: {logdir})")
                res["seconds"] = round(time.time() - t0, 1)
                return res
        if os.path.exists(ownership_log):
            with open(ownership_log) as f:
                res["ownership_not_applied"] = [line.strip() for line in f if line.strip()]
        # ---- packaging, poky's own code
        self.capture.records.clear()
        try:
            for var in ("PN", "PV", "BPN", "TARGET_SYS", "EXTENDPRAUTO"):
                d.setVar(var, d.getVar(var))
            for f in ("perform_packagecopy",):
                bb.build.exec_func(f, d)
            oe.package.process_split_and_strip_files(d)
            os.makedirs(d.getVar("PKGDEST"), exist_ok=True)
            for f in (d.getVar("PACKAGESPLITFUNCS") or "").split():
                bb.build.exec_func(f, d)
        except Exception as exc:
            msgs = [m for lvl, m in self.capture.records if lvl == "ERROR"]
            res["errors"].append(
                "{}: do_package: {}".format(pn, "; ".join(msgs) or f"{type(exc).__name__}: {exc}")
            )
        for lvl, msg in self.capture.records:
            if "QA Issue" in msg or lvl == "ERROR":
                (res["errors"] if lvl == "ERROR" else res["warnings"]).append(msg.strip())
        res["errors"] = list(dict.fromkeys(res["errors"]))
        pkgdest = d.getVar("PKGDEST")
        unitdir = d.getVar("systemd_system_unitdir")
        for pkg in (d.getVar("PACKAGES") or "").split():
            root = os.path.join(pkgdest, pkg)
            files = []
            for walkroot, dirs, names in os.walk(root):
                for n in names + [x for x in dirs if os.path.islink(os.path.join(walkroot, x))]:
                    files.append(os.path.join(walkroot, n)[len(root) :])
            res["packages"][pkg] = sorted(files)
            if d.getVar("ALLOW_EMPTY:" + pkg) == "1" or d.getVar("ALLOW_EMPTY") == "1":
                res["allow_empty"].append(pkg)
            rprov = [re.split(r"[\s(]", r)[0] for r in (d.getVar("RPROVIDES:" + pkg) or "").split()]
            res.setdefault("rprovides", {})[pkg] = rprov
        res["pkgdest"] = pkgdest
        res["unitdir"] = unitdir
        if bb.data.inherits_class("systemd", d):
            for pkg in (d.getVar("SYSTEMD_PACKAGES") or "").split():
                res["systemd"][pkg] = (d.getVar("SYSTEMD_SERVICE:" + pkg) or "").split()
        res["seconds"] = round(time.time() - t0, 1)
        return res


def oe_import(d):
    """What BitBake does for each layer.conf `addpylib ${LAYERDIR}/lib oe` (bb.parse.ast.PyLibNode)
    in its server and workers: BB_GLOBAL_PYMODULES and the layers' python namespaces (poky's oe.*)
    in the context python tasks run in. A tinfoil client has to do it itself."""
    import bb.parse.ast
    import bb.utils

    if "oe" in bb.utils._context:
        return
    for layer in (d.getVar("BBLAYERS") or "").split():
        conf = os.path.join(layer, "conf", "layer.conf")
        try:
            with open(conf) as f:
                text = f.read()
        except OSError:
            continue
        for libdir, namespace in re.findall(r"^addpylib\s+\$\{LAYERDIR\}/(\S+)\s+(\S+)", text, re.M):
            bb.parse.ast.PyLibNode(conf, 0, os.path.join(layer, libdir), namespace).eval(d)
    if "oe" not in bb.utils._context:
        raise RuntimeError(
            "no layer declares `addpylib ... oe` (poky's meta/conf/layer.conf): not an OE build"
        )


def _log_tail(path, n=3):
    try:
        with open(path, errors="replace") as f:
            lines = [x.strip() for x in f if x.strip() and not x.startswith("+")]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def _exec_paths(text):
    """Absolute paths Exec*= lines of a unit run (systemd's prefixes -@:+! stripped)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*(Exec[A-Za-z]+)\s*=\s*(.*)$", line)
        if not m or not m.group(2).strip():
            continue
        word = m.group(2).strip().split()[0].lstrip("-@:+!")
        if word.startswith("/"):
            out.append((m.group(1), word))
    return out


def _unit_of(text, key):
    m = re.search(rf"^\s*{key}\s*=\s*(\S+)", text, re.M)
    return m.group(1) if m else None


def check_image(image, installed, results, closure_names):
    """Checks across the recipes one image installs. installed: [(pn, pkg)]."""
    errors = []
    by_pn = {r["pn"]: r for r in results}
    shipped = {}  # path -> [(pn, pkg)]
    for pn, pkg in installed:
        for path in by_pn[pn]["packages"].get(pkg, []):
            shipped.setdefault(path, []).append((pn, pkg))
    for pn, pkg in installed:
        r = by_pn[pn]
        if not r["packages"].get(pkg) and pkg not in r["allow_empty"]:
            errors.append(
                f"{pn}: package {pkg} is empty, but {image} installs it (no ALLOW_EMPTY: Yocto writes no "
                "package and do_rootfs finds nothing that provides it)"
            )
    for path, owners in sorted(shipped.items()):
        pns = sorted({o[0] for o in owners})
        if len(pns) > 1:
            errors.append(
                "{}: {} is shipped by {} (two recipes install the same file: the rootfs "
                "package manager refuses the conflict)".format(
                    image, path, " and ".join("{} ({})".format(*o) for o in owners)
                )
            )
    for pn, pkg in installed:
        r = by_pn[pn]
        unitdir = r["unitdir"]
        root = os.path.join(r["pkgdest"], pkg)
        for path in r["packages"].get(pkg, []):
            if not path.startswith(unitdir + "/") or os.path.islink(root + path):
                continue
            try:
                with open(root + path, errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            name = os.path.basename(path)
            for key, exe in _exec_paths(text):
                target = usrmerge(exe)
                if target in shipped or exe in shipped:
                    continue
                ext = EXTERNAL.get(target, ())
                if any(e in closure_names for e in ext):
                    continue
                why = (
                    f"{' or '.join(ext)} ships it, which {image} does not install"
                    if ext
                    else f"no package {image} installs ships it"
                )
                errors.append(f"{pn}: {name} (package {pkg}): {key}={exe}: {why}")
            if name.endswith((".timer", ".path")):
                svc = _unit_of(text, "Unit") or re.sub(r"\.(timer|path)$", ".service", name)
                if unitdir + "/" + svc not in shipped:
                    errors.append(
                        f"{pn}: {name} (package {pkg}) activates {svc}, "
                        f"which no package {image} installs ships"
                    )
    return errors


def check_recipe(r):
    """SYSTEMD_SERVICE units must end up in their own package (systemd.bbclass enables them there)."""
    errors = []
    for pkg, units in r["systemd"].items():
        for unit in units:
            path = r["unitdir"] + "/" + unit
            if path in r["packages"].get(pkg, []):
                continue
            where = [p for p, files in r["packages"].items() if path in files]
            holds = (
                (f"package {where[0]} holds it instead (earlier in PACKAGES)")
                if where
                else "no package ships it"
            )
            errors.append(
                "{}: SYSTEMD_SERVICE:{} names {}, which is not in package {}: {}".format(
                    r["pn"], pkg, unit, pkg, holds
                )
            )
    return errors


def main(argv):
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--layer", required=True)
    ap.add_argument("--downloads", required=True)
    ap.add_argument("--runtime-cache", default=os.environ.get("RCAR_K8S_RUNTIME_CACHE", ""))
    ap.add_argument("--extra", action="append", default=[])
    ap.add_argument("--only-extra", action="store_true")
    ap.add_argument("images", nargs="+")
    args = ap.parse_args(argv)
    layer = os.path.realpath(args.layer) + os.sep

    def in_layer(fn):
        return os.path.realpath(fn.split(":")[-1]).startswith(layer)

    sys.path.insert(0, os.path.join(os.path.dirname(shutil.which("bitbake")), "..", "lib"))
    import bb.tinfoil

    capture = Captured()
    t0 = time.time()
    with bb.tinfoil.Tinfoil(tracking=False) as tf:
        tf.logger.setLevel("WARNING")
        tf.prepare(config_only=False, quiet=2)
        logging.getLogger("BitBake").addHandler(capture)
        t_parse = time.time() - t0
        cfg = tf.config_data
        machine, distro = cfg.getVar("MACHINE"), cfg.getVar("DISTRO")
        machine_dir = os.path.join(os.path.abspath(args.out), machine)
        os.makedirs(machine_dir, exist_ok=True)
        runner = Runner(tf, args.out, os.path.abspath(args.downloads), capture, args.runtime_cache)
        cd = tf.cooker_data

        extra = {}
        for path in args.extra:
            fn = os.path.abspath(path)
            extra[runner.recipe_data(fn).getVar("PN")] = fn

        per_image = {}  # image -> [(fn, pkg)], closure names
        for image in args.images:
            # --only-extra still resolves the image: Exec*= paths of other layers' packages count
            closure = image_closure(tf, image, runner.rprovider_pkg, in_layer)
            mine = [] if args.only_extra else sorted({v for v in closure.values() if v[0] and in_layer(v[0])})
            per_image[image] = (mine, set(closure))
        fns = sorted({fn for mine, _ in per_image.values() for fn, _ in mine})
        pn_of = {fn: cd.pkg_fn.get(fn) for fn in fns}
        fns = [fn for fn in fns if pn_of[fn] not in extra] + sorted(extra.values())
        results = {}
        for fn in fns:
            r = runner.run(fn, machine_dir)
            results[fn] = r
            state = "FAIL" if r["errors"] else "ok"
            tasks = " ".join(f"{t[3:]}={s}" for t, s in r["tasks"].items())
            pk = " ".join(f"{p}({len(f)})" for p, f in r["packages"].items() if f)
            print(
                "RECIPE {} {} {}-{} [{}] packages: {} ({:.1f}s)".format(
                    state, machine, r["pn"], r["pv"], tasks, pk or "-", r["seconds"]
                ),
                flush=True,
            )
        errors = []
        for r in results.values():
            errors += r["errors"]
            if not any(s == "FAILED" for s in r["tasks"].values()):
                errors += check_recipe(r)
        summary = {"machine": machine, "distro": distro, "parse_seconds": round(t_parse, 1), "images": {}}
        for image, (mine, names) in per_image.items():
            installed = []
            for fn, pkg in mine:
                fn = extra.get(pn_of.get(fn), fn)
                if not results[fn]["tasks"].get("do_install") == "ok":
                    continue
                installed.append((results[fn]["pn"], pkg))
            for fn in extra.values():
                r = results[fn]
                if r["tasks"].get("do_install") != "ok":
                    continue
                if args.only_extra:
                    installed += [(r["pn"], p) for p in r["packages"] if not p.endswith(AUX)]
                    names |= {p for p in r["packages"]}
            installed = sorted(set(installed))
            errs = check_image(image, installed, list(results.values()), names)
            errors += errs
            summary["images"][image] = {
                "packages": ["{}:{}".format(*x) for x in installed],
                "recipes": sorted({x[0] for x in installed}),
                "rootfs": {
                    x[1]: os.path.join(
                        results[[f for f in results if results[f]["pn"] == x[0]][0]]["pkgdest"], x[1]
                    )
                    for x in installed
                },
            }
        errors = list(dict.fromkeys(errors))
        summary["recipes"] = {
            r["pn"]: {
                "tasks": r["tasks"],
                "seconds": r["seconds"],
                "warnings": r["warnings"],
                "packages": {p: len(f) for p, f in r["packages"].items()},
            }
            for r in results.values()
        }
        summary["errors"] = errors
        with open(os.path.join(machine_dir, "recipes.json"), "w") as f:
            json.dump(summary, f, indent=1)
        for e in errors:
            print("ERROR " + e.replace("\n", " | "))
        print("RECIPES " + json.dumps(summary))
        total = round(time.time() - t0)
        dls = [line for r in results.values() for line in r.get("downloads", [])]
        nbuilt = sum(": runtime-build artifact " in line for line in dls)
        for r in results.values():
            for line in r.get("downloads", []):
                print(f"DOWNLOAD {r['pn']}: {line}")
        nimg = ", ".join(
            f"{i}({len(v['recipes'])} recipes, {len(v['packages'])} packages)"
            for i, v in summary["images"].items()
        )
        if errors:
            print(
                f"RECIPES FAIL {machine}/{distro}: {len(errors)} error(s), first: {errors[0].splitlines()[0]}"
            )
            return 1
        owned = [f"{r['pn']}: {c}" for r in results.values() for c in r.get("ownership_not_applied", [])]
        for line in owned:
            print(f"NOT APPLIED (no pseudo) {line}")
        print(
            f"RECIPES OK {machine}/{distro}: {len(results)} recipes ran unpack..install as "
            f"{getpass.getuser()} (no pseudo; {len(owned)} chown(s) recorded, not applied) and packaged "
            f"clean; {nimg}; {len(dls)} downloads were local stand-ins ({nbuilt} runtime-build test builds, "
            f"{len(dls) - nbuilt} made with stub scripts; sha256 not checked) "
            f"[parse {t_parse:.0f}s, total {total}s]"
        )
        return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BaseException as exc:
        if isinstance(exc, SystemExit) and exc.code in (0, 1):
            raise
        traceback.print_exc()
        print("RECIPES FAIL runner crashed (traceback above)")
        sys.exit(1)
