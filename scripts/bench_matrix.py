#!/usr/bin/env python3
"""Time `matrix check` + resolving every row, in-process and through the CLI (target: < 0.3 s).

  python3 scripts/bench_matrix.py [--repeat N]

In-process: load + schema-validate the lock file, check every rule for every row and runtime,
then resolve every (row, runtime) in binary mode: the work the generator does. Via the CLI: one
`rcar-k8s matrix check` plus one `rcar-k8s matrix resolve --k8s M` per row, each a fresh Python
process (interpreter start-up and imports included). Best of N runs; prints both figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def in_process() -> float:
    from generator.matrix.resolve import resolve
    from generator.matrix.rules import check_matrix, load_checked, row_runtimes

    t0 = time.perf_counter()
    date = dt.date(2026, 11, 25)
    matrix, lines = load_checked()
    check_matrix(matrix, date=date, lines=lines)
    for row in matrix.rows:
        for runtime in row_runtimes(row):
            resolve(matrix, row.minor, runtime=runtime, date=date)
    return time.perf_counter() - t0


def via_cli(minors: list[str]) -> float:
    cmds = [["matrix", "check", "--date", "2026-11-25"]]
    cmds += [["matrix", "resolve", "--k8s", m, "--date", "2026-11-25"] for m in minors]
    t0 = time.perf_counter()
    for c in cmds:
        subprocess.run([sys.executable, "-m", "generator", *c], cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from generator.matrix.model import load_matrix

    minors = load_matrix().minors
    ip = min(in_process() for _ in range(args.repeat))
    cli = min(via_cli(minors) for _ in range(args.repeat))
    print(f"in-process: check + resolve {len(minors)} rows x runtimes: {ip * 1000:.1f} ms "
          f"({'within' if ip < 0.3 else 'OVER'} the 0.3 s target)")
    print(f"via CLI:    1 check + {len(minors)} resolve processes: {cli * 1000:.0f} ms total, "
          f"{cli / (len(minors) + 1) * 1000:.0f} ms per process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
