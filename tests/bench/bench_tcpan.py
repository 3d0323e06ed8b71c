"""``netdiag tcp analyze`` vs tshark's TCP conversations and expert flags.

A generated 200,000-segment capture: 200 connections interleaved, each a bulk
transfer (1448-byte segments, an ACK every second segment) in which about 1% of
the segments never reach the capture point, so the receiver sends duplicate
ACKs with SACK blocks and the sender retransmits. Frames are stored cut to
their headers (the lengths on the wire are kept), as ``tcpdump -s 96`` would.
Wall time and CPU time of the whole command, best of 3 each (CPU time is the
steadier figure on a shared machine), for ``netdiag tcp analyze F`` and
``tshark -r F -q -z conv,tcp -z expert`` (the per-connection table plus the
expert flags: the same job); both must find the same connections.
"""

from __future__ import annotations

import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netdiag.capture.files import open_writer
from netdiag.packets import ethernet, ipv4, tcp

N_SEGMENTS = 200_000
N_CONNS = 200
MSS = 1448
SNAP = 96
ROUNDS = 3
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"


def _frame(src: str, dst: str, sp: int, dp: int, seq: int, ack: int, flags: int,
           length: int = 0, options: bytes = b"") -> tuple[bytes, int]:  # fmt: skip
    seg = tcp.build(sp, dp, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF, flags=flags,
                    window=2048, options=options, payload=bytes(length))  # fmt: skip
    frame = ethernet.build(MAC_B, MAC_A, 0x0800, ipv4.build(src, dst, 6, seg))
    return frame[:SNAP], len(frame)


def _connection(i: int, rnd: random.Random, budget: int) -> list[tuple[bytes, int]]:
    c, s = f"198.18.{i // 250}.{1 + i % 250}", "198.19.0.1"
    cp, sp = 20000 + i, 5201
    isn_c, isn_s = rnd.getrandbits(32), rnd.getrandbits(32)
    o = tcp.build_options
    syn = o([(tcp.OPT_MSS, MSS), (tcp.OPT_SACK_PERM, None), (tcp.OPT_NOP, None),
             (tcp.OPT_WSCALE, 7)])  # fmt: skip
    out = [
        _frame(c, s, cp, sp, isn_c, 0, tcp.SYN, options=syn),
        _frame(s, c, sp, cp, isn_s, isn_c + 1, tcp.SYN | tcp.ACK, options=syn),
        _frame(c, s, cp, sp, isn_c + 1, isn_s + 1, tcp.ACK),
    ]
    seq, acked, a = isn_c + 1, isn_c + 1, isn_s + 1
    hole = None
    k = 0
    while len(out) < budget:
        if hole is None and rnd.random() < 0.01:
            hole = seq  # this segment is lost before the capture point
        else:
            out.append(_frame(c, s, cp, sp, seq, a, tcp.ACK, MSS))
        seq += MSS
        k += 1
        if hole is not None and seq - hole >= 4 * MSS:
            sack = o([(tcp.OPT_NOP, None), (tcp.OPT_NOP, None),
                      (tcp.OPT_SACK, [((hole + MSS) & 0xFFFFFFFF, seq & 0xFFFFFFFF)])])  # fmt: skip
            out += [_frame(s, c, sp, cp, a, hole, tcp.ACK, options=sack)] * 3
            out.append(_frame(c, s, cp, sp, hole, a, tcp.ACK, MSS))  # the retransmission
            hole = None
            acked = seq
            out.append(_frame(s, c, sp, cp, a, acked, tcp.ACK))
        elif hole is None and k % 2 == 0:
            acked = seq
            out.append(_frame(s, c, sp, cp, a, acked, tcp.ACK))
    out.append(_frame(c, s, cp, sp, seq, a, tcp.FIN | tcp.ACK))
    out.append(_frame(s, c, sp, cp, a, seq + 1, tcp.FIN | tcp.ACK))
    out.append(_frame(c, s, cp, sp, seq + 1, a + 1, tcp.ACK))
    return out


def generate(path: Path, n: int = N_SEGMENTS, seed: int = 11) -> int:
    """The capture, connections interleaved round-robin; returns the frame count."""
    rnd = random.Random(seed)
    conns = [_connection(i, rnd, n // N_CONNS - 3) for i in range(N_CONNS)]
    t = 1_700_000_000 * 10**9
    written = 0
    with open_writer(path, 1, snaplen=SNAP) as w:
        for j in range(max(len(x) for x in conns)):
            for frames in conns:
                if j < len(frames):
                    data, wirelen = frames[j]
                    t += 5_000  # 5 us apart
                    w.write(data, t, wirelen)
                    written += 1
    return written


def _best(argv: list[str]) -> tuple[float, float, str]:
    """Best wall time and best CPU time (user + system) of ``ROUNDS`` runs, and the output."""
    wall = cpu = float("inf")
    out = ""
    for _ in range(ROUNDS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=900)
        wall = min(wall, time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = min(cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        out = done.stdout
    return wall, cpu, out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tcp200k.pcap"
        frames = generate(path)
        ours, ours_cpu, text = _best([sys.executable, "-m", "netdiag", "tcp", "analyze", str(path)])
        theirs, theirs_cpu, ttext = _best(
            ["tshark", "-r", str(path), "-q", "-z", "conv,tcp", "-z", "expert"]
        )
    summary = text.strip().splitlines()[-1]
    tshark_conns = sum(1 for line in ttext.splitlines() if "<->" in line)
    print(f"capture: {frames} TCP segments, {N_CONNS} connections ({summary})")
    print(f"netdiag tcp analyze:              wall {ours:6.2f} s, CPU {ours_cpu:6.2f} s")
    print(f"tshark -q -z conv,tcp -z expert:  wall {theirs:6.2f} s, CPU {theirs_cpu:6.2f} s"
          f"  ({tshark_conns} conversations)")  # fmt: skip
    print(f"netdiag is {theirs / ours:.2f}x as fast as tshark in wall time, "
          f"{theirs_cpu / ours_cpu:.2f}x in CPU time")  # fmt: skip
    if f"in {tshark_conns} connections" not in summary:
        print("MISMATCH: the connection counts differ")


if __name__ == "__main__":
    main()
