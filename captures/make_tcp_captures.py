"""Write the TCP analysis captures of captures/tcp/ (see README.md there).

Deterministic, as ``make_captures.py``: fixed timestamps and addresses, netdiag's
own builders and writer, byte-identical on a re-run. Each file stages the cases
tshark's TCP analysis names, so tests can hold ``netdiag tcp analyze`` to tshark
on them packet by packet:

- ``tcp-wrap.pcap``: both ISNs just below 2^32, so the sequence numbers wrap
  mid-transfer; a segment missing from the capture, duplicate ACKs with SACK
  blocks across the wrap, the fast retransmission, an out-of-order segment,
  a spurious retransmission, a plain retransmission after a timeout, FIN both ways.
- ``tcp-zerowin.pcap``: a receiver whose window fills: window full, zero window,
  a zero window probe and its ACK, a window update, then the rest; RST at the end.
- ``tcp-keepalive.pcap``: keep-alives (0 and 1 byte) and their ACKs, an ACK of
  a segment the capture missed, then the same ports reused by a new connection.

Run from the repository root: ``.venv/bin/python captures/make_tcp_captures.py [DIR]``
(default captures/tcp/).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the netdiag of this checkout, however we are run

from netdiag.capture import PcapWriter  # noqa: E402
from netdiag.packets import ethernet, ipv4, tcp  # noqa: E402

T0 = 1_700_000_000 * 1_000_000_000 + 3600 * 1_000_000_000  # one hour after make_captures.py
MS = 1_000_000
CLIENT, SERVER = "192.0.2.20", "198.51.100.90"
MAC_C, MAC_S = "02:00:00:00:00:14", "02:00:00:00:00:5a"
M32 = 0xFFFFFFFF


class Conn:
    """Both ends of one connection; each call writes one frame at time ``ms``."""

    def __init__(self, cport: int, sport: int, isn_c: int, isn_s: int, wscale: int = 7) -> None:
        self.ports = {"c": (cport, sport), "s": (sport, cport)}
        self.addrs = {"c": (CLIENT, SERVER), "s": (SERVER, CLIENT)}
        self.macs = {"c": (MAC_C, MAC_S), "s": (MAC_S, MAC_C)}
        self.nxt = {"c": isn_c, "s": isn_s}
        self.isn = {"c": isn_c, "s": isn_s}
        self.wscale = wscale
        self.frames: list[tuple[int, bytes]] = []
        self.ident = 0x100

    def seg(self, ms: float, side: str, seq: int, ack: int, flags: int, window: int,
            payload: bytes = b"", options: bytes = b"") -> None:  # fmt: skip
        src, dst = self.addrs[side]
        sp, dp = self.ports[side]
        seg = tcp.build(sp, dp, seq=seq & M32, ack=ack & M32, flags=flags, window=window,
                        options=options, payload=payload, src=src, dst=dst)  # fmt: skip
        self.ident += 1
        ip = ipv4.build(src, dst, 6, seg, ident=self.ident, df=True)
        smac, dmac = self.macs[side]
        self.frames.append((T0 + round(ms * MS), ethernet.build(dmac, smac, 0x0800, ip)))

    def handshake(self, ms: float, rtt: float = 10.0) -> None:
        o = tcp.build_options
        syn = o([(tcp.OPT_MSS, 1460), (tcp.OPT_SACK_PERM, None), (tcp.OPT_NOP, None),
                 (tcp.OPT_WSCALE, self.wscale)])  # fmt: skip
        c, s = self.isn["c"], self.isn["s"]
        self.seg(ms, "c", c, 0, tcp.SYN, 64240, options=syn)
        self.seg(ms + rtt / 2, "s", s, c + 1, tcp.SYN | tcp.ACK, 65160, options=syn)
        self.seg(ms + rtt, "c", c + 1, s + 1, tcp.ACK, 502)
        self.nxt = {"c": c + 1, "s": s + 1}


def sack(blocks: list[tuple[int, int]]) -> bytes:
    return tcp.build_options([(tcp.OPT_NOP, None), (tcp.OPT_NOP, None),
                              (tcp.OPT_SACK, [(a & M32, b & M32) for a, b in blocks])])  # fmt: skip


A = tcp.ACK
PA = tcp.PSH | tcp.ACK


def wrap() -> list[tuple[int, bytes]]:
    k = Conn(41000, 9000, isn_c=M32 - 2500, isn_s=M32 - 300)
    k.handshake(0)
    c, s = k.nxt["c"], k.nxt["s"]
    n = 1000
    # the request, then the response crosses the wrap in the server's direction
    k.seg(11, "c", c, s, PA, 502, b"q" * 100)
    c += 100
    k.seg(16, "s", s, c, A, 509, b"r" * 600)
    s += 600
    k.seg(17, "c", c, s, A, 502)
    # the client uploads 8 segments across its own wrap; segment 3 never arrives here
    t = 20.0
    for i in range(8):
        if i != 3:
            k.seg(t, "c", c + i * n, s, A, 502, b"d" * n)
        t += 0.5
    # the server: ACK of 0..2, then dup ACKs with SACK blocks past the hole
    hole = c + 3 * n
    k.seg(25, "s", s, hole, A, 509)
    for j, right in enumerate((5, 6, 7, 8)):
        k.seg(25.2 + j * 0.2, "s", s, hole, A, 509, options=sack([(hole + n, c + right * n)]))
    k.seg(26.3, "c", hole, s, A, 502, b"d" * n)  # fast retransmission of segment 3
    k.seg(31, "s", s, c + 8 * n, A, 509)
    c += 8 * n
    # new data, one segment overtaken by the next (out-of-order), then a resend of
    # data already acknowledged (spurious), then a timeout retransmission
    k.seg(40, "c", c + n, s, A, 502, b"e" * n)
    k.seg(40.5, "c", c, s, A, 502, b"e" * n)
    k.seg(46, "s", s, c + 2 * n, A, 509)
    k.seg(47, "c", c, s, A, 502, b"e" * n)
    c += 2 * n
    k.seg(50, "c", c, s, PA, 502, b"f" * 500)
    k.seg(260, "c", c, s, PA, 502, b"f" * 500)
    k.seg(266, "s", s, c + 500, A, 509)
    c += 500
    k.seg(300, "c", c, s, tcp.FIN | A, 502)
    k.seg(305, "s", s, c + 1, tcp.FIN | A, 509)
    k.seg(310, "c", c + 1, s + 1, A, 502)
    return k.frames


def zerowin() -> list[tuple[int, bytes]]:
    k = Conn(41001, 5002, isn_c=0x3000_0000, isn_s=0x5000_0000, wscale=0)
    k.handshake(0)
    c, s = k.nxt["c"], k.nxt["s"]
    n = 1000
    k.seg(11, "s", s, c, A, 4000)  # the receiver offers 4000 bytes
    for i in range(4):  # the fourth segment reaches the window's edge
        k.seg(12 + i * 0.1, "c", c + i * n, s, A, 64240, b"w" * n)
    c += 4 * n
    k.seg(20, "s", s, c, A, 0)  # zero window
    k.seg(220, "c", c, s, A, 64240, b"w")  # zero window probe
    k.seg(225, "s", s, c, A, 0)  # its ACK, still zero
    k.seg(600, "s", s, c, A, 8000)  # window update
    for i in range(3):
        k.seg(605 + i * 0.1, "c", c + i * n, s, A, 64240, b"v" * n)
    c += 3 * n
    k.seg(615, "s", s, c, A, 8000)
    k.seg(700, "c", c, s, tcp.RST | A, 0)
    return k.frames


def keepalive() -> list[tuple[int, bytes]]:
    k = Conn(41002, 22, isn_c=0x7000_0000, isn_s=0x0000_1000)
    k.handshake(0)
    c, s = k.nxt["c"], k.nxt["s"]
    k.seg(20, "c", c, s, PA, 502, b"hello")
    c += 5
    k.seg(25, "s", s, c, A, 509)
    k.seg(7025, "c", c - 1, s, A, 502)  # keep-alive, no data
    k.seg(7026, "s", s, c, A, 509)  # keep-alive ACK
    k.seg(8025, "c", c - 1, s, A, 502, b"\x00")  # keep-alive with one byte (BSD style)
    k.seg(8026, "s", s, c, A, 509)
    # the server's data segment is not in the capture, the client ACKs it
    k.seg(9000, "c", c, s + 300, A, 502)
    s += 300
    k.seg(9500, "c", c, s, tcp.FIN | A, 502)
    k.seg(9505, "s", s, c + 1, tcp.FIN | A, 509)
    k.seg(9510, "c", c + 1, s + 1, A, 502)
    # the same ports again, a new connection (tshark: port numbers reused)
    k2 = Conn(41002, 22, isn_c=0x7100_0000, isn_s=0x0100_1000)
    k2.handshake(12000)
    c, s = k2.nxt["c"], k2.nxt["s"]
    k2.seg(12020, "c", c, s, PA, 502, b"again")
    k2.seg(12025, "s", s, c + 5, tcp.RST | A, 0)
    return k.frames + k2.frames


CAPTURES = {"tcp-wrap.pcap": wrap, "tcp-zerowin.pcap": zerowin, "tcp-keepalive.pcap": keepalive}


def main(out: Path = HERE / "tcp") -> None:
    out.mkdir(exist_ok=True)
    for name, make in CAPTURES.items():
        with PcapWriter(out / name, 1) as w:
            for ts, frame in make():
                w.write(frame, ts)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "tcp")
