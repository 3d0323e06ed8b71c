"""What the exporter knows, and its ``prometheus_client`` collector.

Pure: :class:`TargetStats` and :class:`PathStats` are fed the engine's events and
mtr's reports (no sockets, no clocks); :class:`Collector` turns a snapshot of them
into ``prometheus_client`` metric families at each scrape, so the exposition (text
or OpenMetrics, as the scraper negotiates) is the library's. State is bounded per
target: counters, one bucket count per histogram bound, the last TTL, error counts
by type, and the last path.

Series (labels ``host``, ``ip``, ``method`` and every label of the configuration;
a target without one of them has it empty, which Prometheus reads as absent):

- ``netdiag_ping_requests_total``: probes answered or timed out (fping's count);
- ``netdiag_ping_response_duration_seconds``: the RTT histogram (50 µs × 2^k);
- ``netdiag_ping_response_duplicates_total``, ``netdiag_ping_response_ttl``;
- ``netdiag_ping_errors_total{type}``: ICMP errors by kind (``host_unreachable``...),
  ``send`` (sendto refused), ``resolve`` (the name does not resolve), ``privilege``
  (the method needs a privilege the process lacks), ``socket`` (its socket could not be
  opened otherwise), ``path`` (an mtr run failed);
- ``netdiag_target_up``: 1 while the target is probed, 0 while it cannot be;
- ``netdiag_path_hops``, ``netdiag_path_hop_rtt_seconds{ttl,address}``,
  ``netdiag_path_hop_loss_ratio{ttl}`` (mtr's path loss, not rate limiting),
  ``netdiag_path_changes_total``;
- ``netdiag_build_info{version,python}``, ``netdiag_config_last_reload_successful``
  and ``netdiag_config_last_reload_success_timestamp_seconds``.
"""

from __future__ import annotations

import threading
from bisect import bisect_left

from netdiag.exporter.config import TargetConfig

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from netdiag.trace.mtr import MtrReport

__all__ = ["TargetStats", "PathStats", "Registry", "Collector", "ICMP_ERROR_TYPES", "error_type"]

#: (family, type, code) -> errors_total{type}; other ICMP errors are "icmp_T_C"
ICMP_ERROR_TYPES = {
    (4, 3, 0): "net_unreachable",
    (4, 3, 1): "host_unreachable",
    (4, 3, 2): "protocol_unreachable",
    (4, 3, 3): "port_unreachable",
    (4, 3, 4): "fragmentation_needed",
    (4, 3, 13): "admin_prohibited",
    (4, 11, 0): "ttl_exceeded",
    (4, 11, 1): "reassembly_exceeded",
    (6, 1, 0): "no_route",
    (6, 1, 1): "admin_prohibited",
    (6, 1, 3): "address_unreachable",
    (6, 1, 4): "port_unreachable",
    (6, 2, 0): "packet_too_big",
    (6, 3, 0): "ttl_exceeded",
}


def error_type(family: int, icmp_type: int, code: int) -> str:
    name = ICMP_ERROR_TYPES.get((family, icmp_type, code))
    return name or f"icmp{'' if family == 4 else 'v6'}_{icmp_type}_{code}"


class TargetStats:
    """One target's counters, fed from the engine's thread (under the registry lock)."""

    __slots__ = (
        "config",
        "ip",
        "up",
        "requests",
        "buckets",
        "sum_s",
        "duplicates",
        "ttl",
        "errors",
        "bounds",
    )

    def __init__(self, config: TargetConfig, bounds: tuple[float, ...]) -> None:
        self.config = config
        self.ip = ""
        self.up = False
        self.requests = 0
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf only)
        self.sum_s = 0.0
        self.duplicates = 0
        self.ttl: int | None = None
        self.errors: dict[str, int] = {}

    def reply(self, rtt_s: float, ttl: int) -> None:
        self.requests += 1
        self.buckets[bisect_left(self.bounds, rtt_s)] += 1  # le: rtt <= bound
        self.sum_s += rtt_s
        self.ttl = ttl

    def lost(self) -> None:
        self.requests += 1

    def duplicate(self) -> None:
        self.duplicates += 1

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    @property
    def responses(self) -> int:
        return sum(self.buckets)


class PathStats:
    """The last path measured for one target, and how often it changed."""

    __slots__ = ("hops", "reached", "changes", "runs", "_route")

    def __init__(self) -> None:
        self.hops: tuple[tuple[int, str | None, float | None, float], ...] = ()
        self.reached = False
        self.changes = 0
        self.runs = 0
        self._route: tuple[str | None, ...] | None = None

    def report(self, report: MtrReport) -> None:
        """Take an mtr report: per hop (ttl, first responder, its mean RTT s, path loss)."""
        hops = []
        for hop in report.hops:
            best = max(hop.hosts, key=lambda h: h.received, default=None)
            address = best.address if best is not None else None
            rtt = best.avg_ms / 1000 if best is not None and best.avg_ms is not None else None
            loss = best.loss_pct / 100 if best is not None else 1.0
            hops.append((hop.ttl, address, rtt, loss))
        route = tuple(a for _t, a, _r, _l in hops)
        if self._route is not None and route != self._route:
            self.changes += 1
        self._route = route
        self.hops = tuple(hops)
        self.reached = report.reached
        self.runs += 1


