"""``tcp analyze`` output: a tabulate table per connection, the flagged packets,
or one JSON object (stable keys: ``connections``, ``packets``, ``frames``,
``segments``)."""

from __future__ import annotations

from netdiag.render.table import tabulate
from netdiag.tcpanalysis.results import flag_words

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["connections_table", "packets_lines", "analysis_json"]

_SHORT = (
    ("retransmission", "rtx"),
    ("fast_retransmission", "fast"),
    ("spurious_retransmission", "spur"),
    ("out_of_order", "ooo"),
    ("lost_segment", "lost"),
    ("duplicate_ack", "dupack"),
    ("zero_window", "zwin"),
    ("window_full", "wfull"),
    ("keep_alive", "kalive"),
)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _rate(bps: float | None) -> str:
    if bps is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.2f} {unit}bit/s"
    return f"{bps:.0f} bit/s"


def connections_table(conns: list[Any]) -> str:
    """Two rows per connection, one per direction (A->B first)."""
    head = [
        "stream",
        "from",
        "to",
        "pkts",
        "bytes",
        "data",
        "rtx%",
        "ack rtt ms min/avg/max",
        "max in flight",
        "zero win s",
        "goodput",
        "irtt ms",
        "duration s",
        "end",
        "flags",
    ]
    rows = []
    for c in conns:
        flags = ", ".join(f"{short} {c.counts[k]}" for k, short in _SHORT if c.counts[k])
        for i, (d, o) in enumerate(((c.a, c.b), (c.b, c.a))):
            rtt = (f"{_ms(d.ack_rtt_min_ms)}/{_ms(d.ack_rtt_mean_ms)}/{_ms(d.ack_rtt_max_ms)}"
                   if d.ack_rtt_count else "-")  # fmt: skip
            rows.append([
                c.stream if i == 0 else "",
                f"{d.address}.{d.port}",
                f"{o.address}.{o.port}",
                d.packets,
                d.bytes,
                d.payload_bytes,
                f"{100 * d.retransmission_rate:.2f}",
                rtt,
                d.max_bytes_in_flight,
                f"{d.zero_window_s:.3f}",
                _rate(d.goodput_bps),
                _ms(c.initial_rtt_ms) if i == 0 else "",
                f"{c.duration_s:.3f}" if i == 0 else "",
                c.end if i == 0 else "",
                flags if i == 0 else "",
            ])  # fmt: skip
    return tabulate(rows, headers=head, tablefmt="simple")


def packets_lines(packets: list[Any]) -> list[str]:
    """``frame stream: [TCP ...] ack_rtt=... bif=...`` for each flagged packet."""
    out = []
    for p in packets:
        extra = []
        if p.ack_rtt_ns:
            extra.append(f"ack_rtt={p.ack_rtt_ns / 1e6:.3f}ms")
        if p.bytes_in_flight:
            extra.append(f"bytes_in_flight={p.bytes_in_flight}")
        words = flag_words(p.flags, p.dupack_num)
        out.append(" ".join([f"{p.frame:>7} tcp.stream {p.stream}:", words, *extra]).rstrip())
    return out


def analysis_json(a: Any, with_packets: bool) -> dict[str, Any]:
    d: dict[str, Any] = {
        "frames": a.frames,
        "segments": a.segments,
        "connections": [c.fields() for c in a.connections],
    }
    if with_packets:
        d["packets"] = [p.fields() for p in a.packets]
    return d
