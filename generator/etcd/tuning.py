"""etcd settings for a control plane on slow storage, decided once and rendered into two recipes.

The kubeadm-config recipe renders these as etcd ``extraArgs``; the etcd-tmpfs recipe sizes its
tmpfs from the same numbers, so the RAM disk can never be smaller than the quota etcd enforces.
Reasoning (docs/etcd.md has the long form):

* ``heartbeat-interval``/``election-timeout``: etcd's tuning guide puts the election timeout at
  ≥10x the heartbeat. A leader stuck in a slow eMMC fdatasync misses heartbeats ("leader failed to
  send out heartbeat on time ... likely from slow disk") and followers start elections. 500/5000 ms
  tolerates a 10x slower disk than the 100/1000 ms defaults. On a single member (the common R-Car
  case) they cost nothing; in a stacked HA cluster they add ~5 s to a real leader failover.
* ``snapshot-count``: raft entries kept in memory and in the WAL between snapshots. etcd 3.6 lowered
  the default from 100000 to 10000; pinning 10000 gives 3.5 rows the same smaller RAM/WAL footprint.
* ``quota-backend-bytes``: the backend db limit. 512 MiB is ~10x what a small cluster uses and keeps
  the worst case inside the tmpfs below (etcd's default 2 GiB would need a 2.5 GiB RAM disk).
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
WAL_SEGMENT_BYTES = 64 * MIB  # etcd preallocates each WAL segment (wal.SegmentSizeBytes)
DEFAULT_MAX_WALS = 5  # etcd --max-wals default: retained segments; +1 for the preallocated .tmp segment


@dataclass(frozen=True)
class EtcdArg:
    name: str
    value: str
    why: str


HEARTBEAT_MS = 500
ELECTION_MS = 5000
SNAPSHOT_COUNT = 10000
QUOTA_BYTES = 512 * MIB

EXTRA_ARGS: tuple[EtcdArg, ...] = (
    EtcdArg(
        "heartbeat-interval", str(HEARTBEAT_MS), "5x the 100 ms default: a leader blocked in a slow fdatasync"
    ),
    EtcdArg("election-timeout", str(ELECTION_MS), "10x heartbeat (etcd tuning guide)"),
    EtcdArg("snapshot-count", str(SNAPSHOT_COUNT), "etcd 3.6 default; smaller in-memory raft log on 3.5"),
    EtcdArg("quota-backend-bytes", str(QUOTA_BYTES), "512 MiB: must fit the tmpfs (ETCD_TMPFS_SIZE)"),
)


def tmpfs_min_bytes() -> int:
    """Worst case etcd can write to its data dir: a full db plus every retained WAL segment."""
    return QUOTA_BYTES + (DEFAULT_MAX_WALS + 1) * WAL_SEGMENT_BYTES


# The tmpfs is a ceiling, not a reservation: it only uses the RAM etcd actually writes.
TMPFS_SIZE = "1G"
TMPFS_MODE = "0700"  # etcd refuses a data dir readable by others (it warns and chmods to 0700)
SNAPSHOT_INTERVAL = "15min"
SNAPSHOT_KEEP = 4


def size_bytes(text: str) -> int:
    """tmpfs ``size=`` syntax (k/m/g suffix, powers of 1024) to bytes."""
    units = {"k": 1024, "m": MIB, "g": 1024 * MIB}
    text = text.strip().lower()
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


assert size_bytes(TMPFS_SIZE) >= tmpfs_min_bytes(), "tmpfs smaller than etcd's worst case"
