"""RTT of netdiag ping and iputils ping side by side: 100 probes at 10 ms across a
4-router namespace lab that this script builds and removes. Needs root.

All run in the same process run, one after the other, on the same path: netdiag
(send time read just before sendto, as iputils), iputils ping, and netdiag with
``kernel_tx_stamps`` (send time = the kernel's software TX stamp); the figures
are the median and iputils' mdev of the per-reply times each gives.
"""

from __future__ import annotations

import os
import re
import statistics

from netdiag.lab.lab import Lab
from netdiag.lab.netns import in_netns
from netdiag.ping.options import PingOptions
from netdiag.ping.run import ping

COUNT = 100
INTERVAL = 0.01


def _mdev(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return max(0.0, sum(v * v for v in values) / len(values) - mean * mean) ** 0.5


def main() -> int:
    lab = Lab.up(f"bp{os.getpid()}", routers=4)
    try:
        dst = lab.addr("dst")
        with in_netns(lab.src.netns):
            result = ping(dst, PingOptions(count=COUNT, interval=INTERVAL, deadline=10))
            stamped = ping(dst, PingOptions(count=COUNT, interval=INTERVAL, deadline=10,
                                            kernel_tx_stamps=True))  # fmt: skip
        mine = [r.rtt_ms for r in result.replies if not r.dup]
        tx = [r.rtt_ms for r in stamped.replies if not r.dup]
        out = lab.exec("src", ["ping", "-c", str(COUNT), "-i", str(INTERVAL), "-w", "10", dst],
                       capture_output=True, text=True, timeout=30)  # fmt: skip
        theirs = [float(x) for x in re.findall(r" time=([\d.]+) ms", out.stdout)]
    finally:
        lab.down()
    if not mine or not theirs:
        print(f"no replies: netdiag {len(mine)}, iputils {len(theirs)}")
        return 1
    rows = [("netdiag", mine), ("iputils", theirs), ("netdiag, kernel TX stamps", tx)]
    print(f"ping, {COUNT} probes at {INTERVAL * 1000:g} ms, 4 routers")
    for name, values in rows:
        print(f"  {name:26} received {len(values):3}  median {statistics.median(values):.3f} ms"
              f"  mdev {_mdev(values):.3f} ms")  # fmt: skip
    ratio = statistics.median(mine) / statistics.median(theirs)
    print(f"  median ratio netdiag/iputils: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
