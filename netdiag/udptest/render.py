"""UDP test results as tabulate tables and text lines.

They render the stable JSON object of one stream (:mod:`report`), which is also
what the receiver sends back to the sender, so the sender renders the
receiver's side from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netdiag.render.table import tabulate
from netdiag.udptest.report import CLOCK_NOTE

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "summary_rows",
    "summary_table",
    "flows_table",
    "sender_json",
    "send_json",
    "send_text",
    "recv_text",
    "interim_line",
]


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}"


def _p(d: Mapping[str, float] | None) -> str:
    return "-" if not d else f"{d['p50']:.3f} / {d['p90']:.3f} / {d['p99']:.3f}"


def summary_rows(j: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of one stream's JSON object, for a two-column table."""
    lp = j["loss_periods"]
    nr = j["n_reordering"]
    rows = [
        ("sent", str(j["sent"]) + ("" if j.get("end_known", True) else " (end unknown)")),
        ("received", str(j["received"])),
        ("lost (RFC 7680)", f"{j['lost']} ({j['loss_pct']:.4g}%)"),
        ("loss periods (RFC 3357)", f"{lp['count']}, mean {lp['mean']:.3g}, max {lp['max']}"),
        ("duplicates (RFC 5560)", str(j["duplicates"])),
        ("reordered (RFC 4737)", f"{j['reordered']} (ratio {j['reorder_ratio']:.4g})"),
        (
            "reordering extent max/mean",
            f"{j['reorder_extent_max']} / {j.get('reorder_extent_mean', 0):.3g}",
        ),
        ("n-reordering n=1/2/3", f"{nr['1']} / {nr['2']} / {nr['3']}"),
        ("late time max ms", _ms(j.get("late_time_max_ms"))),
        ("jitter ms (RFC 3550)", _ms(j["jitter_ms"])),
        ("IPDV ms p50/p90/p99 (RFC 5481)", _p(j["ipdv_ms"])),
        ("PDV ms p50/p90/p99 (RFC 5481)", _p(j["pdv_ms"])),
        ("rate pps", f"{j['rate_pps']:.1f}"),
        (
            "iperf3 would say: lost / out-of-order",
            f"{j.get('lost_iperf3', '-')} / {j['out_of_order_iperf3']}",
        ),
    ]
    if "foreign" in j:
        rows.append(("foreign datagrams", str(j["foreign"])))
    if "loss_cause" in j:
        rows.append(
            (
                "loss cause",
                f"{j['loss_cause']} (socket buffer {j['lost_socket']}, path {j['lost_path']})",
            )
        )
    return rows


def summary_table(j: Mapping[str, Any], title: str | None = None) -> str:
    table = str(tabulate(summary_rows(j), tablefmt="simple", disable_numparse=True))
    return f"{title}\n{table}" if title else table


def flows_table(flows: Iterable[Mapping[str, Any]]) -> str:
    """One row per flow of a capture analysis."""
    head = [
        "src",
        "sport",
        "dst",
        "dport",
        "format",
        "sent",
        "recv",
        "lost",
        "loss%",
        "dup",
        "reord",
        "ext",
        "ooo(iperf3)",
        "jitter ms",
        "PDV p99 ms",
    ]
    rows = [
        [
            f["src"],
            f["sport"],
            f["dst"],
            f["dport"],
            f["format"],
            f["sent"],
            f["received"],
            f["lost"],
            f"{f['loss_pct']:.4g}",
            f["duplicates"],
            f["reordered"],
            f["reorder_extent_max"],
            f["out_of_order_iperf3"],
            f"{f['jitter_ms']:.3f}",
            "-" if not f["pdv_ms"] else f"{f['pdv_ms']['p99']:.3f}",
        ]
        for f in flows
    ]
    return str(tabulate(rows, headers=head, tablefmt="simple", disable_numparse=True))


def sender_json(r: Any) -> dict[str, Any]:
    """The sender's own side of a ``SendResult``."""
    return {
        "target": r.target,
        "address": r.address,
        "port": r.port,
        "test_id": r.test_id,
        "length": r.length,
        "sent": r.sent,
        "duration_s": round(r.duration_ns / 1e9, 6),
        "asked_pps": round(r.asked_pps, 3),
        "rate_pps": round(r.rate_pps, 1),
        "bitrate_bps": round(r.rate_pps * r.length * 8),
        "max_lag_us": round(r.max_lag_us, 1),
        "send_errors": r.send_errors,
    }


def send_json(r: Any) -> dict[str, Any]:
    """``send --json``: the receiver's report (stable keys) with ``sender`` inside."""
    if r.report is None:
        why = "port unreachable" if r.refused else "no answer"
        return {"sender": sender_json(r), "receiver": None, "error": f"no report ({why})"}
    return {**r.report, "sender": sender_json(r)}


def send_text(r: Any) -> str:
    s = sender_json(r)
    head = (
        f"sender: {s['sent']} datagrams of {s['length']} bytes to {s['address']} port "
        f"{s['port']} in {s['duration_s']:.3f} s: {s['rate_pps']:.1f} pps "
        f"({s['bitrate_bps'] / 1e6:.3f} Mbit/s; asked {s['asked_pps']:.1f} pps), "
        f"worst lag {s['max_lag_us']:.0f} us, {s['send_errors']} send errors"
    )
    if r.report is None:
        why = "port unreachable" if r.refused else "no answer"
        return f"{head}\nreceiver: no report ({why})"
    return f"{head}\n{summary_table(r.report, 'receiver:')}\nnote: {CLOCK_NOTE}"


def recv_text(report: Mapping[str, Any]) -> str:
    title = f"test {report.get('test_id', 0):08x} from {report.get('peer')}:"
    return summary_table(report, title)


def interim_line(e: Any) -> str:
    return (
        f"[{e.test_id:08x}] {e.start_s:6.2f}-{e.end_s:6.2f} s  {e.rate_pps:10.1f} pps  "
        f"received {e.received} (+{e.interval_received})  lost {e.lost}  dup {e.duplicates}  "
        f"reordered {e.reordered}  jitter {e.jitter_ms:.3f} ms"
    )
