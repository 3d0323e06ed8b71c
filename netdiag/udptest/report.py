"""The stable JSON object of one UDP test stream, in one place.

The receiver builds it (:mod:`recv`) and sends it back to the sender, which
renders the receiver's side from it; ``udp analyze`` (:mod:`analyze`) gives the
same object for flows found in a capture. Its keys always start with the ones
the UDP test fixes: ``sent``, ``received``, ``lost``, ``loss_pct``,
``duplicates``, ``reordered``, ``reorder_ratio``, ``reorder_extent_max``,
``n_reordering``, ``out_of_order_iperf3``, ``jitter_ms``, ``ipdv_ms``,
``pdv_ms``, ``loss_periods``, ``rate_pps``; more keys may follow them.
"""

from __future__ import annotations

from netdiag.metrics.udpmetrics import Percentiles, UdpMetrics

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CLOCK_NOTE", "metrics_json"]

CLOCK_NOTE = (
    "one-way delay assumes synchronized clocks; PDV, IPDV and jitter cancel a constant "
    "clock offset but not drift"
)


def _r(value: float, digits: int = 3) -> float:
    return round(value, digits)


def _pct(p: Percentiles | None) -> dict[str, float] | None:
    if p is None:
        return None
    return {"p50": _r(p.p50, 4), "p90": _r(p.p90, 4), "p99": _r(p.p99, 4)}


def metrics_json(m: UdpMetrics) -> dict[str, Any]:
    """The stable JSON object of one stream's metrics."""
    return {
        "sent": m.sent,
        "received": m.received,
        "lost": m.lost,
        "loss_pct": _r(m.loss_pct, 4),
        "duplicates": m.duplicates,
        "reordered": m.reordered,
        "reorder_ratio": _r(m.reorder_ratio, 6),
        "reorder_extent_max": m.reorder_extent_max,
        "n_reordering": {str(n + 1): c for n, c in enumerate(m.n_reordering)},
        "out_of_order_iperf3": m.out_of_order_iperf3,
        "jitter_ms": _r(m.jitter_ms, 4),
        "ipdv_ms": _pct(m.ipdv_ms),
        "pdv_ms": _pct(m.pdv_ms),
        "loss_periods": {
            "count": m.loss_periods,
            "mean": _r(m.loss_period_mean, 3),
            "max": m.loss_period_max,
        },
        "rate_pps": _r(m.rate_pps, 1),
        "reorder_extent_mean": _r(m.reorder_extent_mean, 3),
        "late_time_max_ms": _r(m.late_time_max_ms, 4),
        "late_time_mean_ms": _r(m.late_time_mean_ms, 4),
        "duplicate_pct": _r(m.duplicate_pct, 4),
        "lost_iperf3": m.lost_iperf3,
        "owd_min_ms": None if m.owd_min_ms is None else _r(m.owd_min_ms, 4),
        "end_known": m.end_known,
        "before_start": m.before_start,
        "beyond_window": m.beyond_window,
    }
