"""Run a program and turn its failure into the project's one-line ``UserError``.

The one place that words "the program is missing / may not be run / hung / failed": every message
names the program and ends with ``fix``, what the user does about it. ``run`` captures text output
(``check=False`` leaves a non-zero exit to the caller, who may read it as an answer), ``run_bytes``
binary output (cpio archives); ``start`` is the ``Popen`` for output followed line by line (kas
builds) or piped into another program (``git archive | tar``), which callers wait for themselves.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from generator.errors import UserError


def last_line(output: str) -> str:
    """The last non-empty line of a program's output: usually the one that says why it failed."""
    return next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "no output")


def last_error(res: subprocess.CompletedProcess[str]) -> str:
    """Why a program failed: the last line of its stderr (stdout may hold a partial result, such as
    lsblk's empty JSON), else of its stdout."""
    return last_line(res.stderr if res.stderr.strip() else res.stdout)


def _name(argv: Sequence[str]) -> str:
    return Path(argv[0]).name


def not_started(argv: Sequence[str], exc: OSError, fix: str) -> UserError:
    """The error for a program that could not be started (missing, not executable, ...)."""
    name = _name(argv)
    if isinstance(exc, FileNotFoundError):
        return UserError(f"`{name}` not found: {fix}")
    if isinstance(exc, PermissionError):
        return UserError(f"`{name}` may not be run here (permission denied): {fix}")
    return UserError(f"`{name}` could not be started ({exc.strerror or exc}): {fix}")


def _as_text(res: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[str]:
    out, err = (b.decode(errors="replace") if b else "" for b in (res.stdout, res.stderr))
    return subprocess.CompletedProcess(res.args, res.returncode, out, err)


def _run(
    argv: Sequence[str],
    *,
    fix: str,
    what: str | None,
    check: bool,
    timeout: float | None,
    text: bool,
    why: Callable[[subprocess.CompletedProcess[str]], str],
    kwargs: dict[str, Any],
) -> subprocess.CompletedProcess[Any]:
    try:
        res = subprocess.run(
            list(argv), capture_output=True, text=text, timeout=timeout, check=False, **kwargs
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"`{_name(argv)}` gave no answer within {timeout:g} s: {fix}") from None
    except OSError as exc:
        raise not_started(argv, exc, fix) from None
    if check and res.returncode != 0:
        said = why(res if text else _as_text(res))
        raise UserError(f"{what or f'`{_name(argv)}` failed'} ({said}): {fix}")
    return res


def run(
    argv: Sequence[str],
    *,
    fix: str,
    what: str | None = None,
    check: bool = True,
    timeout: float | None = None,
    why: Callable[[subprocess.CompletedProcess[str]], str] = last_error,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with its output captured as text; any failure -> UserError ending with ``fix``.

    ``what`` says what went wrong on a non-zero exit (default: "`<program>` failed"); ``why`` reads
    the reason out of the finished process.
    """
    return _run(argv, fix=fix, what=what, check=check, timeout=timeout, text=True, why=why, kwargs=kwargs)


def run_bytes(
    argv: Sequence[str],
    *,
    fix: str,
    what: str | None = None,
    check: bool = True,
    timeout: float | None = None,
    **kwargs: Any,
) -> subprocess.CompletedProcess[bytes]:
    """``run`` for binary input and output (``input=`` bytes: cpio archives): the same one-line errors,
    the reason read from the last line of stderr (else stdout), decoded."""
    return _run(
        argv, fix=fix, what=what, check=check, timeout=timeout, text=False, why=last_error, kwargs=kwargs
    )


def start(argv: Sequence[str], *, fix: str, **kwargs: Any) -> subprocess.Popen[str]:
    """``Popen`` of ``argv`` (text mode); a program that cannot start -> UserError ending with ``fix``."""
    try:
        return subprocess.Popen(list(argv), text=True, **kwargs)
    except OSError as exc:
        raise not_started(argv, exc, fix) from None
