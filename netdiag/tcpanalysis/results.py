"""What ``tcp analyze`` finds: frozen records made from the core's state.

Per direction (``DirectionResult``): packets, bytes on the wire, payload bytes,
data segments, retransmitted segments (retransmission, fast or spurious) and
their rate, ACK RTT statistics of the data it sent (measured by the peer's
ACKs: ``tcp.analysis.ack_rtt``), the largest bytes in flight, the time its
advertised window stayed at zero, SACK blocks (and D-SACK blocks, below the
cumulative ACK), and goodput: the span of sequence space its data covered,
in bits per second over the connection's duration.
"""

from __future__ import annotations

from netdiag.records import dataclass
from netdiag.tcpanalysis.flags import FLAG_FIELDS
from netdiag.tcpanalysis.state import Connection, Direction

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DirectionResult", "ConnectionResult", "PacketFlags", "connection_result",
           "flag_words"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class PacketFlags:
    """One segment's analysis, as tshark's ``tcp.analysis.*`` fields."""

    frame: int
    stream: int
    flags: int
    dupack_num: int = 0  # tcp.analysis.duplicate_ack_num (0: not a duplicate ACK)
    ack_rtt_ns: int = 0  # tcp.analysis.ack_rtt (0: none)
    bytes_in_flight: int = 0  # tcp.analysis.bytes_in_flight (0: none)

    @property
    def names(self) -> list[str]:
        return [key for bit, key, _, _ in FLAG_FIELDS if self.flags & bit]

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {"frame": self.frame, "stream": self.stream, "flags": self.names}
        if self.dupack_num:
            d["duplicate_ack_num"] = self.dupack_num
        if self.ack_rtt_ns:
            d["ack_rtt_ms"] = round(self.ack_rtt_ns / 1e6, 6)
        if self.bytes_in_flight:
            d["bytes_in_flight"] = self.bytes_in_flight
        return d


def flag_words(flags: int, dupack_num: int = 0) -> str:
    """tshark's words in brackets, ``[TCP Dup ACK #2] [TCP Window Full]``; empty for none."""
    out = []
    for bit, _, _, words in FLAG_FIELDS:
        if flags & bit:
            out.append(f"[{words} #{dupack_num}]" if bit == FLAG_FIELDS[6][0] else f"[{words}]")
    return " ".join(out)


@dataclass(frozen=True, slots=True)
class DirectionResult:
    address: str
    port: int
    packets: int
    bytes: int
    payload_bytes: int
    data_segments: int
    retransmitted: int
    ack_rtt_count: int
    ack_rtt_min_ms: float | None
    ack_rtt_mean_ms: float | None
    ack_rtt_max_ms: float | None
    max_bytes_in_flight: int
    zero_window_s: float
    sack_blocks: int
    dsack_blocks: int
    goodput_bps: float | None
    fin: bool
    rst: bool

    @property
    def retransmission_rate(self) -> float:
        return self.retransmitted / self.data_segments if self.data_segments else 0.0

    def fields(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["retransmission_rate"] = round(self.retransmission_rate, 6)
        return d


@dataclass(frozen=True, slots=True)
class ConnectionResult:
    stream: int
    a: DirectionResult  # the first packet's sender
    b: DirectionResult
    start_ns: int
    duration_s: float
    initial_rtt_ms: float | None  # tcp.analysis.initial_rtt
    end: str  # "FIN" (both ways), "FIN (one way)", "RST", or "not seen"
    counts: dict[str, int]  # per flag, both directions, as the sums of tshark's flags

    def fields(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "a": self.a.fields(),
            "b": self.b.fields(),
            "start_ns": self.start_ns,
            "duration_s": self.duration_s,
            "initial_rtt_ms": self.initial_rtt_ms,
            "end": self.end,
            "counts": self.counts,
        }


def _ms(ns: float) -> float:
    return round(ns / 1e6, 6)


def _direction(d: Direction, duration_ns: int, last_ts: int) -> DirectionResult:
    zw = d.zw_ns + (last_ts - d.zw_since if d.zw_since >= 0 else 0)
    span = d.data_hi - d.data_lo if d.data_lo >= 0 else 0
    return DirectionResult(
        address=d.src,
        port=d.sport,
        packets=d.packets,
        bytes=d.bytes,
        payload_bytes=d.payload,
        data_segments=d.data_segments,
        retransmitted=d.retransmitted,
        ack_rtt_count=d.rtt_n,
        ack_rtt_min_ms=_ms(d.rtt_min) if d.rtt_n else None,
        ack_rtt_mean_ms=_ms(d.rtt_sum / d.rtt_n) if d.rtt_n else None,
        ack_rtt_max_ms=_ms(d.rtt_max) if d.rtt_n else None,
        max_bytes_in_flight=d.max_bif,
        zero_window_s=round(zw / 1e9, 9),
        sack_blocks=d.sack_blocks,
        dsack_blocks=d.dsack_blocks,
        goodput_bps=round(span * 8e9 / duration_ns, 3) if duration_ns > 0 and span else None,
        fin=d.fin,
        rst=d.rst,
    )


def connection_result(c: Connection) -> ConnectionResult:
    duration = c.last_ts - c.first_ts
    a, b = c.a, c.b
    if a.rst or b.rst:
        end = "RST"
    elif a.fin and b.fin:
        end = "FIN"
    elif a.fin or b.fin:
        end = "FIN (one way)"
    else:
        end = "not seen"
    return ConnectionResult(
        stream=c.stream,
        a=_direction(a, duration, c.last_ts),
        b=_direction(b, duration, c.last_ts),
        start_ns=c.first_ts,
        duration_s=round(duration / 1e9, 9),
        initial_rtt_ms=_ms(c.first_rtt) if c.first_rtt else None,
        end=end,
        counts={key: n for (_, key, _, _), n in zip(FLAG_FIELDS, c.counts, strict=True)},
    )
