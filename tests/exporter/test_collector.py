"""The collector: the series it exposes, held to prometheus_client's own Histogram and
read back with prometheus_client's parser; the path series from an mtr report; and the
Grafana dashboard's queries, which may only name series the exporter has. Pure."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from netdiag.exporter.collector import Collector, PathStats, Registry, TargetStats, error_type
from netdiag.exporter.config import DEFAULT_BUCKETS, parse
from netdiag.trace.hopstats import HopSummary, HostSummary
from netdiag.trace.mtr import MtrReport
from netdiag.trace.probe import Method

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
CONFIG = """
labels = { site = "lab" }
[[targets]]
host = "198.18.1.2"
labels = { role = "dst" }
[[targets]]
host = "198.18.1.9"
method = "udp:33434"
path = { every = 10, rounds = 2 }
"""


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def _exporter(config_text: str = CONFIG):
    config = parse(config_text)
    reg = Registry(config.label_names)
    stats = {}
    for tc in config.targets:
        stats[tc.host] = reg.targets[tc.key] = TargetStats(tc, config.buckets)
        stats[tc.host].ip, stats[tc.host].up = tc.host, True
    metrics = CollectorRegistry(auto_describe=False)
    metrics.register(Collector(reg, "1.2.3", "3.11.0"))
    return reg, stats, metrics


def test_the_rtt_histogram_equals_prometheus_clients_own_histogram():
    reg, stats, ours = _exporter()
    theirs = CollectorRegistry()
    ref = Histogram(
        "netdiag_ping_response_duration_seconds",
        "ref",
        ["host"],
        buckets=DEFAULT_BUCKETS,
        registry=theirs,
    )
    rng = random.Random(7)
    rtts = [rng.lognormvariate(-9, 2) for _ in range(2000)] + list(DEFAULT_BUCKETS[:5])
    for rtt in rtts:  # exact bounds too: le means <=
        stats["198.18.1.2"].reply(rtt, 60)
        ref.labels("198.18.1.2").observe(rtt)
    for _ in range(3):
        stats["198.18.1.2"].lost()
    mine = {
        (n, dict(lb).get("le")): v
        for (n, lb), v in _samples(ours).items()
        if n.startswith("netdiag_ping_response_duration_seconds")
        and dict(lb)["host"] == "198.18.1.2"
    }
    ref_s = {
        (n, dict(lb).get("le")): v
        for (n, lb), v in _samples(theirs).items()
        if n.startswith("netdiag_ping_response_duration_seconds") and not n.endswith("_created")
    }
    assert set(mine) == set(ref_s)
    for key, value in ref_s.items():
        assert abs(mine[key] - value) < 1e-9, key
    got = _samples(ours)
    labels = (
        ("host", "198.18.1.2"),
        ("ip", "198.18.1.2"),
        ("method", "icmp"),
        ("role", "dst"),
        ("site", "lab"),
    )
    assert got[("netdiag_ping_requests_total", labels)] == len(rtts) + 3
    assert got[("netdiag_ping_response_ttl", labels)] == 60
    assert got[("netdiag_target_up", labels)] == 1


def test_every_target_carries_every_config_label_empty_where_it_has_none():
    _reg, stats, metrics = _exporter()
    stats["198.18.1.9"].duplicate()
    stats["198.18.1.9"].error(error_type(4, 3, 1))
    stats["198.18.1.9"].error("send")
    got = _samples(metrics)
    udp = (
        ("host", "198.18.1.9"),
        ("ip", "198.18.1.9"),
        ("method", "udp:33434"),
        ("role", ""),
        ("site", "lab"),
    )
    assert got[("netdiag_ping_response_duplicates_total", udp)] == 1
    assert (
        got[
            ("netdiag_ping_errors_total", (*udp[:4], ("site", "lab"), ("type", "host_unreachable")))
        ]
        == 1
    )
    assert got[("netdiag_ping_errors_total", (*udp[:4], ("site", "lab"), ("type", "send")))] == 1
    assert ("netdiag_ping_response_ttl", udp) not in got  # no reply yet: no TTL
    assert got[("netdiag_build_info", (("python", "3.11.0"), ("version", "1.2.3")))] == 1
    assert got[("netdiag_config_last_reload_successful", ())] == 1


def _report(addresses: list[str | None], loss: list[float]) -> MtrReport:
    hops = tuple(
        HopSummary(
            ttl,
            (HostSummary(addr, pct, 10, 10 - int(pct / 10), 1.0, 0.5 * ttl, 0.1, 2.0, 0.1, 0.1),),
        )
        for ttl, (addr, pct) in enumerate(zip(addresses, loss, strict=True), 1)
    )
    return MtrReport("198.18.1.9", "198.18.1.9", 4, Method.UDP, 10, True, hops)


def test_path_series_follow_the_mtr_report_and_count_changes():
    reg, _stats, metrics = _exporter()
    key = next(k for k in reg.targets if k[0] == "198.18.1.9")
    path = reg.paths[key] = PathStats()
    path.report(_report(["198.18.0.1", None, "198.18.1.9"], [0.0, 100.0, 20.0]))
    path.report(_report(["198.18.0.1", None, "198.18.1.9"], [0.0, 100.0, 20.0]))
    got = _samples(metrics)
    base = (
        ("host", "198.18.1.9"),
        ("ip", "198.18.1.9"),
        ("method", "udp:33434"),
        ("role", ""),
        ("site", "lab"),
    )
    assert got[("netdiag_path_hops", base)] == 3
    assert got[("netdiag_path_changes_total", base)] == 0
    assert got[("netdiag_path_hop_loss_ratio", (*base, ("ttl", "3")))] == 0.2
    assert got[("netdiag_path_hop_loss_ratio", (*base, ("ttl", "2")))] == 1.0
    rtt = ("netdiag_path_hop_rtt_seconds", (("address", "198.18.1.9"), *base, ("ttl", "3")))
    assert abs(got[rtt] - 0.0015) < 1e-12
    assert not any(n == "netdiag_path_hop_rtt_seconds" and ("ttl", "2") in lb for n, lb in got)
    path.report(_report(["198.18.0.1", "198.18.5.1", "198.18.1.9"], [0.0, 0.0, 0.0]))
    assert _samples(metrics)[("netdiag_path_changes_total", base)] == 1


def test_openmetrics_is_served_when_negotiated():
    from prometheus_client.openmetrics.exposition import generate_latest as om
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

    _reg, stats, metrics = _exporter()
    stats["198.18.1.2"].reply(0.0001, 64)
    fams = {f.name: f for f in om_parse(om(metrics).decode())}
    assert fams["netdiag_ping_response_duration_seconds"].type == "histogram"
    assert fams["netdiag_ping_requests"].type == "counter"


def _exposed_names() -> set[str]:
    reg, stats, metrics = _exporter()
    stats["198.18.1.2"].reply(0.0001, 64)
    stats["198.18.1.2"].error("resolve")
    key = next(k for k in reg.targets if k[0] == "198.18.1.9")
    reg.paths[key] = PathStats()
    reg.paths[key].report(_report(["198.18.0.1", "198.18.1.9"], [0.0, 0.0]))
    return {name for name, _labels in _samples(metrics)}


def test_the_grafana_dashboard_only_queries_series_the_exporter_has():
    dash = json.loads((CONTRIB / "grafana-netdiag.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dash["templating"]["list"] if "definition" in v]
    names = {n for e in exprs for n in re.findall(r"\bnetdiag_[a-z_]+", e)}
    exposed = _exposed_names()
    assert names and names <= exposed, names - exposed
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for wanted in ("heatmap", "quantiles", "loss", "per-hop path loss"):
        assert wanted in titles
    assert any("histogram_quantile" in e for e in exprs)
    assert any("netdiag_path_hop_loss_ratio" in e for e in exprs)
