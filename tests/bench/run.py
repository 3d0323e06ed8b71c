"""`make bench`: every benchmark, each comparing netdiag with its peer in the same run.

`make bench NAMES="decode ping"` runs a subset. Lab benchmarks need root.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: (module, title, needs root)
BENCHMARKS = (
    ("bench_startup", "start-up of each command on a trivial input, vs python -c pass", False),
    ("bench_decode", "packet decoding: netdiag vs dpkt vs scapy", False),
    ("bench_readfilter", "filtered read and read -w of the 200k mix, vs tcpdump -r", False),
    ("bench_readtext", "read text of the 200k mix with DNS and TLS, vs tcpdump and tshark", False),
    ("bench_tcpan", "tcp analyze on 200k segments, vs tshark -z conv,tcp -z expert", False),
    ("bench_ping", "ping RTT, 100 probes at 10 ms across a 4-router lab, vs iputils", True),
    ("bench_trace", "traceroute wall time on an 8-router lab, vs traceroute(8)", True),
    ("bench_paths", "silent tail, delay, rate limits, no root: vs traceroute(8) and mtr", True),
    ("bench_sniff", "capture cost per packet on a veth flood, vs tcpdump", True),
    ("bench_sniff_rotate", "sniff -w -C 10 (rotating files), veth flood, vs tcpdump -C 10", True),
    ("bench_udp", "highest 0%-loss UDP rate, 64-byte payload, vs iperf3", True),
    ("bench_fping", "sweep of a half-alive /24, -r 0 -t 500 (and -i 1), vs fping 5.1", True),
    ("bench_exporter", "exporter, 1,000 targets at 1 s for 60 s, vs smokeping_prober", True),
    (
        "bench_multipath",
        "traceroute --multipath, ECMP labs, vs scamper and dublin-traceroute",
        True,
    ),
)


def main(argv: list[str]) -> int:
    wanted = set(argv) or {m.removeprefix("bench_") for m, _, _ in BENCHMARKS}
    for module, title, needs_root in BENCHMARKS:
        if module.removeprefix("bench_") not in wanted:
            continue
        print(f"\n== {title} ==", flush=True)
        if needs_root and os.geteuid() != 0:
            print("skipped: needs root to build the lab")
            continue
        importlib.import_module(module).main()
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
