"""The matrix modules import downwards only: schema must not need model (issue 19: no import circle)."""

import subprocess
import sys


def _loaded_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(m for m in sys.modules if m.startswith('generator.')))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_schema_does_not_import_model() -> None:
    assert "generator.matrix.model" not in _loaded_after("generator.matrix.schema")


def test_components_is_a_leaf() -> None:
    loaded = _loaded_after("generator.matrix.components")
    assert loaded <= {"generator", "generator.matrix", "generator.matrix.components"}


def test_rule_table_is_r1_to_r21_once_each() -> None:
    from generator.matrix import rules
    from generator.matrix.rules import cni, images, kernel, lifecycle, runtime, skew, yocto

    assert [r.id for r in rules.RULES] == [f"R{i}" for i in range(1, 22)]
    by_module = [r.id for m in (skew, runtime, kernel, yocto, images, lifecycle, cni) for r in m.RULES]
    assert sorted(by_module) == sorted(r.id for r in rules.RULES)
    for name in rules.__all__:  # the names other modules import from generator.matrix.rules
        assert hasattr(rules, name), name
