"""Capture cost of ``netdiag sniff -w -C 10`` and ``tcpdump -C 10``: writing a veth
flood into files that rotate every 10 MB (issue 16's row).

The lab, the flood and the CPU accounting are bench_sniff's (a two-node lab, a
``SECONDS`` iperf3 flood of 64-byte UDP, CPU of the capture process from its
"listening on" line to the end of the flood). Both tools write a ring of 5 files
(``-C 10 -W 5``: every rotation is paid, the disk use stays bounded) into a tmpfs
this script mounts and unmounts, so the figure is the capture's CPU and not the
disk's. Contenders:

- ``tcpdump -C 10``                  tcpdump -C 10 -W 5 -w DIR/f
- ``netdiag -C 10``                  netdiag sniff -C 10 -W 5 -w DIR/f (pcap: whole ring
  blocks, one write each)
- ``netdiag -C 10, -B 65536``        the same with a 64 MiB ring instead of 16 (on a
  busy machine this is what keeps the drops at 0)
- ``netdiag -C 10, pcapng``          the same to DIR/f.pcapng (one block per packet)

Needs root, tcpdump and iperf3.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from bench_sniff import PIN_CAPTURE, ROUNDS, SECONDS, _capture, _per_packet, make_flood

from netdiag.lab.lab import Lab


def _clean(d: str) -> None:
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))


def main() -> int:
    if shutil.which("tcpdump") is None or shutil.which("iperf3") is None:
        print("skipped: needs tcpdump and iperf3")
        return 0
    out = tempfile.mkdtemp(prefix="netdiag-bench-rotate-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192m", "netdiag-bench-rotate", out],
                   check=True)  # fmt: skip
    lab = None
    try:
        lab = Lab.up(f"br{os.getpid()}", routers=0)
        flood = make_flood(lab)
        ring = ["-C", "10", "-W", "5", "-i", "eth0"]
        nd = [*PIN_CAPTURE, sys.executable, "-m", "netdiag", "sniff", *ring]
        runs = [
            ("tcpdump -C 10", [*PIN_CAPTURE, "tcpdump", "-Z", "root", *ring, "-w", f"{out}/f"]),
            ("netdiag -C 10", [*nd, "-w", f"{out}/f"]),
            ("netdiag -C 10, -B 65536", [*nd, "-B", "65536", "-w", f"{out}/f"]),
            ("netdiag -C 10, pcapng", [*nd, "-w", f"{out}/f.pcapng"]),
        ]
        rounds = []
        files = {}
        for _ in range(ROUNDS):
            row = []
            for name, argv in runs:
                row.append(_capture(lab, argv, flood))
                files[name] = len(os.listdir(out))
                _clean(out)
            rounds.append(row)
    finally:
        if lab is not None:
            lab.down()
        subprocess.run(["umount", out], check=False)
        os.rmdir(out)
    print(
        f"capture of a {SECONDS} s iperf3 flood of 64-byte UDP over one veth pair, written "
        f"to a ring of 5 files rotated every 10 MB (-C 10 -W 5, tmpfs), {ROUNDS} rounds"
    )
    print("CPU: user+system seconds of the capture process from 'listening on' to the end of")
    print("the flood; us/pkt per packet captured. Median over the rounds; [min..max] of us/pkt.")
    print(f"  {'':24} {'sent':>8} {'captured':>8} {'by filter':>9} {'dropped':>7}"
          f" {'CPU s':>6} {'us/pkt':>7}  range         files")  # fmt: skip
    for i, (name, _argv) in enumerate(runs):
        per_round = [r[i] for r in rounds]
        pers = sorted(_per_packet(c) for c in per_round)
        c = sorted(per_round, key=_per_packet)[len(per_round) // 2]
        drops = max(x["dropped by kernel"] for x in per_round)
        span = f"[{pers[0]:.3f}..{pers[-1]:.3f}]"
        print(f"  {name:24} {c['sent']:8.0f} {c['captured']:8.0f}"
              f" {c['received by filter']:9.0f} {drops:7.0f} {c['cpu_in']:6.2f}"
              f" {_per_packet(c):7.3f}  {span:13} {files[name]}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