class Registry:
    """The exporter's state behind one lock: the targets' stats (by config key), the
    paths, and the reload verdict. The loop writes, :class:`Collector` reads."""

    def __init__(self, label_names: tuple[str, ...] = ()) -> None:
        self.lock = threading.Lock()
        self.targets: dict[tuple[object, ...], TargetStats] = {}
        self.paths: dict[tuple[object, ...], PathStats] = {}
        self.label_names = label_names
        self.reload_ok = True
        self.reload_time = 0.0


def _values(t: TargetStats, names: tuple[str, ...]) -> list[str]:
    mine = dict(t.config.labels)
    return [t.config.host, t.ip, t.config.method, *(mine.get(n, "") for n in names)]


def _le(bound: float) -> str:
    return repr(float(bound))


class Collector:
    """A ``prometheus_client`` custom collector over a :class:`Registry`."""

    def __init__(self, registry: Registry, version: str, python: str) -> None:
        self.registry = registry
        self.version = version
        self.python = python

    def describe(self) -> list[Any]:
        return []  # unchecked: the series change with the configuration

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        r = self.registry
        with r.lock:
            names = r.label_names
            rows = [
                (
                    _values(t, names),
                    t.up,
                    t.requests,
                    list(t.buckets),
                    t.sum_s,
                    t.duplicates,
                    t.ttl,
                    dict(t.errors),
                    t.bounds,
                )
                for t in r.targets.values()
            ]
            paths = [
                (_values(r.targets[k], names), p.hops, p.changes, p.runs)
                for k, p in r.paths.items()
                if k in r.targets
            ]
            reload_ok, reload_time = r.reload_ok, r.reload_time
        labels = ["host", "ip", "method", *names]
        req = CounterMetricFamily(
            "netdiag_ping_requests", "Probes answered or timed out.", labels=labels
        )
        hist = HistogramMetricFamily(
            "netdiag_ping_response_duration_seconds",
            "Round-trip time of the replies.",
            labels=labels,
        )
        dup = CounterMetricFamily(
            "netdiag_ping_response_duplicates", "Duplicate replies.", labels=labels
        )
        ttl = GaugeMetricFamily(
            "netdiag_ping_response_ttl", "TTL (hop limit) of the last reply.", labels=labels
        )
        err = CounterMetricFamily(
            "netdiag_ping_errors",
            "Errors by type: ICMP errors, send, resolve, privilege.",
            labels=[*labels, "type"],
        )
        up = GaugeMetricFamily(
            "netdiag_target_up",
            "1 while the target is probed, 0 while it cannot be (see netdiag_ping_errors_total).",
            labels=labels,
        )
        for values, is_up, requests, buckets, sum_s, dups, last_ttl, errors, bounds in rows:
            req.add_metric(values, requests)
            cumulative, total = [], 0
            for bound, n in zip(bounds, buckets, strict=False):
                total += n
                cumulative.append((_le(bound), total))
            cumulative.append(("+Inf", total + buckets[-1]))
            hist.add_metric(values, cumulative, sum_s)
            dup.add_metric(values, dups)
            if last_ttl is not None:
                ttl.add_metric(values, last_ttl)
            for kind, n in sorted(errors.items()):
                err.add_metric([*values, kind], n)
            up.add_metric(values, 1 if is_up else 0)
        yield from (req, hist, dup, ttl, err, up)
        yield from self._paths(paths, labels)
        info = GaugeMetricFamily(
            "netdiag_build_info", "netdiag's version and Python's.", labels=["version", "python"]
        )
        info.add_metric([self.version, self.python], 1)
        yield info
        yield GaugeMetricFamily(
            "netdiag_config_last_reload_successful",
            "Whether the last configuration reload succeeded.",
            value=1 if reload_ok else 0,
        )
        yield GaugeMetricFamily(
            "netdiag_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded.",
            value=reload_time,
        )

    @staticmethod
    def _paths(paths: list[Any], labels: list[str]) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        hops = GaugeMetricFamily(
            "netdiag_path_hops", "Hops of the last path measured.", labels=labels
        )
        rtt = GaugeMetricFamily(
            "netdiag_path_hop_rtt_seconds",
            "Mean RTT of each hop's responder in the last path run.",
            labels=[*labels, "ttl", "address"],
        )
        loss = GaugeMetricFamily(
            "netdiag_path_hop_loss_ratio",
            "Path loss at each hop (lost here and beyond; not ICMP rate limiting).",
            labels=[*labels, "ttl"],
        )
        changes = CounterMetricFamily(
            "netdiag_path_changes",
            "Times the path's hop addresses changed between runs.",
            labels=labels,
        )
        for values, path, n_changes, runs in paths:
            if not runs:
                continue
            hops.add_metric(values, len(path))
            for ttl, address, avg_s, loss_ratio in path:
                if address is not None and avg_s is not None:
                    rtt.add_metric([*values, str(ttl), address], avg_s)
                loss.add_metric([*values, str(ttl)], loss_ratio)
            changes.add_metric(values, n_changes)
        yield from (hops, rtt, loss, changes)
