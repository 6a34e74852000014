"""Pure logic behind the guest checks: what counts as settled, and what the layer's files demand."""

from __future__ import annotations

from pathlib import Path

from generator.layer.node_files import node_files
from generator.matrix.model import load_matrix
from generator.qemu import checks
from generator.qemu.standin import _preset_units, overlay_for

JOBS = """\
52 systemd-time-wait-sync.service       start running
99 kubelet.service                      start waiting
2  multi-user.target                    start waiting
"""


def test_settled_only_waits_for_time_sync() -> None:
    assert checks.jobs_settled("running", "")[0]
    ok, running, waiting = checks.jobs_settled("starting", JOBS)
    assert ok and running == {"systemd-time-wait-sync.service"} and "kubelet.service" in waiting
    busy = JOBS + "40 containerd.service                   start running\n"
    assert not checks.jobs_settled("starting", busy)[0]


class _Ctx:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.expected_files = files


def test_expectations_come_from_the_layer_files() -> None:
    row = load_matrix().default_row
    files = node_files(row, "worker")
    mods = checks._expected_modules(_Ctx(files))
    assert {"overlay", "br_netfilter"} <= set(mods)
    sysctls = checks._expected_sysctls(_Ctx(files))
    assert sysctls["net.ipv4.ip_forward"] == "1"
    assert "net.bridge.bridge-nf-call-iptables" in sysctls


def test_standin_overlay_is_honest_about_what_it_leaves_out() -> None:
    row = load_matrix().default_row
    ov = overlay_for(row, "worker", {"containerd": "1.6.20~ds1-1+deb12u3"})
    files = node_files(row, "worker")
    if b"version = 3" in files.get("/etc/containerd/config.toml", b""):
        assert "/etc/containerd/config.toml" not in ov.files
        assert any("config.toml not installed" in n for n in ov.notes)
    assert set(ov.files) <= set(files) | {p for p in ov.files if "etcd" in p}
    assert "containerd.service" in _preset_units(files)
    assert ov.enable == _preset_units(ov.files)


def test_runtime_ready_reads_real_crictl_output() -> None:
    # `crictl info` of cri-tools v1.36.0 against containerd v2.3.4 (captured from the stand-in boot):
    # the condition keys come sorted, "status" before "type"; the old text match missed RuntimeReady
    real = (Path(__file__).parent / "fixtures/crictl-1.36-info-containerd-2.3.4.json").read_text()
    assert checks._runtime_ready(real)
    assert not checks._runtime_ready(
        real.replace(
            '"status": true,\n        "type": "RuntimeReady"',
            '"status": false,\n        "type": "RuntimeReady"',
        )
    )
    assert not checks._runtime_ready("FATA[0000] connect: no such file or directory")
