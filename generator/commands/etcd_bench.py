"""Measure whether a directory's storage is fast enough for etcd's write-ahead log.

  rcar-k8s etcd-bench PATH [--count N] [--size BYTES] [--format text|json]

Writes N sequential records of BYTES (default 1000 x 2300 bytes) to a preallocated scratch file in
PATH, each followed by fdatasync, as etcd writes its WAL, and reports the fdatasync latency
p50/p99/max. etcd's guidance: p99 below 10 ms. Run it on the board (e.g. `rcar-k8s etcd-bench
/var/lib` on eMMC vs `/dev/shm`) to decide whether etcd needs the tmpfs (docs/etcd.md).

Exit status: 0 when p99 meets the guidance, 1 when it does not, 2 on bad input (missing or
unwritable directory). The scratch file is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from generator.errors import UserError
from generator.etcd import bench

NAME = "etcd-bench"
HELP = "fdatasync latency of a directory the way etcd writes its WAL (p50/p99 vs etcd's 10 ms)"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH", help="directory on the storage to measure")
    parser.add_argument(
        "--count", type=int, default=bench.DEFAULT_COUNT, help="number of writes (default %(default)s)"
    )
    parser.add_argument(
        "--size", type=int, default=bench.DEFAULT_SIZE, help="bytes per write (default %(default)s)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bench.check_target(args.path)  # fail fast, before any progress output
    if args.count < 1 or args.size < 1:
        raise UserError(f"--count {args.count} --size {args.size}: both must be at least 1")
    with Progress(
        TextColumn("etcd-bench"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=_stderr_console(),
        disable=not sys.stderr.isatty(),
    ) as progress:
        task = progress.add_task("fdatasync", total=args.count)
        result = bench.measure(
            args.path, args.count, args.size, progress=lambda n: progress.update(task, completed=n)
        )
    if args.format == "json":
        print(json.dumps(dict(result.to_dict(), verdict=bench.verdict(result)), indent=2))
    else:
        print(
            f"etcd-bench {result.path}: {result.count} x {result.size} B appends + fdatasync "
            f"in {result.total_s:.2f} s"
        )
        print(
            f"  fdatasync p50 {result.p50_ms:.3f} ms  p99 {result.p99_ms:.3f} ms  "
            f"max {result.max_ms:.3f} ms  mean {result.mean_ms:.3f} ms"
        )
        print(f"  {bench.verdict(result)}")
    return 0 if result.meets_guidance else 1


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)
