"""The thin loop of ``tcp analyze``: read a capture, decode, feed the core.

Which segments are analysed, as in tshark: TCP over IPv4 or IPv6 (the
innermost IP of a tunnel), not an IP fragment (tshark reassembles fragments
first; here they are left out), not quoted in an ICMP error, and with an IP
length that covers the TCP header. The segment length is the one the IP
header declares (within the frame's length on the wire), as tshark's: a capture
cut by its snap length still counts the bytes that were sent.
"""

from __future__ import annotations

import struct

from netdiag.capture.files import read_capture
from netdiag.errors import DamagedCaptureError
from netdiag.packets import decode
from netdiag.packets.ipv4 import FLAG_MF, IPv4
from netdiag.records import dataclass
from netdiag.tcpanalysis.core import SYN, Analyzer
from netdiag.tcpanalysis.results import ConnectionResult, PacketFlags, connection_result

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["analyze", "Analysis", "PacketAnalyzer", "packet_filter"]

_HDR = struct.Struct("!HHIIHH")
_TS_ONLY = b"\x01\x01\x08\x0a"  # NOP NOP timestamps: the usual 12 option bytes


@dataclass(frozen=True, slots=True)
class Analysis:
    connections: list[ConnectionResult]
    packets: list[PacketFlags]  # flagged segments (all analysed ones with ``every``)
    frames: int  # records read
    segments: int  # TCP segments analysed
    damaged: DamagedCaptureError | None = None


class PacketAnalyzer:
    """Decoded packets in, per-segment flags out (``read --tcp-analysis`` uses it too)."""

    __slots__ = ("core", "segments")

    def __init__(self) -> None:
        self.core = Analyzer()
        self.segments = 0

    def flags(self, ts_ns: int, p: Any, wirelen: int) -> int:
        """Packet ``p``'s flags (-1 when it is no segment tshark analyses); the core's
        ``dupack_num``, ``ack_rtt``, ``bif`` and ``conn`` then describe it."""
        t = p.tcp
        if t is None or t.offflags is None:
            return -1
        ip = p.inner_ip[-1] if p.inner_ip else p.ip
        if ip is None:
            return -1
        if ip.__class__ is IPv4:
            if ip.frag & FLAG_MF:  # a first fragment (decode stops at the others)
                return -1
        elif ip.extensions and ip.is_fragment:
            return -1
        off = t.offset
        hl = (t.offflags >> 12) * 4
        data = p.data
        # What the IP header declares, within what the frame had on the wire: when
        # the frame was captured whole, where decode ended the segment.
        if len(data) == wirelen:
            seglen = t.end - off - hl
        elif ip.__class__ is IPv4:  # the IPv4 header ends where TCP starts
            seglen = min(ip.total_length - (off - ip.offset), wirelen - off) - hl
        else:
            seglen = min(ip.payload_length, wirelen - off) - hl
        if seglen < 0:
            return -1
        sport, dport, seq, ack, offflags, window = _HDR.unpack_from(data, off)
        flags = offflags & 0x1FF
        options = None
        if hl > 20 and (flags & SYN or hl != 32 or data[off + 20 : off + 24] != _TS_ONLY):
            options = t.options
        self.segments += 1
        return self.core.feed(ts_ns, ip.src, sport, ip.dst, dport, seq, ack, flags, window,
                              seglen, wirelen, options)  # fmt: skip

    def packet(self, frame: int, ts_ns: int, p: Any, wirelen: int) -> PacketFlags | None:
        """The analysis of packet ``p`` (None when it is no segment tshark analyses)."""
        af = self.flags(ts_ns, p, wirelen)
        if af < 0:
            return None
        core = self.core
        c = core.conn
        assert c is not None
        return PacketFlags(frame, c.stream, af, core.dupack_num, core.ack_rtt, core.bif)


def packet_filter(expr: str | None) -> Callable[[Any], bool] | None:
    """``keep(record)`` for a pcap-filter expression, compiled per link type met."""
    if not expr:
        return None
    from netdiag.capture.bpf import compile_filter, make_runner
    from netdiag.capture.bpf.compiler import parse

    parse(expr)  # a syntax error stops before anything is read
    runners: dict[int, Any] = {}

    def keep(rec: Any) -> bool:
        run = runners.get(rec.linktype)
        if run is None:
            run = runners[rec.linktype] = make_runner(compile_filter(expr, rec.linktype))
        return bool(run(rec.data, rec.wirelen))

    return keep


def analyze(path: Any, expr: str | None = None, every: bool = False) -> Analysis:
    """Analyse every TCP connection in the capture at ``path`` (a path or binary file).

    ``packets`` holds the flagged segments, or every analysed one with ``every``.
    A damaged file is analysed up to the damage, which ``damaged`` then holds.
    """
    keep = packet_filter(expr)
    pa = PacketAnalyzer()
    flags, core = pa.flags, pa.core
    flagged: list[PacketFlags] = []
    frames = 0
    damaged = None
    try:
        with read_capture(path) as reader:
            for frames, rec in enumerate(reader, 1):  # noqa: B007 (frames counted)
                if keep is not None and not keep(rec):
                    continue
                af = flags(rec.ts_ns, decode(rec.data, rec.linktype), rec.wirelen)
                if af > 0 or (every and af == 0):
                    c = core.conn
                    assert c is not None
                    flagged.append(PacketFlags(frames, c.stream, af, core.dupack_num,
                                               core.ack_rtt, core.bif))  # fmt: skip
    except DamagedCaptureError as e:
        damaged = e
    conns = [connection_result(c) for c in pa.core.connections]
    return Analysis(conns, flagged, frames, pa.segments, damaged)
