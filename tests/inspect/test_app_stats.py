"""The application layer in the statistics (``metrics.appstats``, ``inspect.stats``),
against tshark: which packets carry which protocol (``frame.protocols``), the names
queried, the rcodes, and the queries tshark finds no response for (``dns.response_in``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

from netdiag.capture.files import read_capture
from netdiag.inspect.stats import dns_summary_dict, dns_summary_text, stats_dict, stats_text
from netdiag.metrics.appstats import DnsSummaryAccumulator, app_name
from netdiag.metrics.capstats import CaptureStatsAccumulator
from netdiag.packets.dispatch import decode
from netdiag.packets.dns import RCODE_NAMES

CAPTURES = Path(__file__).resolve().parents[2] / "captures" / "app"
TSHARK_NAMES = frozenset(("dns", "mdns", "llmnr", "dhcp", "dhcpv6", "ntp", "http"))
DNS_FILES = ("dns_udp.pcap", "dns_tcp.pcap", "dnssec.pcap", "edns-opts.pcap", "dns-uri.pcap")


def tshark(tool: str, path: Path, *args: str) -> list[str]:
    cmd = [tool, "-n", "-r", str(path), "-o", "tcp.desegment_tcp_streams:FALSE",
           "--disable-heuristic", "dns_udp", "-T", "fields", *args]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, "TZ": "UTC"}).stdout  # fmt: skip
    return out.splitlines()


def packets(path: Path) -> list:
    with read_capture(str(path)) as reader:
        return [(decode(r.data, r.linktype), r) for r in reader]


def test_the_protocol_a_packet_adds_to_the_hierarchy_is_the_one_tshark_sees(
    require_tool: object,
) -> None:
    tool = require_tool("tshark")  # type: ignore[operator]
    seen = 0
    for path in (CAPTURES / "lab.pcap", CAPTURES / "scapy.pcap"):
        protos = tshark(tool, path, "-e", "frame.protocols")
        for (p, _), stack in zip(packets(path), protos, strict=True):
            names = set(stack.split(":"))
            ours = app_name(p)
            theirs = names & TSHARK_NAMES
            assert ours == (theirs.pop() if theirs else None)
            seen += ours is not None
    assert seen > 40


def test_dns_summary_agrees_with_tshark(require_tool: object, require_corpus: object) -> None:
    tool = require_tool("tshark")  # type: ignore[operator]
    corpus = require_corpus()  # type: ignore[operator]
    for path in [CAPTURES / "lab.pcap", *(corpus / f for f in DNS_FILES)]:
        acc = DnsSummaryAccumulator()
        for p, r in packets(path):
            acc.add(p, r.ts_ns)
        got = acc.result(top=None)
        # two passes, so that a query knows its response (dns.response_in)
        rows = tshark(tool, path, "-2", "-Y", "dns", "-E", "occurrence=f",
                      "-e", "dns.flags.response", "-e", "dns.qry.name", "-e", "dns.flags.rcode",
                      "-e", "dns.response_in")  # fmt: skip
        queries = [r.split("\t") for r in rows if r.startswith("0")]
        answers = [r.split("\t") for r in rows if r.startswith("1")]
        names = Counter(q[1].lower() + "." for q in queries)
        assert dict(got.top_names) == dict(names), path.name
        assert dict(got.rcodes) == dict(Counter(RCODE_NAMES[int(a[2])] for a in answers))
        lost = Counter(q[1].lower() + "." for q in queries if not q[3])
        assert (got.queries, got.responses) == (len(queries), len(answers))
        assert dict(got.unanswered_names) == dict(lost), path.name
        assert got.unanswered == sum(lost.values())
    assert got.malformed == 0


def test_the_lab_capture_has_two_unanswered_queries() -> None:
    acc = DnsSummaryAccumulator()
    for p, r in packets(CAPTURES / "lab.pcap"):
        acc.add(p, r.ts_ns)
    s = acc.result()
    assert s.unanswered_names == (("a.drop.example.test.", 1), ("b.drop.example.test.", 1))
    assert ("NXDomain", 1) in s.rcodes


def test_the_summary_is_rendered_in_the_tables_and_in_json() -> None:
    caps = CaptureStatsAccumulator()
    acc = DnsSummaryAccumulator()
    for p, r in packets(CAPTURES / "lab.pcap"):
        caps.add(p, r.wirelen, r.ts_ns)
        acc.add(p, r.ts_ns)
    dns = acc.result(3)
    text = stats_text(caps.result(), dns)
    assert text.endswith(dns_summary_text(dns))
    assert "Unanswered queries" in text and "www.example.test." in text
    d = stats_dict(caps.result(), dns)
    assert d["dns"] == dns_summary_dict(dns)
    assert json.loads(json.dumps(d))["dns"]["unanswered"] == 2
    assert len(d["dns"]["top_names"]) == 3
