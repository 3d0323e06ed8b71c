"""Capture statistics (``metrics.capstats.CaptureStats``) as tables or JSON.

Tables are drawn by tabulate: the protocol hierarchy (indented names, packets,
share of packets, bytes, share of bytes, as ``tshark -z io,phs`` and
Wireshark's hierarchy window show it), the top IP conversations by bytes
(``tshark -z conv,ip``: address A, address B, packets and bytes each way and in
total, duration), then the totals with the count of malformed packets, and,
when the capture holds DNS, the DNS summary (``metrics.appstats``: queries,
responses, unanswered queries, top names, rcodes).
"""

from __future__ import annotations

from netdiag.metrics.capstats import CaptureStats
from netdiag.render.table import tabulate

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.metrics.appstats import DnsSummary

__all__ = ["stats_text", "stats_dict", "dns_summary_text", "dns_summary_dict"]


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}" if whole else "0.0"


def stats_text(s: CaptureStats, dns: DnsSummary | None = None) -> str:
    """The tables; with ``dns`` (metrics.appstats; by default ``s.dns`` where the
    statistics carry one) the DNS summary after them."""
    if dns is None:
        dns = getattr(s, "dns", None)
    parts = ["Protocol hierarchy"]
    rows = [
        [
            ". " * n.depth + n.name,
            n.packets,
            _pct(n.packets, s.packets),
            n.bytes,
            _pct(n.bytes, s.bytes),
        ]
        for n in s.hierarchy
    ]
    parts.append(
        tabulate(
            rows,
            headers=["Protocol", "Packets", "Packets %", "Bytes", "Bytes %"],
            tablefmt="simple",
            disable_numparse=True,
            colalign=("left", "right", "right", "right", "right"),
        )
        if rows
        else "(no packets)"
    )
    parts.append("")
    parts.append("IP conversations (top by bytes)")
    crow = [
        [
            c.a,
            c.b,
            c.packets,
            c.bytes,
            c.packets_ab,
            c.bytes_ab,
            c.packets_ba,
            c.bytes_ba,
            f"{c.duration:.6f}",
        ]
        for c in s.conversations
    ]
    parts.append(
        tabulate(
            crow,
            headers=[
                "Address A",
                "Address B",
                "Packets",
                "Bytes",
                "Packets A->B",
                "Bytes A->B",
                "Packets B->A",
                "Bytes B->A",
                "Duration s",
            ],
            tablefmt="simple",
            disable_numparse=True,
            colalign=("left", "left") + ("right",) * 7,
        )
        if crow
        else "(no IP packets)"
    )
    parts.append("")
    parts.append("Totals")
    totals = [
        ["Packets", s.packets],
        ["Bytes (on the wire)", s.bytes],
        ["Bytes captured", s.captured_bytes],
        ["Malformed packets", s.malformed],
        ["Duration s", f"{s.duration:.6f}"],
    ]
    parts.append(
        tabulate(totals, tablefmt="plain", disable_numparse=True, colalign=("left", "right"))
    )
    if dns is not None and (dns.queries or dns.responses or dns.malformed):
        parts += ["", dns_summary_text(dns)]
    return "\n".join(parts)


def stats_dict(s: CaptureStats, dns: DnsSummary | None = None) -> dict[str, Any]:
    """The statistics as one JSON-ready object (``"dns"``: the DNS summary, if given
    or carried by ``s``)."""
    if dns is None:
        dns = getattr(s, "dns", None)
    d: dict[str, Any] = {
        "packets": s.packets,
        "bytes": s.bytes,
        "captured_bytes": s.captured_bytes,
        "malformed": s.malformed,
        "first_ts": None if s.first_ts_ns is None else round(s.first_ts_ns / 1e9, 6),
        "last_ts": None if s.last_ts_ns is None else round(s.last_ts_ns / 1e9, 6),
        "duration": round(s.duration, 6),
        "hierarchy": [
            {"path": list(n.path), "protocol": n.name, "packets": n.packets, "bytes": n.bytes}
            for n in s.hierarchy
        ],
        "conversations": [
            {
                "a": c.a,
                "b": c.b,
                "packets": c.packets,
                "bytes": c.bytes,
                "packets_ab": c.packets_ab,
                "bytes_ab": c.bytes_ab,
                "packets_ba": c.packets_ba,
                "bytes_ba": c.bytes_ba,
                "duration": round(c.duration, 6),
            }
            for c in s.conversations
        ],
    }
    if dns is not None:
        d["dns"] = dns_summary_dict(dns)
    return d


def dns_summary_text(d: DnsSummary) -> str:
    """Queries, responses, unanswered queries; then the top names, rcodes and the
    names of unanswered queries as tables."""
    parts = ["DNS summary"]
    parts.append(
        tabulate(
            [["Queries", d.queries], ["Responses", d.responses],
             ["Unanswered queries", d.unanswered], ["Malformed messages", d.malformed]],
            tablefmt="plain", disable_numparse=True, colalign=("left", "right"),
        )
    )  # fmt: skip
    for title, rows, head in (
        ("Top names queried", d.top_names, "Queries"),
        ("Response codes", d.rcodes, "Responses"),
        ("Unanswered names", d.unanswered_names, "Queries"),
    ):
        if rows:
            parts += ["", title]
            parts.append(
                tabulate([list(r) for r in rows], headers=["Name", head], tablefmt="simple",
                         disable_numparse=True, colalign=("left", "right"))
            )  # fmt: skip
    return "\n".join(parts)


def dns_summary_dict(d: DnsSummary) -> dict[str, Any]:
    return {
        "queries": d.queries,
        "responses": d.responses,
        "unanswered": d.unanswered,
        "malformed": d.malformed,
        "top_names": [{"name": n, "queries": c} for n, c in d.top_names],
        "rcodes": [{"rcode": n, "responses": c} for n, c in d.rcodes],
        "unanswered_names": [{"name": n, "queries": c} for n, c in d.unanswered_names],
    }
