"""The ``rcar-k8s`` command line.

Each subcommand is one module in ``generator/commands/`` whose docstring is its manual.
A module exposes ``NAME`` (its file name with ``-`` for ``_``), ``HELP`` and ``register(parser)``;
``register`` sets ``parser.set_defaults(func=run)`` where ``run(args) -> int`` returns the exit code.
Only the module of the command being run is imported (commands pull in requests, rich, pexpect…);
``rcar-k8s --help`` imports them all to list them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import subprocess
import sys
from collections.abc import MutableMapping
from pathlib import Path

from generator import __version__, commands
from generator.errors import UserError


def _command_modules(argv: list[str]) -> list[str]:
    """Module names to import: just the requested command's when it is known, else all."""
    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__))
    first = next((a for a in argv if not a.startswith("-")), None)
    if first and first.replace("-", "_") in names:
        return [first.replace("-", "_")]
    return names


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rcar-k8s",
        description="Build Renesas R-Car (h3ulcb) images that boot ready for `kubeadm join`.",
    )
    parser.add_argument("--version", action="version", version=f"rcar-k8s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules(sys.argv[1:] if argv is None else argv):
        module = importlib.import_module(f"generator.commands.{name}")
        if not hasattr(module, "register"):
            continue
        sub_parser = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=(module.__doc__ or module.HELP).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.register(sub_parser)
    return parser


def tools_next_to_interpreter(env: MutableMapping[str, str], python: str) -> None:
    """Append the interpreter's bin directory to PATH: `./scripts/quickstart.sh` installs kas into
    .venv/bin next to rcar-k8s, and `.venv/bin/rcar-k8s doctor|build|check` must find it there
    without an activated venv. Appended, so a kas earlier on PATH still wins."""
    bindir = str(Path(python).parent)  # not resolved: .venv/bin/python is a symlink out of the venv
    parts = env.get("PATH", "").split(os.pathsep) if env.get("PATH") else []
    if bindir not in parts:
        env["PATH"] = os.pathsep.join([*parts, bindir])


def main(argv: list[str] | None = None) -> int:
    if os.environ.get("RCAR_K8S_TOOLS_NEXT_TO_PYTHON") != "0":  # "0": tests that fake a whole host
        tools_next_to_interpreter(os.environ, sys.executable)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"rcar-k8s: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head`: not an error worth a message
        return 1
    except OSError as exc:  # a path the user gave is missing, unwritable, ...: say which, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"rcar-k8s: error: {where}{exc.strerror or exc}; check the path and its permissions",
            file=sys.stderr,
        )
        return 2
    except subprocess.CalledProcessError as exc:
        cmd = exc.cmd if isinstance(exc.cmd, str) else " ".join(map(str, exc.cmd))
        print(f"rcar-k8s: error: `{cmd}` failed with exit status {exc.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rcar-k8s: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
