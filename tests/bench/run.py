"""`make bench`: every benchmark, each comparing netdiag with its peer in the same run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_decode  # noqa: E402
import bench_ping  # noqa: E402


def main() -> int:
    print("== packet decoding ==")
    bench_decode.main()
    print("\n== ping RTT, 100 probes at 10 ms across a 4-router lab ==")
    if os.geteuid() == 0:
        bench_ping.main()
    else:
        print("skipped: needs root to build the lab")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
