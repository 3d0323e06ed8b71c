"""ping's lines in iputils' shape, and its JSON, from pingevents' result objects.

Times are printed as iputils prints them: per reply with three significant
digits, truncated (0.081, 1.23, 12.3, 123 ms); in the summary in microseconds
with three decimals of a millisecond.

TCP and UDP probes (``--tcp PORT``, ``--udp PORT``; iputils has none) keep the
shape, with the port after the address and the state before the TTL::

    PING 198.18.4.2 (198.18.4.2) tcp port 80: SYN, 40 bytes.
    24 bytes from 198.18.4.2:80: tcp_seq=1 open (SYN-ACK) ttl=60 time=0.123 ms
    20 bytes from 198.18.4.2:81: tcp_seq=2 closed (RST) ttl=60 time=0.101 ms
    PING 198.18.4.2 (198.18.4.2) udp port 9: 56(84) bytes of data.
    92 bytes from 198.18.4.2:9: udp_seq=1 closed (port unreachable) ttl=60 time=0.2 ms
    From 198.18.1.2 tcp_seq=1 Time to live exceeded

The byte count is what came back: the TCP segment, the UDP datagram, or the
ICMP message. IPv6 addresses with a port are bracketed (``[2001:db8:4::2]:80``).
"""

from __future__ import annotations

from netdiag.ping.events import (
    NoAnswerYet,
    PingError,
    PingReply,
    PingResult,
    PingStart,
    PortReply,
)

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "header",
    "reply_line",
    "error_line",
    "no_answer_line",
    "summary",
    "to_json",
    "rtt_text",
    "stamp",
]


def _us(value_ms: float) -> int:
    """Whole microseconds, truncated as iputils does, after rounding to the nanosecond
    so that float noise (0.0139999... for 14 us) does not lose one."""
    return round(value_ms * 1_000_000) // 1000


def rtt_text(rtt_ms: float) -> str:
    """A per-reply time: 3 significant digits, truncated, as iputils."""
    us = _us(rtt_ms)
    if us >= 100_000:
        return f"{us // 1000}"
    if us >= 10_000:
        return f"{us // 1000}.{us % 1000 // 100:01d}"
    if us >= 1000:
        return f"{us // 1000}.{us % 1000 // 10:02d}"
    return f"{us // 1000}.{us % 1000:03d}"


def _ms3(value_ms: float) -> str:
    us = _us(value_ms)
    return f"{us // 1000}.{us % 1000:03d}"


def stamp(wall_ns: int) -> str:
    """-D prefix: ``[seconds.microseconds] ``."""
    us = wall_ns // 1000
    return f"[{us // 1_000_000}.{us % 1_000_000:06d}] "


def seq_label(protocol: str) -> str:
    """``icmp_seq``, ``tcp_seq`` or ``udp_seq``."""
    return f"{protocol}_seq"


def header(start: PingStart) -> str:
    protocol, port = start.protocol, start.port
    ip_len = 20 if start.family == 4 else 40
    sep = " " if start.family == 4 else ""
    if protocol == "tcp":
        return (f"PING {start.target}{sep}({start.address}) tcp port {port}: SYN, "
                f"{ip_len + 20} bytes.")  # fmt: skip
    if protocol == "udp":
        if start.family == 6:
            return f"PING {start.target}({start.address}) udp port {port}: {start.size} data bytes"
        return (f"PING {start.target} ({start.address}) udp port {port}: {start.size}"
                f"({start.size + 28}) bytes of data.")  # fmt: skip
    if start.family == 6:
        return f"PING {start.target}({start.address}) {start.size} data bytes"
    return (f"PING {start.target} ({start.address}) {start.size}({start.size + 28}) "
            "bytes of data.")  # fmt: skip


def _who(address: str, name: str | None) -> str:
    return f"{name} ({address})" if name and name != address else address


def _with_port(who: str, address: str, port: int) -> str:
    return f"[{who}]:{port}" if ":" in address and who == address else f"{who}:{port}"


def reply_line(reply: PingReply, name: str | None = None, timestamps: bool = False) -> str:
    who = _who(reply.source, name)
    if isinstance(reply, PortReply):
        line = (f"{reply.size} bytes from {_with_port(who, reply.source, reply.port)}: "
                f"{seq_label(reply.protocol)}={reply.seq} {reply.state} ({reply.answer}) "
                f"ttl={reply.ttl} time={rtt_text(reply.rtt_ms)} ms")  # fmt: skip
    else:
        line = (f"{reply.size} bytes from {who}: icmp_seq={reply.seq} "
                f"ttl={reply.ttl} time={rtt_text(reply.rtt_ms)} ms")  # fmt: skip
    if reply.dup:
        line += " (DUP!)"
    return (stamp(reply.wall_ns) if timestamps else "") + line


def error_line(
    error: PingError, name: str | None = None, timestamps: bool = False, label: str = "icmp_seq"
) -> str:
    line = f"From {_who(error.source, name)} {label}={error.seq} {error.text}"
    return (stamp(error.wall_ns) if timestamps else "") + line


def no_answer_line(event: NoAnswerYet, timestamps: bool = False, label: str = "icmp_seq") -> str:
    return (stamp(event.wall_ns) if timestamps else "") + f"no answer yet for {label}={event.seq}"


def summary(result: PingResult) -> list[str]:
    """The blank line, ``--- host ping statistics ---`` and the counts (and rtt) lines."""
    counts = f"{result.transmitted} packets transmitted, {result.received} received"
    if result.duplicates:
        counts += f", +{result.duplicates} duplicates"
    if result.errors:
        counts += f", +{result.errors} errors"
    if result.transmitted:
        counts += f", {result.loss_pct:g}% packet loss, time {result.elapsed_ms}ms"
    lines = ["", f"--- {result.target} ping statistics ---", counts]
    if result.replies:
        parts = (result.rtt_min, result.rtt_avg, result.rtt_max, result.rtt_mdev)
        lines.append("rtt min/avg/max/mdev = " + "/".join(_ms3(x or 0.0) for x in parts) + " ms")
    return lines


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def to_json(result: PingResult) -> dict[str, Any]:
    """The one object ``ping --json`` prints at the end (``--tcp``/``--udp``: with
    ``protocol`` and ``port``, and each reply's ``state``, "open" or "closed")."""
    doc: dict[str, Any] = {
        "target": result.target,
        "address": result.address,
        "transmitted": result.transmitted,
        "received": result.received,
        "duplicates": result.duplicates,
        "errors": result.errors,
        "loss_pct": round(result.loss_pct, 3),
        "time_ms": result.elapsed_ms,
        "rtt_ms": {
            "min": _round(result.rtt_min),
            "avg": _round(result.rtt_avg),
            "max": _round(result.rtt_max),
            "mdev": _round(result.rtt_mdev),
        },
        "replies": [_reply_json(r) for r in result.replies],
        "icmp_errors": [
            {"seq": e.seq, "from": e.source, "type": e.type, "code": e.code, "text": e.text}
            for e in result.icmp_errors
        ],
    }
    if result.protocol != "icmp":
        doc["protocol"], doc["port"] = result.protocol, result.port
    return doc


def _reply_json(r: PingReply) -> dict[str, Any]:
    one: dict[str, Any] = {
        "seq": r.seq,
        "from": r.source,
        "ttl": r.ttl,
        "rtt_ms": round(r.rtt_ms, 3),
        "dup": r.dup,
    }
    if isinstance(r, PortReply):
        one["state"] = r.state
    return one
