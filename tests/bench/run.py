"""`make bench`: every benchmark, each comparing netdiag with its peer in the same run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_decode  # noqa: E402


def main() -> int:
    print("== packet decoding ==")
    bench_decode.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
