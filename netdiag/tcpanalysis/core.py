"""The TCP analysis state machine: tshark's expert flags, per packet, and what each
connection adds up to. Pure: fed with header fields and capture timestamps.

The rules, their order and their quirks are those of Wireshark 4.0's
``tcp_analyze_sequence_number`` (packet-tcp.c), read to be understood and
written here anew; tshark 4.0 on the same files is the test oracle. Per
direction it keeps the next expected sequence number (``nextseq``, 0 meaning
"not known yet", as tshark does), the last ACK, window and their times, the
duplicate-ACK count, the highest contiguous sequence number (for "ACKed
unseen segment") and the list of unacknowledged segments (at most 1000, as
tshark's ``TCP_MAX_UNACKED_SEGMENTS``). A segment is then checked in this order:

1. zero window probe: 1 byte at ``nextseq`` while the peer's window is 0
   (and nothing else below but the ACK bookkeeping);
2. zero window (window 0, no SYN/FIN/RST); lost segment ("previous segment not
   captured": beyond ``nextseq``, not RST); keep-alive (0 or 1 byte at
   ``nextseq - 1``); window update (no data, same seq/ack, a new non-zero
   window); window full (data up to the edge of the peer's advertised window,
   its scale known);
3. keep-alive ACK, zero window probe ACK, or duplicate ACK (no data, same
   seq/ack/window as the direction's last segment; numbered from 1 until the
   ACK changes);
4. ACKed unseen segment: an ACK past the peer's highest contiguous sequence
   number; said once per unseen segment (past a gap in what the peer sent, the
   mark moves up to its ``nextseq``; past all it sent, once until the peer's
   own ACK changes, and the next duplicate ACK is then #1);
5. for data, SYN or FIN (not a keep-alive): spurious retransmission (all of it
   at or below the peer's last ACK); then, if it does not advance ``nextseq``,
   fast retransmission (at the peer's repeated ACK, after 2 duplicate ACKs,
   within 20 ms of the last: tshark 4.0's ``fastrt_supersedes_ooo``),
   out-of-order (within the initial RTT, 3 ms without one, of the segment that
   set ``nextseq``), else retransmission. A segment of 2 bytes or more starting
   at ``nextseq - 1`` is new data (after a zero window probe). tshark also
   shows ``tcp.analysis.retransmission`` on fast and spurious ones; here each
   segment has one of the four.

Then the ACK removes what it covers from the peer's unacknowledged list; the
oldest segment it ends exactly gives the ACK RTT (``tcp.analysis.ack_rtt``,
shown when non-zero). Bytes in flight, after a data segment, are the span of
the sender's unacknowledged list less the bytes the peer's last segment
SACKed (its first 3 blocks), less 1 for a SYN or FIN. The initial RTT is from
the last SYN (without ACK) to the first ACK without SYN after it; the window
scale comes from the SYNs, known only when both were seen.

Which tshark version's rules these are was settled on tshark 4.0.17 itself:
captures made to tell the variants apart, and the public corpus, where every
TCP frame agrees (the two files with impossible timestamps aside).

Sequence arithmetic is 32-bit and compares through the signed difference
(RFC 9293 §3.4), so numbers wrap; the unacknowledged list keeps unwrapped
numbers, sorted, so an ACK touches only the segments it covers (the hot path:
a bulk transfer ACKs the oldest few). SACK blocks are counted, and those
below the cumulative ACK (D-SACK, RFC 2883: the receiver got data twice).
"""

from __future__ import annotations

from bisect import bisect_right

from netdiag.tcpanalysis.flags import (
    ACK_LOST_SEGMENT,
    DUPLICATE_ACK,
    FAST_RETRANSMISSION,
    KEEP_ALIVE,
    KEEP_ALIVE_ACK,
    LOST_SEGMENT,
    NFLAGS,
    OUT_OF_ORDER,
    RETRANSMISSION,
    RETRANSMITTED,
    REUSED_PORTS,
    SPURIOUS_RETRANSMISSION,
    WINDOW_FULL,
    WINDOW_UPDATE,
    ZERO_WINDOW,
    ZERO_WINDOW_PROBE,
    ZERO_WINDOW_PROBE_ACK,
)  # fmt: skip
from netdiag.tcpanalysis.state import Connection, Direction

