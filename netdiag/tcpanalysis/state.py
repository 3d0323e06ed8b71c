"""The state the analysis keeps: per direction (tshark's per-flow fields and the
counts that make the connection's figures) and per connection."""

from __future__ import annotations

from netdiag.tcpanalysis.flags import NFLAGS

__all__ = ["Direction", "Connection"]


class Direction:
    """One direction of a connection: tshark's per-flow state, and its counts."""

    __slots__ = (
        "src", "sport", "base_set", "base", "nextseq", "nextseqtime", "lastack", "lastacktime",
        "dupacknum", "maxseqtobeacked", "window", "win_scale", "valid_bif", "lastflags",
        "segs", "hi", "hi_raw", "maxnext",
        "packets", "bytes", "payload", "data_segments", "retransmitted", "max_bif",
        "rtt_n", "rtt_sum", "rtt_min", "rtt_max", "zw_ns", "zw_since", "fin", "rst",
        "data_lo", "data_hi", "sack_blocks", "dsack_blocks", "sack_n", "sack_sum",
    )  # fmt: skip

    def __init__(self, src: str, sport: int) -> None:
        self.src = src
        self.sport = sport
        self.base_set = False
        self.base = 0  # tshark's base_seq: the ISN, or the first seq - 1
        self.nextseq = 0  # raw 32-bit; 0: not known (as tshark)
        self.nextseqtime = 0
        self.lastack = 0
        self.lastacktime = 0
        self.dupacknum = 0
        self.maxseqtobeacked = 0
        self.window = 0xFFFFFFFF  # tshark starts with G_MAXUINT32: no window seen
        self.win_scale = -1  # -1 unknown, -2 not used, else the shift
        self.valid_bif = True
        self.lastflags = 0
        # Unacknowledged segments [seq, nextseq, ts_ns], unwrapped, sorted by seq.
        self.segs: list[list[int]] = []
        self.hi = -1  # highest unwrapped sequence number seen (-1: none yet)
        self.hi_raw = 0
        self.maxnext = 0  # highest nextseq in ``segs``
        self.packets = self.bytes = self.payload = self.data_segments = 0
        self.retransmitted = self.max_bif = 0
        self.rtt_n = self.rtt_sum = self.rtt_max = 0
        self.rtt_min = -1
        self.zw_ns = 0
        self.zw_since = -1
        self.fin = self.rst = False
        self.data_lo = self.data_hi = -1  # unwrapped span of the data sent
        self.sack_blocks = self.dsack_blocks = 0
        # The SACK blocks of the direction's last segment (tshark keeps up to 3).
        self.sack_n = self.sack_sum = 0


class Connection:
    """Both directions of one TCP connection (tshark's ``tcp.stream``)."""

    __slots__ = ("stream", "a", "b", "first_ts", "last_ts", "mru_syn", "first_rtt",
                 "counts")  # fmt: skip

    def __init__(self, stream: int, src: str, sport: int, dst: str, dport: int, now: int) -> None:
        self.stream = stream
        self.a = Direction(src, sport)  # the first packet's sender
        self.b = Direction(dst, dport)
        self.first_ts = self.last_ts = now
        self.mru_syn = 0  # time of the last SYN without ACK (0: none)
        self.first_rtt = 0  # the initial RTT in ns (0: not known)
        self.counts = [0] * NFLAGS
