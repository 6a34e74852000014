"""Boot a node image under QEMU (arm64 virt machine) and check that it comes up ready for `kubeadm join`.

  rcar-k8s qemu-test --deploy-dir build/tmp/deploy/images/qemuarm64 [--role control-plane]
  rcar-k8s qemu-test --kernel Image --rootfs core-image.rootfs.ext4 [--initrd F] [--dtb F]
  rcar-k8s qemu-test --standin [--role ...]      the CI stand-in (Debian arm64 + this layer's node files)
  rcar-k8s qemu-test --standin-plain             the stand-in without our files (timing baseline)
  rcar-k8s qemu-test --standin --standin-runtime require
                                                 with the row's containerd/runc/CNI/crictl test builds
                                                 (rcar-k8s runtime-build) in place of Debian's

QEMU: qemu-system-aarch64 -machine virt; KVM when the host is arm64 and /dev/kvm is usable, else TCG
(cortex-a57). The root file system is attached with snapshot=on: your image file is never written.
The serial console (ttyAMA0) is driven with pexpect: milestones are timed (kernel banner, init,
systemd, login prompt, shell, boot settled, containerd active). qemu-test logs in as a user would
(--login ssh, the default for images): SSH as admin with a key through a forwarded host port
(user-net hostfwd to the guest's port 22), root commands through `sudo -n`; the key is --ssh-key
(given at build time in RCAR_K8S_ADMIN_SSH_KEYS) or a throwaway key written to authorized_keys on
the config partition of a scratch copy of the image. The stand-in logs in as root on the console
(--login console, --password if the image has one). Every check runs in the guest:

  containerd active, CRI answering (crictl info; CRI plugin status via ctr), the layer's node files
  installed byte for byte, kubelet enabled and waiting for its config, kubeadm/kubelet versions equal
  the matrix row (--k8s), overlay + br_netfilter loaded, the sysctls set, swap off, hostname not a
  build default, a time sync unit enabled, check-config rules on /proc/config.gz (pulled over the
  console), control plane: /var/lib/etcd on tmpfs and etcd-restore.service ran, and kubeadm's own
  preflight checks where the image has kubeadm. The pinned runtime: containerd reports the row's
  version, its journal shows no unknown key/config migration/plugin failure, the CRI runs runc with
  SystemdCgroup and the pinned sandbox image, a pod runs from air-gap-imported images (cgroup v2,
  systemd slice), gets a CNI address, and nothing is pulled (QEMU network restrict=on).

Each check is passed, failed (with the guest command and output as evidence) or skipped (with the
reason, e.g. the image has no kubeadm). Output: a summary on stdout, the full report with --json.
Then the guest is powered off cleanly. On timeout the report names the milestone it got stuck at and
carries the last 50 console lines. Exit 0: no check failed; 1: a check failed or the boot timed out.

The stand-in is built by scripts/build-standin.sh from Debian's arm64 packages (needs root and the
Debian archive; ~3-7 min the first time, cached under /var/tmp/rcar-k8s-standin). See docs/qemu-test.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from rich.console import Console as RichConsole

from generator import program
from generator.errors import UserError
from generator.matrix.model import Row, load_matrix
from generator.qemu import login, session, standin, standin_disk, standin_sshd
from generator.qemu.machine import BootSpec, from_deploy_dir
from generator.qemu.standin_runtime import RuntimeOverlay

NAME = "qemu-test"
HELP = "boot the image under QEMU and check it is ready for kubeadm join"


def register(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("image (pick one)")
    src.add_argument(
        "--deploy-dir", type=Path, help="Yocto tmp/deploy/images/qemuarm64 (reads *.qemuboot.conf)"
    )
    src.add_argument("--kernel", type=Path, help="kernel Image (with --rootfs)")
    src.add_argument("--rootfs", type=Path, help="root file system image, e.g. *.rootfs.ext4 (with --kernel)")
    src.add_argument("--initrd", type=Path, help="initramfs (optional)")
    src.add_argument("--dtb", type=Path, help="device tree blob (optional; virt generates one)")
    src.add_argument(
        "--standin", action="store_true", help="build/boot the CI stand-in with the layer's node files"
    )
    src.add_argument(
        "--standin-plain", action="store_true", help="boot the stand-in without our files (baseline)"
    )
    src.add_argument(
        "--standin-drop",
        action="append",
        default=[],
        metavar="PATH",
        help="stand-in: leave this node file out (to prove the matching check fails)",
    )
    src.add_argument(
        "--standin-runtime",
        choices=("auto", "require", "off"),
        default="auto",
        help="stand-in: install the row's containerd/runc/CNI/crictl test builds (rcar-k8s runtime-build) "
        "in place of Debian's; auto = when built, require = fail if not built (default: auto)",
    )
    src.add_argument(
        "--from-recipes",
        type=Path,
        metavar="RECIPES_JSON",
        help="stand-in: lay over it what the recipes install, from a `rcar-k8s check --recipes` run "
        "(<build dir>/rcar-k8s-recipes/qemuarm64/recipes.json) instead of the generator's node files",
    )
    parser.add_argument("--role", choices=("worker", "control-plane"), default="worker")
    parser.add_argument(
        "--k8s", metavar="MINOR", help="matrix row the image was built for (default: matrix default)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds from QEMU start to a settled boot (600)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the full report here")
    parser.add_argument("--console-log", type=Path, metavar="FILE", help="write the raw serial console here")
    parser.add_argument(
        "--append",
        action="append",
        default=[],
        metavar="ARG",
        help="extra kernel command line argument, e.g. systemd.mask=containerd.service",
    )
    parser.add_argument(
        "--login",
        choices=("ssh", "console"),
        help="ssh (default for images): as admin with a key, root commands through sudo -n, as a user "
        "would; console (default for the stand-in): root on the serial console",
    )
    parser.add_argument(
        "--ssh-key",
        type=Path,
        metavar="FILE",
        help="private key whose public half the image has (RCAR_K8S_ADMIN_SSH_KEYS); default: a "
        "throwaway key written to authorized_keys on the config partition of a scratch copy",
    )
    parser.add_argument("--password", default="", help="root password for --login console (default: none)")
    parser.add_argument(
        "--standin-cache", type=Path, default=standin.DEFAULT_CACHE, help="stand-in build cache"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    err = RichConsole(stderr=True)
    matrix = load_matrix()
    row = matrix.row(args.k8s) if args.k8s else matrix.default_row
    chosen = [bool(args.deploy_dir), bool(args.kernel or args.rootfs), args.standin, args.standin_plain]
    if sum(chosen) != 1:
        raise UserError(
            "pick exactly one image: --deploy-dir DIR, --kernel IMAGE --rootfs FILE, --standin "
            "or --standin-plain"
        )
    if args.standin_drop and not args.standin:
        raise UserError("--standin-drop only applies to --standin")
    if args.from_recipes and not args.standin:
        raise UserError("--from-recipes only applies to --standin")
    if args.from_recipes and args.standin_drop:
        raise UserError(
            "--standin-drop and --from-recipes do not combine: drop files from the recipe instead"
        )
    if args.timeout <= 0:
        raise UserError("--timeout must be a positive number of seconds")
    from generator.layer import node_files as nf

    notes: list[str] = []
    work = None
    img = None
    st = None
    if args.standin or args.standin_plain:
        err.print("[bold]qemu-test[/]: building/reusing the Debian arm64 stand-in (scripts/build-standin.sh)")
        st = standin.build(args.standin_cache)
        if args.from_recipes:
            from generator.kasfiles import IMAGES

            # the recipe run's binaries are runtime-build test builds where it had them, else stubs (the
            # stand-in keeps its own runtime then); either way without the air-gap images and pod configs
            # of the runtime overlay the pinned-runtime checks need (said in the notes)
            ov = standin.overlay_from_recipes(args.from_recipes, IMAGES[args.role], st.info)
            own = standin.runs_recipe_runtime(ov)
            ran = "the recipes' containerd test build" if own else "Debian's containerd"
            rt = None
            runtime_skip = f"--from-recipes: {ran} runs, but without the air-gap images (use --standin alone)"
        else:
            rt, runtime_skip = _standin_runtime(row, st, args.standin_runtime) if args.standin else (None, "")
            ov = standin.overlay_for(row, args.role, st.info, args.standin_drop, rt) if args.standin else None
        if not args.standin:
            runtime_skip = "plain stand-in: Debian's containerd 1.6 without the layer's files"
        work = Path(tempfile.mkdtemp(prefix="qemu-test.", dir=args.standin_cache))
        img = standin.prepare(st, ov, work / "rootfs.ext4")
        spec = standin.boot_spec(st, img)
        expected = dict(ov.files) if ov else {}
        notes += ov.notes if ov else ["plain stand-in: none of the layer's files installed (timing baseline)"]
        notes.append(
            f"stand-in: Debian {st.info.get('suite')} arm64, kernel {st.info.get('kernel')}, containerd "
            f"{st.info.get('containerd')}, systemd {st.info.get('systemd')}"
        )
        label = "stand-in" if ov else "stand-in (plain)"
    else:
        if args.deploy_dir:
            spec = from_deploy_dir(args.deploy_dir)
        else:
            if not (args.kernel and args.rootfs):
                raise UserError("--kernel and --rootfs go together; pass both (or --deploy-dir)")
            spec = BootSpec(kernel=args.kernel, rootfs=args.rootfs, initrd=args.initrd, dtb=args.dtb)
            spec.check_files()
        if args.deploy_dir and (args.initrd or args.dtb):
            spec.initrd = args.initrd or spec.initrd
            spec.dtb = args.dtb or spec.dtb
        expected = dict(nf.node_files(row, args.role))
        label = "image"
        rt, runtime_skip = None, ""
    ssh_key = None
    if st and args.login == "ssh":
        if not (args.standin and img):
            raise UserError("--login ssh needs --standin (the plain stand-in has no admin user)")
        keydir = Path(tempfile.mkdtemp(prefix="qemu-test-key."))
        ssh_key, pub = login.keypair(keydir)
        standin_disk.add_admin(img, keydir)
        standin_sshd.add_sshd(st, img, keydir)
        standin_sshd.build_time_key(img, pub, keydir)
        notes.append(
            "login: SSH as admin with a throwaway key (built in, as RCAR_K8S_ADMIN_SSH_KEYS), sudo -n "
            "for root; the stand-in got Debian's sshd + sudo and the layer's admin user and sudoers"
        )
    elif (args.login or ("console" if st else "ssh")) == "ssh":
        if args.ssh_key:
            if not args.ssh_key.is_file():
                raise UserError(f"--ssh-key {args.ssh_key} does not exist; pass the private key file")
            ssh_key = args.ssh_key
            notes.append(f"login: SSH as admin with {args.ssh_key} (given at build time), sudo -n for root")
        else:
            keydir = Path(tempfile.mkdtemp(prefix="qemu-test-key."))
            scratch = keydir / spec.rootfs.name
            err.print(f"[bold]qemu-test[/]: copying {spec.rootfs} to add a throwaway SSH key")
            try:
                program.run(
                    ["cp", "--sparse=always", str(spec.rootfs), str(scratch)],
                    fix=f"free space in {keydir.parent} (or set TMPDIR), or pass --ssh-key with a key "
                    "built into the image",
                    what=f"copying {spec.rootfs} to {keydir} failed",
                )
            except UserError:
                shutil.rmtree(keydir, ignore_errors=True)  # no half-written copy left behind
                raise
            ssh_key, pub = login.keypair(keydir)
            login.config_partition_add_key(scratch, pub)
            spec.rootfs = scratch
            notes.append(
                "login: SSH as admin with a throwaway key written to authorized_keys on the config "
                "partition (a scratch copy of the image), sudo -n for root"
            )
    opts = session.Options(
        spec=spec,
        row=row,
        role=args.role,
        timeout=args.timeout,
        password=args.password,
        extra_append=list(args.append),
        expected_files=expected,
        standin=bool(st),
        label=label,
        notes=notes,
        console_log=args.console_log,
        runtime_skip=runtime_skip,
        ssh_key=ssh_key,
    )
    err.print(f"[bold]qemu-test[/]: booting {spec.source} (timeout {args.timeout:.0f} s)")
    try:
        report = session.run(opts)
    finally:
        if st and img:
            standin.cleanup(img, st)
        if ssh_key and not args.ssh_key:
            shutil.rmtree(ssh_key.parent, ignore_errors=True)
        if work and work.exists():
            work.rmdir() if not any(work.iterdir()) else None
    if st:
        report["standin"] = st.info
    if rt is not None:
        report["standin_runtime"] = rt.info
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(session.summary(report))
    sys.stdout.flush()
    return 0 if report["result"] == "passed" else 1


def _standin_runtime(row: Row, st: standin.Standin, mode: str) -> tuple[RuntimeOverlay | None, str]:
    """The row's runtime test builds for the stand-in (``rcar-k8s runtime-build``), else why not."""
    from generator.qemu import standin_runtime
    from generator.runtime import build as rb

    prepare = f"prepare with: rcar-k8s runtime-build --k8s {row.minor}"
    if mode == "off":
        return (
            None,
            f"--standin-runtime off: Debian's containerd {st.info.get('containerd')} runs ({prepare})",
        )
    try:
        builds = rb.find(row)
    except UserError as exc:
        if mode == "require":
            raise
        return None, f"stand-in runs Debian's containerd {st.info.get('containerd')}: {exc}"
    return standin_runtime.overlay(row, builds, st.dir.parent / "debs"), ""