__all__ = ["Analyzer", "MAX_UNACKED"]

_M = 0xFFFFFFFF
_HALF = 0x80000000
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_SFR = SYN | FIN | RST

MAX_UNACKED = 1000  # tshark's TCP_MAX_UNACKED_SEGMENTS
_FAST_RT_NS = 20_000_000  # a fast retransmission follows the last dup ACK within 20 ms
_OOO_DEFAULT_NS = 3_000_000  # out-of-order window before the initial RTT is known
_BIF_LIMIT = 2_000_000_000


def _gt(a: int, b: int) -> bool:
    """``a`` after ``b`` in 32-bit sequence space."""
    return 0 < ((a - b) & _M) < _HALF


_Entry = tuple[Connection, Direction, Direction]


class Analyzer:
    """Feed it every TCP segment of a capture in order; it returns each one's flags.

    After ``feed``, ``dupack_num``, ``ack_rtt`` (ns, 0 when none), ``bif``
    (bytes in flight, 0 when none) and ``conn`` describe the same segment.
    ``connections`` lists them all in the order they began.

    ``feed`` is one function on purpose (STYLE habit 9): it runs once per segment
    of captures of millions, and on CPython each call and attribute costs.
    """

    __slots__ = ("_table", "connections", "dupack_num", "ack_rtt", "bif", "conn")

    def __init__(self) -> None:
        # (src, sport, dst, dport) -> (connection, sender's direction, receiver's)
        self._table: dict[tuple[str, int, str, int], _Entry] = {}
        self.connections: list[Connection] = []
        self.dupack_num = self.ack_rtt = self.bif = 0
        self.conn: Connection | None = None

    def _new(self, key: tuple[str, int, str, int], now: int) -> _Entry:
        src, sport, dst, dport = key
        c = Connection(len(self.connections), src, sport, dst, dport, now)
        self.connections.append(c)
        found = self._table[key] = (c, c.a, c.b)
        self._table[(dst, dport, src, sport)] = (c, c.b, c.a)
        return found

    def feed(self, now: int, src: str, sport: int, dst: str, dport: int, seq: int, ack: int,
             flags: int, window: int, seglen: int, wirelen: int,
             options: list[tuple[int, object]] | None = None) -> int:  # fmt: skip
        """One segment: ``now`` in ns, header fields raw, ``seglen`` the payload length
        the IP header declares, ``options`` parsed (needed on SYNs, for the window
        scale, and for SACK blocks; None when it has none of those)."""
        key = (src, sport, dst, dport)
        found = self._table.get(key)
        if found is None:
            found = self._new(key, now)
        c, f, r = found
        af = 0
        if flags & SYN and f.base_set and seq != f.base:
            af = REUSED_PORTS
            if not flags & ACK:  # a new SYN on these ports: a new connection
                c, f, r = self._new(key, now)
        self.conn = c
        c.last_ts = now
        dupack_num = 0

        # -- tshark's tcp_analyze_sequence_number, in its order
        if not f.base_set:
            f.base_set = True
            f.base = seq if flags & SYN else (seq - 1) & _M
        if flags & ACK:
            if not r.base_set:
                r.base_set = True
                r.base = (ack - 1) & _M
            r.valid_bif = True
        nxt = f.nextseq
        if seglen == 1 and seq == nxt and r.window == 0:
            af |= ZERO_WINDOW_PROBE
        else:
            plain = not flags & _SFR
            if window == 0 and plain:
                af |= ZERO_WINDOW
            if nxt and 0 < ((seq - nxt) & _M) < _HALF and not flags & RST:
                af |= LOST_SEGMENT
                f.valid_bif = False
            if seglen <= 1 and seq == (nxt - 1) & _M and plain:
                af |= KEEP_ALIVE
            if seglen == 0 and seq == nxt and ack == f.lastack and plain:
                if window and window != f.window:
                    af |= WINDOW_UPDATE
                elif window and r.lastflags & KEEP_ALIVE:
                    af |= KEEP_ALIVE_ACK
                elif window == 0 and f.window == 0 and r.lastflags & ZERO_WINDOW_PROBE:
                    af |= ZERO_WINDOW_PROBE_ACK
                elif window:
                    # -1: the count after an "ACKed unseen segment"; then this is #1.
                    dupack_num = f.dupacknum = 1 if f.dupacknum == -1 else f.dupacknum + 1
                    af |= DUPLICATE_ACK
            elif seglen and r.win_scale != -1 and plain:
                edge = r.lastack + (r.window << (0 if r.win_scale == -2 else r.win_scale))
                if (seq + seglen) & _M == edge & _M:
                    af |= WINDOW_FULL
        if ack != f.lastack:
            f.dupacknum = 0
        rmax = r.maxseqtobeacked
        if rmax and flags & ACK and 0 < ((ack - rmax) & _M) < _HALF:
            # Once per unseen segment: past a gap in what the peer sent, the mark
            # moves up to its nextseq; past all it sent, once until its ACK changes.
            if 0 < ((r.nextseq - rmax) & _M) < _HALF:
                r.maxseqtobeacked = r.nextseq
                af |= ACK_LOST_SEGMENT
            else:
                if r.dupacknum == 0:
                    af |= ACK_LOST_SEGMENT
                r.dupacknum = -1

        sf = flags & (SYN | FIN)
        if (seglen or sf) and not af & KEEP_ALIVE:
            behind = nxt != 0 and 0 < ((nxt - seq) & _M) < _HALF
            if seglen > 1 and (nxt - 1) & _M == seq:
                behind = False  # new data after a zero window probe's byte
            end = (seq + seglen) & _M
            if seglen and r.lastack and not 0 < ((end - r.lastack) & _M) < _HALF:
                af |= SPURIOUS_RETRANSMISSION
            elif behind:
                if (r.dupacknum >= 2 and r.lastack == seq
                        and now - r.lastacktime < _FAST_RT_NS):  # fmt: skip
                    af |= FAST_RETRANSMISSION
                elif (now - f.nextseqtime < (c.first_rtt or _OOO_DEFAULT_NS)
                      and nxt != (end + (1 if sf else 0)) & _M):  # fmt: skip
                    af |= OUT_OF_ORDER
                else:
                    af |= RETRANSMISSION

        # -- the unacknowledged list, nextseq, the contiguous mark
        nextseq = (seq + seglen) & _M
        if f.hi < 0:
            f.hi, f.hi_raw = seq + (1 << 32), seq
        useq = f.hi + (((seq - f.hi_raw + _HALF) & _M) - _HALF)
        segs = f.segs
        if (seglen or sf) and len(segs) < MAX_UNACKED:
            if sf:
                nextseq = (nextseq + 1) & _M
            unext = useq + ((nextseq - seq) & _M)
            seg = [useq, unext, now]
            if not segs:
                segs.append(seg)
                f.maxnext = unext
            else:
                if useq >= segs[-1][0]:
                    segs.append(seg)
                else:
                    segs.insert(bisect_right(segs, useq, key=_first), seg)
                if unext > f.maxnext:
                    f.maxnext = unext
        if seglen:
            if f.data_lo < 0 or useq < f.data_lo:
                f.data_lo = useq
            if useq + seglen > f.data_hi:
                f.data_hi = useq + seglen
        if not af & ZERO_WINDOW_PROBE:
            fnext = f.nextseq
            if not fnext or 0 < ((nextseq - fnext) & _M) < _HALF:
                f.nextseq = nextseq
                f.nextseqtime = now
                u = f.hi + (((nextseq - f.hi_raw + _HALF) & _M) - _HALF)
                if u > f.hi:
                    f.hi, f.hi_raw = u, nextseq
            if seq == f.maxseqtobeacked or not f.maxseqtobeacked:
                f.maxseqtobeacked = f.nextseq
        f.window = window
        f.lastack = ack
        f.lastacktime = now
        f.lastflags = af

        # -- the ACK (tshark looks at every segment's, ACK bit or not): what it covers
        # leaves the peer's list; the oldest segment it ends exactly gives the RTT.
        ack_rtt = 0
        rsegs = r.segs
        if rsegs:
            uack = r.hi + (((ack - r.hi_raw + _HALF) & _M) - _HALF)
            if rsegs[0][0] < uack:
                match = None
                i, n = 0, len(rsegs)
                kept: list[list[int]] = []
                while i < n:
                    s = rsegs[i]
                    if s[0] >= uack:
                        break
                    if s[1] == uack:
                        if match is None or s[2] < match[2]:  # the oldest
                            match = s
                    elif s[1] > uack:
                        s[0] = uack
                        kept.append(s)
                    i += 1
                rsegs[:i] = kept
                if match is not None:
                    ack_rtt = now - match[2]
                    if ack_rtt:
                        r.rtt_n += 1
                        r.rtt_sum += ack_rtt
                        if ack_rtt > r.rtt_max:
                            r.rtt_max = ack_rtt
                        if r.rtt_min < 0 or ack_rtt < r.rtt_min:
                            r.rtt_min = ack_rtt

        # -- bytes in flight after a data segment, less what the peer's SACKs hold
        bif = 0
        if seglen and segs and f.valid_bif:
            base = f.hi + (((f.base - f.hi_raw + _HALF) & _M) - _HALF)
            if segs[0][0] >= base:
                bif = f.maxnext - segs[0][0]
            else:  # a segment before the base: tshark's unsigned offsets
                first = min((s[0] - base) & _M for s in segs)
                last = max((s[1] - base) & _M for s in segs)
                bif = (last - first) & _M
            if r.sack_n:
                bif = (bif - r.sack_sum) & _M
            if 0 < bif < _BIF_LIMIT:
                if sf:  # their sequence number is no byte
                    bif -= 1
                if bif > f.max_bif:
                    f.max_bif = bif
            else:
                bif = 0
        self.dupack_num, self.ack_rtt, self.bif = dupack_num, ack_rtt, bif

        # -- after the analysis, as tshark: the SYN's time, the initial RTT, options
        if flags & SYN:
            if not flags & ACK:
                c.mru_syn = now
            shift = -1
            for kind, value in options or ():
                if kind == 3 and isinstance(value, int):
                    shift = min(value, 14)
            if shift >= 0:
                f.win_scale = shift
            if f.win_scale == -1:
                f.win_scale = r.win_scale = -2
            elif flags & ACK and r.win_scale == -2:
                f.win_scale = -2
        elif flags & ACK and c.mru_syn and not c.first_rtt:
            c.first_rtt = now - c.mru_syn
        f.sack_n = 0  # each segment says its own SACK blocks, or none
        if options:
            for kind, value in options:
                if kind == 5 and isinstance(value, list) and value:
                    f.sack_blocks += len(value)
                    f.dsack_blocks += sum(1 for _, right in value if not _gt(right, ack))
                    kept3 = value[:3]
                    f.sack_n = len(kept3)
                    f.sack_sum = sum((right - left) & _M for left, right in kept3) & _M

        # -- the connection's counts
        f.packets += 1
        f.bytes += wirelen
        if seglen:
            f.payload += seglen
            f.data_segments += 1
            if af & RETRANSMITTED:
                f.retransmitted += 1
        if window == 0 and not flags & _SFR:
            if f.zw_since < 0:
                f.zw_since = now
        elif window and f.zw_since >= 0:
            f.zw_ns += now - f.zw_since
            f.zw_since = -1
        if flags & (FIN | RST):
            if flags & FIN:
                f.fin = True
            if flags & RST:
                f.rst = True
        if af:
            counts = c.counts
            for i in range(NFLAGS):
                if af >> i & 1:
                    counts[i] += 1
        return af


def _first(seg: list[int]) -> int:
    return seg[0]
