"""Templates mirror the tree they produce.

``generator/templates/<out path>`` renders to ``<repo root>/<out path>``:

* ``name.j2`` is rendered with jinja2 and written as ``name``; other files are copied verbatim
  (shell scripts, units and patches stay readable and lintable in place).
* A path segment holding ``[[ expr ]]`` is rendered once per matrix row with ``row`` bound, e.g.
  ``conf/rcar-k8s/k8s-[[ row.minor ]].inc.j2``. Rows that yield the same path must yield the same
  bytes (two minors sharing containerd 2.3.4 share one recipe); different bytes are an error.
  A segment naming ``target`` instead is rendered once per kas target (``kasfiles.targets()``,
  each (board, role)), e.g. ``kas/[[ target.name ]].yml.j2``.
* Templates see ``matrix`` (``Matrix``), ``rows``, ``default`` (the default row) and ``gen``, a
  lazy view of the ``generator`` package (``gen.kernel.fragments.render("base")``), so a template
  asks the module that owns a fact instead of copying it.

Output is deterministic: sorted walk, no timestamps, LF endings, one trailing newline.
"""

from __future__ import annotations

import importlib
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from generator import kasfiles, paths
from generator.errors import UserError
from generator.matrix.model import Matrix, Row

ROW_SEGMENT = re.compile(r"\[\[(.+?)\]\]")
TARGET_NAME = re.compile(r"\btarget\b")
OUTPUT_ROOTS = ("meta-rcar-k8s", "kas")


class _LazyPackage:
    """``gen.a.b`` imports ``generator.a.b`` on first use; attributes of modules pass through."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        full = f"{self._name}.{attr}"
        try:
            module = importlib.import_module(full)
            # a subpackage stays lazy, so gen.a.b.c works without a.b importing c itself
            return _LazyPackage(full) if hasattr(module, "__path__") else module
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
        module = importlib.import_module(self._name)
        return getattr(module, attr)


@dataclass(frozen=True)
class Rendered:
    path: str  # relative to the repo root, POSIX separators
    content: bytes
    executable: bool


def _environment(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.globals["gen"] = _LazyPackage("generator")
    return env


def _normalise(text: str) -> bytes:
    text = text.replace("\r\n", "\n")
    return (text.rstrip("\n") + "\n").encode("utf-8") if text.strip() else b""


def _contexts(rel: str, matrix: Matrix, base: dict[str, Any]) -> list[dict[str, Any]]:
    """One context per file the template path yields: per matrix row, per kas target, or just one."""
    segments = ROW_SEGMENT.findall(rel)
    if not segments:
        return [base]
    if any(TARGET_NAME.search(s) for s in segments):
        return [dict(base, target=t) for t in kasfiles.targets()]
    rows: list[Row] = list(matrix.rows)
    return [dict(base, row=row) for row in rows]


def render_tree(matrix: Matrix, templates: Path | None = None) -> dict[str, Rendered]:
    """Every output file keyed by its path relative to the repo root."""
    templates = templates or paths.TEMPLATES_DIR
    env = _environment(templates)
    base_ctx = {"matrix": matrix, "rows": matrix.rows, "default": matrix.default_row}
    out: dict[str, Rendered] = {}
    for src in sorted(p for p in templates.rglob("*") if p.is_file()):
        rel = src.relative_to(templates).as_posix()
        if "__pycache__" in rel or rel.endswith((".pyc", "~")):
            continue
        executable = bool(src.stat().st_mode & stat.S_IXUSR)
        for ctx in _contexts(rel, matrix, base_ctx):
            out_rel = ROW_SEGMENT.sub(
                lambda m, c=ctx: str(env.from_string("{{" + m.group(1) + "}}").render(c)), rel
            )
            if out_rel.endswith(".j2"):
                out_rel = out_rel[:-3]
                try:
                    content = _normalise(env.get_template(rel).render(ctx))
                except jinja2.TemplateError as exc:
                    line = getattr(exc, "lineno", None)
                    where = f"{rel}:{line}" if line else rel
                    raise UserError(f"template {where}: {exc}") from None
            else:
                content = src.read_bytes()
            if not content:
                continue  # a template may render empty to opt out for a row
            if out_rel in out and out[out_rel].content != content:
                raise UserError(
                    f"template {rel}: rows render different content for the same path {out_rel}; "
                    "put the distinguishing value in the file name"
                )
            out[out_rel] = Rendered(out_rel, content, executable)
    return out


def existing_outputs(root: Path) -> set[str]:
    found: set[str] = set()
    for top in OUTPUT_ROOTS:
        base = root / top
        if base.is_dir():
            found.update(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())
    return found


def drift(rendered: dict[str, Rendered], root: Path) -> list[str]:
    """Paths whose committed bytes differ from the render: changed, missing or stale ('-' prefix)."""
    problems = []
    for rel, item in sorted(rendered.items()):
        target = root / rel
        if not target.is_file():
            problems.append(f"missing  {rel}")
        elif target.read_bytes() != item.content:
            problems.append(f"changed  {rel}")
    for rel in sorted(existing_outputs(root) - set(rendered)):
        problems.append(f"stale    {rel}")
    return problems


def write_tree(rendered: dict[str, Rendered], root: Path) -> list[str]:
    """Write every output, remove stale generated files; return the paths that changed."""
    changed = []
    for rel, item in sorted(rendered.items()):
        target = root / rel
        if not target.is_file() or target.read_bytes() != item.content:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(item.content)
            tmp.chmod(0o755 if item.executable else 0o644)
            tmp.replace(target)
            changed.append(rel)
        else:
            mode = 0o755 if item.executable else 0o644
            if stat.S_IMODE(target.stat().st_mode) != mode:
                target.chmod(mode)
    for rel in sorted(existing_outputs(root) - set(rendered)):
        (root / rel).unlink()
        changed.append(rel)
    return changed
