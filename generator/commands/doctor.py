"""Check that this host can build the images, before hours are spent finding out.

  rcar-k8s doctor                      check the host for a native `kas build`
  rcar-k8s doctor --kas-container      check for a build in kas-container (docker/podman)

Checks, each printed as ok/FAIL/warn/skip with the fix:

  disk            free space where the build goes (KAS_BUILD_DIR, else KAS_WORK_DIR/build, else
                  ./build) >= 100 GB (Yocto asks 90 GB for core-image-sato; ours adds Go builds)
  memory          >= 8 GB RAM            cores   >= 4 recommended (warning only)
  user            not root (BitBake refuses), unless --kas-container
  host tools      scarthgap HOSTTOOLS + rsync (meta-rcar-gen3) + makeinfo, unzip, socat, xz
  tool versions   python3 >= 3.8, git >= 1.8.3.1, tar >= 1.28, gcc >= 8.0, make >= 4.0
  locale          en_US.UTF-8 generated (kas runs BitBake with it)
  kas             installed and new enough for our kas file format

Exit status: 0 when every required check passes (warnings allowed), 1 otherwise.
`rcar-k8s build` runs the same checks first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from generator.host.checks import MIN_DISK_GB, run_checks
from generator.host.probe import Host
from generator.host.report import render

NAME = "doctor"
HELP = "check the build host (disk, RAM, host tools, user, locale, kas) and say how to fix it"


def add_host_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kas-container",
        action="store_true",
        help="build with kas-container (root allowed; needs docker or podman)",
    )
    parser.add_argument(
        "--build-dir",
        type=Path,
        default=None,
        help="where the build goes (default: $KAS_BUILD_DIR, $KAS_WORK_DIR/build or ./build)",
    )
    parser.add_argument(
        "--min-disk-gb",
        type=int,
        default=MIN_DISK_GB,
        help=f"free disk needed (default {MIN_DISK_GB}; lower only with shared sstate)",
    )


def register(parser: argparse.ArgumentParser) -> None:
    add_host_options(parser)
    parser.set_defaults(func=run)


def doctor(args: argparse.Namespace) -> tuple[bool, str]:
    host = Host.from_env(build_dir=args.build_dir)
    checks = run_checks(host, kas_container=args.kas_container, min_disk_gb=args.min_disk_gb)
    return not any(c.failed for c in checks), render(checks)


def run(args: argparse.Namespace) -> int:
    ok, text = doctor(args)
    print(text)
    return 0 if ok else 1
