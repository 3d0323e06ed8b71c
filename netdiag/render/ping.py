"""ping's lines in iputils' shape, and its JSON, from pingcore's result objects.

Times are printed as iputils prints them: per reply with three significant
digits, truncated (0.081, 1.23, 12.3, 123 ms); in the summary in microseconds
with three decimals of a millisecond.
"""

from __future__ import annotations

from typing import Any

from netdiag.probes.pingcore import NoAnswerYet, PingError, PingReply, PingResult, PingStart

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


def header(start: PingStart) -> str:
    if start.family == 6:
        return f"PING {start.target}({start.address}) {start.size} data bytes"
    return (f"PING {start.target} ({start.address}) {start.size}({start.size + 28}) "
            "bytes of data.")  # fmt: skip


def _who(address: str, name: str | None) -> str:
    return f"{name} ({address})" if name and name != address else address


def reply_line(reply: PingReply, name: str | None = None, timestamps: bool = False) -> str:
    line = (f"{reply.size} bytes from {_who(reply.source, name)}: icmp_seq={reply.seq} "
            f"ttl={reply.ttl} time={rtt_text(reply.rtt_ms)} ms")  # fmt: skip
    if reply.dup:
        line += " (DUP!)"
    return (stamp(reply.wall_ns) if timestamps else "") + line


def error_line(error: PingError, name: str | None = None, timestamps: bool = False) -> str:
    line = f"From {_who(error.source, name)} icmp_seq={error.seq} {error.text}"
    return (stamp(error.wall_ns) if timestamps else "") + line


def no_answer_line(event: NoAnswerYet, timestamps: bool = False) -> str:
    return (stamp(event.wall_ns) if timestamps else "") + f"no answer yet for icmp_seq={event.seq}"


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
    """The one object ``ping --json`` prints at the end."""
    return {
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
        "replies": [
            {
                "seq": r.seq,
                "from": r.source,
                "ttl": r.ttl,
                "rtt_ms": round(r.rtt_ms, 3),
                "dup": r.dup,
            }  # fmt: skip
            for r in result.replies
        ],
        "icmp_errors": [
            {"seq": e.seq, "from": e.source, "type": e.type, "code": e.code, "text": e.text}
            for e in result.icmp_errors
        ],
    }
