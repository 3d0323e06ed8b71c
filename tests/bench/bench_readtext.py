"""`netdiag read` text output of a 200k-packet mix with DNS and TLS in it, against
`tcpdump -n -r` and `tshark -r` on the same file, in the same run (issue 15's row).

The mix: bench_decode's deterministic 200k frames (TCP, UDP, ICMP, ARP over IPv4 and
IPv6, some VLAN-tagged), with every tenth frame replaced by a real DNS message or TLS
record taken from the sample captures (captures/udp-dns.pcap, captures/app/lab.pcap,
captures/tls/tls13.pcap): so the application dissectors and the TLS reassembly run
as they do on real traffic. Wall time, best of 3, start-up included; output to
/dev/null. Ratios: netdiag / tcpdump (goal <= 3) and tshark / netdiag (goal >= 10).
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_decode

from netdiag.capture.files import open_writer, read_capture

ROOT = Path(__file__).resolve().parents[2]
APP_SAMPLES = ("captures/udp-dns.pcap", "captures/app/lab.pcap", "captures/tls/tls13.pcap")


def build(path: Path) -> int:
    base = Path(path.parent, "base.pcap")
    bench_decode.generate(base)
    app = []
    for name in APP_SAMPLES:
        with read_capture(str(ROOT / name)) as reader:
            app += [rec.data for rec in reader if rec.linktype == 1]
    rnd = random.Random(11)
    n = 0
    with read_capture(str(base)) as reader, open_writer(str(path), 1) as w:
        for i, rec in enumerate(reader):
            data = app[rnd.randrange(len(app))] if i % 10 == 9 else rec.data
            w.write(data, rec.ts_ns)
            n += 1
    return n


def _wall(argv: list[str]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.monotonic()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       env={"TZ": "UTC", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})  # fmt: skip
        best = min(best, time.monotonic() - start)
    return best


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d, "mix.pcap")
        n = build(path)
        ours = _wall([sys.executable, "-m", "netdiag", "read", str(path)])
        dump = _wall(["tcpdump", "-n", "-r", str(path)])
        shark = _wall(["tshark", "-n", "-r", str(path)])
    print(f"{n} packets (one in ten DNS or TLS from the sample captures); wall, best of 3")
    print(f"  netdiag read     {ours:7.2f} s")
    print(f"  tcpdump -n -r    {dump:7.2f} s   netdiag/tcpdump = {ours / dump:5.1f}x (goal <= 3)")
    print(
        f"  tshark -n -r     {shark:7.2f} s   tshark/netdiag  = {shark / ours:5.1f}x (goal >= 10)"
    )
    return {"read_s": ours, "tcpdump_s": dump, "tshark_s": shark}


if __name__ == "__main__":
    main()
