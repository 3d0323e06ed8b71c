"""traceroute's lines in traceroute(8)'s shape, mtr's table (plain), and both as JSON.

traceroute(8) prints a hop as ``%2d `` then, per probe, `` *`` when unanswered,
else the responder (only when it differs from the previous responder of the
line), two spaces, the RTT with three decimals and `` ms``, and a space and the
annotation (``!H``, ``!F-1280``) when there is one. With ``-e`` an MPLS label
stack follows the responder as `` <MPLS:L=label,E=tc,S=s,T=ttl/...>``.
Without ``-n`` a responder is shown as ``name (address)``.
"""

from __future__ import annotations

from collections.abc import Callable

from netdiag.packets.icmpext import MplsEntry
from netdiag.render.table import plain_table
from netdiag.trace.core import Hop, TraceResult, TraceStart
from netdiag.trace.hopstats import HostSummary

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.trace.mtr import MtrReport

__all__ = [
    "header",
    "hop_line",
    "stop_line",
    "mpls_text",
    "to_json",
    "mtr_table",
    "mtr_json",
    "CLEAR_SCREEN",
    "MTR_LEGEND",
]

Namer = Callable[[str], str | None]


def header(start: TraceStart) -> str:
    return (f"traceroute to {start.target} ({start.address}), {start.max_ttl} hops max, "
            f"{start.length} byte packets")  # fmt: skip


def mpls_text(entries: tuple[MplsEntry, ...]) -> str:
    """RFC 4950 label stack as traceroute(8) -e shows it."""
    return "MPLS:" + "/".join(f"L={e.label},E={e.tc},S={int(e.s)},T={e.ttl}" for e in entries)


def _label(address: str, name_of: Namer | None) -> str:
    if name_of is None:
        return address
    return f"{name_of(address) or address} ({address})"


def hop_line(hop: Hop, name_of: Namer | None = None, extensions: bool = False) -> str:
    """One hop line; ``name_of`` (None with ``-n``) maps an address to its name."""
    parts = [f"{hop.ttl:2d} "]
    previous: str | None = None
    for p in hop.probes:
        if p.address is None or p.rtt_ms is None:
            parts.append(" *")
            continue
        if p.address != previous:
            parts.append(" " + _label(p.address, name_of))
            if extensions and p.mpls:
                parts.append(f" <{mpls_text(p.mpls)}>")
            previous = p.address
        parts.append(f"  {p.rtt_ms:.3f} ms")
        if p.annotation:
            parts.append(" " + p.annotation)
    return "".join(parts)


def stop_line(result: TraceResult) -> str:
    """The last line of a trace that stopped on silence: how many TTLs were not probed."""
    last = result.max_ttl - result.not_probed
    skipped = (f"TTLs {last + 1}-{result.max_ttl}" if result.not_probed > 1
               else f"TTL {result.max_ttl}")  # fmt: skip
    return (
        f"stopped: {result.max_silent} hops in a row gave no answer; {skipped} "
        f"({result.not_probed}) not probed (--max-silent 0 probes them)"
    )


def to_json(result: TraceResult) -> dict[str, Any]:
    hops = []
    for hop in result.hops:
        probes: list[dict[str, Any]] = []
        for p in hop.probes:
            if p.address is None or p.rtt_ms is None:
                probes.append({"from": None, "rtt_ms": None})
            else:
                probes.append({"from": p.address, "rtt_ms": round(p.rtt_ms, 3),
                               "annotation": p.annotation,
                               "mpls": [e.fields() for e in p.mpls]})  # fmt: skip
        hops.append({"ttl": hop.ttl, "probes": probes})
    return {
        "target": result.target,
        "address": result.address,
        "method": str(result.method),
        "reached": result.reached,
        "stopped": result.stopped,  # "silent", or null
        "not_probed": result.not_probed,
        "hops": hops,
    }


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


#: Cursor home and clear screen: the live mtr redraw.
CLEAR_SCREEN = "\x1b[H\x1b[2J"

#: The report's legend: what the loss columns mean.
MTR_LEGEND = ("Loss%: lost on the path (unanswered here and as much at every later hop); "
              "Unans%: unanswered here only (ICMP rate limiting or a silent router, not loss); "
              "RL: rate-limited (its misses follow an ICMP token bucket)")  # fmt: skip


def _pacing_note(report: MtrReport) -> str | None:
    """Which hops were probed at another rate than the destination, and at what rate."""
    slower = [(h.ttl, h.probe_interval_s) for h in report.hops[:-1]
              if h.probe_interval_s is not None
              and h.probe_interval_s > report.interval * 1.25]  # fmt: skip
    if not slower or not report.hops:
        return None
    text = ", ".join(f"{ttl} every {iv:.1f} s" for ttl, iv in slower)
    return (
        f"Paced to spare their ICMP rate limits: hop {text}; the destination every "
        f"{report.interval:g} s."
    )


def mtr_table(report: MtrReport, hostname: str, name_of: Namer | None = None) -> str:
    """mtr's report: one row per responder, extra responders of a hop beneath it; then
    the legend of the loss columns, and which hops were probed at a slower pace."""
    rows = []
    for hop in report.hops:
        for i, h in enumerate(hop.hosts):
            where = "???" if h.address is None else _label(h.address, name_of)
            rows.append([f"{hop.ttl}." if i == 0 else "", "|-- " + where, f"{h.loss_pct:.1f}%",
                         f"{h.unanswered_pct:.1f}%", "RL" if h.rate_limited else "-", h.sent,
                         _ms(h.last_ms), _ms(h.avg_ms), _ms(h.best_ms), _ms(h.worst_ms),
                         _ms(h.stdev_ms), _ms(h.jitter_ms)])  # fmt: skip
    heads = ["", f"HOST: {hostname}", "Loss%", "Unans%", "RL", "Snt", "Last", "Avg", "Best",
             "Wrst", "StDev", "Jttr"]  # fmt: skip
    table = plain_table(rows, heads, colalign=("right", "left") + ("right",) * 10)
    lines = [table, MTR_LEGEND]
    note = _pacing_note(report)
    if note:
        lines.append(note)
    if report.stopped == "silent":
        lines.append("The path went silent: the report stops after --max-silent silent hops.")
    return "\n".join(lines)


def _host_json(h: HostSummary) -> dict[str, Any]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {
        "address": h.address,
        "loss_pct": round(h.loss_pct, 1),
        "unanswered_pct": round(h.unanswered_pct, 1),
        "rate_limited": h.rate_limited,
        "sent": h.sent,
        "last_ms": r(h.last_ms),
        "avg_ms": r(h.avg_ms),
        "best_ms": r(h.best_ms),
        "worst_ms": r(h.worst_ms),
        "stdev_ms": r(h.stdev_ms),
        "jitter_ms": r(h.jitter_ms),
    }


def mtr_json(report: MtrReport) -> dict[str, Any]:
    return {
        "target": report.target,
        "interval_s": report.interval,
        "stopped": report.stopped,
        "hops": [
            {
                "ttl": hop.ttl,
                "probe_interval_s": (
                    None if hop.probe_interval_s is None else round(hop.probe_interval_s, 3)
                ),  # fmt: skip
                "hosts": [_host_json(h) for h in hop.hosts],
            }
            for hop in report.hops
        ],
    }
