"""generator.version: the one version type (packaging over the release number) and its adapters."""

from __future__ import annotations

import pytest

from generator import version
from generator.errors import UserError
from generator.kernel import versions as kernel_versions
from generator.matrix import versions as V
from generator.upstream import sources


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.26", "1.26.0"),  # go.mod's `go 1.26` meets a 1.26.0 minimum
        ("3.6.8-0", "3.6.8"),  # etcd's image tag suffix never orders
        ("v1.14.2", "1.14.2"),  # flannel's tag spelling
    ],
)
def test_spellings_of_one_release_compare_equal(a: str, b: str) -> None:
    assert version.parse(a) == version.parse(b)
    assert V.ge(a, b) and V.ge(b, a) and not V.lt(a, b)


def test_order_is_numeric_not_textual() -> None:
    assert V.lt("1.9.0", "1.10.0") and V.lt("1.26", "1.26.2") and V.lt("2.1.6", "2.2.0")
    assert sorted(["1.36", "1.9", "1.35"], key=V.key) == ["1.9", "1.35", "1.36"]


def test_not_a_version() -> None:
    assert not V.is_version("latest") and not V.is_version("")
    with pytest.raises(ValueError):
        version.release("go")


def test_semver_adapter_takes_exact_release_tags_only() -> None:
    assert sources.parse_version("v1.3.6\n") == (1, 3, 6)
    assert sources.parse_version("v2.2.0-rc.1") is None  # containerd pre-release tags are skipped
    assert sources.parse_version("1.36") is None


def test_kernel_adapter_is_major_minor() -> None:
    assert kernel_versions.parse_version("5.10.218-yocto-standard") == (5, 10)
    assert kernel_versions.parse_version("6.6") == (6, 6)
    with pytest.raises(UserError, match="is not a kernel version"):
        kernel_versions.parse_version("linux")
