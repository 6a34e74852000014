"""Read and write the matrix lock file (``generator/data/matrix.yml``).

The file is data, not code: one row per supported Kubernetes minor, every pin with its upstream
source and the reason it was chosen (``why``). ``dump`` is the only writer, so a rewrite by
``matrix update`` and the committed file are byte-identical when nothing changed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from generator.errors import UserError

HEADER = """\
# meta-rcar-k8s version matrix: a lock file. One row per supported Kubernetes minor; each row is a
# full node stack whose pins passed every rule in generator/matrix/rules.py.
# Written by `rcar-k8s matrix update` (reads upstream); validated by `rcar-k8s matrix check`.
# Hand edits are allowed but must keep `matrix check` green; then run `rcar-k8s generate`.
# Every fact names its upstream source; a hash or commit that could not be confirmed is null and
# says why in `unconfirmed` (matrix check reports it; no value is ever guessed).
"""


class _Dumper(yaml.SafeDumper):
    """Block style, keys in insertion order, long strings unwrapped, dates as plain scalars.

    No anchors/aliases: every row is spelled out, so a hand edit of one row never changes another.
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump(data: dict[str, Any]) -> str:
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return HEADER + body


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same result, faster

Lines = dict[tuple[Any, ...], int]


def loads(text: str, path: str = "<matrix>") -> dict[str, Any]:
    """Parse matrix YAML; malformed input raises UserError naming file:line."""
    return loads_located(text, path)[0]


def _lines(node: yaml.Node, at: tuple[Any, ...], out: Lines) -> None:
    """Map every key path (("rows", 0, "components", "runc", "version")) to its 1-based line."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = (*at, key.value)
            out[here] = key.start_mark.line + 1
            _lines(value, here, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            here = (*at, i)
            out[here] = item.start_mark.line + 1
            _lines(item, here, out)


def loads_located(text: str, path: str = "<matrix>") -> tuple[dict[str, Any], Lines]:
    """Like ``loads`` but also return {key path: line} from the YAML node tree (for file:line errors)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise UserError(
            f"{where}: malformed YAML ({exc.problem}); fix the file or restore it with git"
        ) from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: malformed YAML ({exc}); fix the file or restore it with git") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise UserError(f"{path}:1: not a matrix (expected a mapping with 'rows'); check the file")
    lines: Lines = {}
    _lines(node, (), lines)
    return data, lines


def load(path: Path) -> dict[str, Any]:
    return load_located(path)[0]


def load_located(path: Path) -> tuple[dict[str, Any], Lines]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: matrix file not found; pass --matrix FILE or restore it with git") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read matrix ({exc.__class__.__name__}: {exc})") from None
    return loads_located(text, str(path))


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same directory + fsync + rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
