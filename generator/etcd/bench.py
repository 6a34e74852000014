"""fdatasync latency measured the way etcd writes its write-ahead log.

etcd appends each raft batch to a preallocated WAL segment and calls fdatasync before it answers;
its guidance is that the 99th percentile of that sync (``etcd_disk_wal_fsync_duration_seconds``)
stays below 10 ms. This module does the same on a directory: preallocate a file, then ``count``
sequential appends of ``size`` bytes, each followed by fdatasync, and time each sync. The default
size (2300 bytes) is the one etcd's own disk benchmark guidance uses with fio.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from generator.errors import UserError

GUIDANCE_P99_MS = 10.0
DEFAULT_COUNT = 1000
DEFAULT_SIZE = 2300


@dataclass(frozen=True)
class Result:
    path: str
    count: int
    size: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    total_s: float
    meets_guidance: bool

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["guidance_p99_ms"] = GUIDANCE_P99_MS
        return d


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (the sample a fraction pct/100 of syncs stay under)."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def check_target(path: Path) -> Path:
    if not path.exists():
        raise UserError(
            f"{path}: no such directory; pass a directory on the storage to measure (e.g. /var/lib)"
        )
    if not path.is_dir():
        raise UserError(f"{path}: not a directory; pass the directory etcd would write to (e.g. /var/lib)")
    return path


def measure(
    path: Path,
    count: int = DEFAULT_COUNT,
    size: int = DEFAULT_SIZE,
    progress: Callable[[int], None] | None = None,
) -> Result:
    """Run the benchmark in ``path``; the scratch file is removed whatever happens."""
    if count < 1:
        raise UserError(f"--count {count}: need at least 1 write")
    if size < 1:
        raise UserError(f"--size {size}: need at least 1 byte per write")
    check_target(path)
    name = path / f".rcar-k8s-etcd-bench-{os.getpid()}.wal"
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UserError(
            f"{path}: cannot create a file there ({exc.strerror}); pick a writable directory"
        ) from None
    samples: list[float] = []
    try:
        try:
            # like etcd's WAL segments: space allocated up front, so each sync flushes data, not size
            os.posix_fallocate(fd, 0, count * size)
            os.fsync(fd)
        except OSError as exc:
            raise UserError(f"{path}: cannot allocate {count * size} bytes ({exc.strerror})") from None
        record = os.urandom(size)
        start = time.perf_counter()
        for i in range(count):
            os.write(fd, record)
            t0 = time.perf_counter()
            os.fdatasync(fd)
            samples.append((time.perf_counter() - t0) * 1000.0)
            if progress:
                progress(i + 1)
        total = time.perf_counter() - start
    except OSError as exc:
        raise UserError(f"{path}: write failed ({exc.strerror})") from None
    finally:
        os.close(fd)
        name.unlink(missing_ok=True)
    ordered = sorted(samples)
    p99 = percentile(ordered, 99)
    return Result(
        path=str(path),
        count=count,
        size=size,
        p50_ms=round(percentile(ordered, 50), 4),
        p99_ms=round(p99, 4),
        max_ms=round(ordered[-1], 4),
        mean_ms=round(sum(ordered) / len(ordered), 4),
        total_s=round(total, 3),
        meets_guidance=p99 < GUIDANCE_P99_MS,
    )


def verdict(result: Result) -> str:
    if result.meets_guidance:
        return f"OK: p99 {result.p99_ms:.3f} ms < {GUIDANCE_P99_MS:g} ms, meets etcd's WAL fsync guidance"
    return (
        f"TOO SLOW: p99 {result.p99_ms:.3f} ms >= {GUIDANCE_P99_MS:g} ms; etcd will time out here "
        "(put its data on tmpfs with the etcd-tmpfs recipe, or use faster storage)"
    )
