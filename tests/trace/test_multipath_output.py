"""The pure parts around the MDA core: NAT evidence from quotes (scapy crafts the
translated probe, with the checksum a NAT leaves), matching a translated answer,
the alias tests (Mercator, IP-ID series), and the text/JSON/DOT output (DOT parsed
by Graphviz)."""

from __future__ import annotations

import json
import subprocess

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6TimeExceeded, IPv6

from netdiag.packets import decode
from netdiag.trace.multipath import render
from netdiag.trace.multipath.alias import AliasSet, mercator_pairs, merge, shared_counter
from netdiag.trace.multipath.core import MdaSession, MdaSettings, Reply
from netdiag.trace.multipath.loop import Flows, MultipathResult, Receiver
from netdiag.trace.multipath.nat import quote_differences
from netdiag.trace.probe import Flow, Method

SRC, DST, NAT, ROUTER = "198.18.0.1", "198.18.4.2", "198.18.2.1", "198.18.3.2"


def _time_exceeded(inner: bytes, family: int = 4, router: str = ROUTER) -> bytes:
    """The ICMP error ``router`` sends to SRC about ``inner`` (bytes of an IP packet)."""
    if family == 4:
        return bytes(IP(src=router, dst=SRC) / ICMP(type=11, code=0) / inner)
    return bytes(IPv6(src=router, dst="2001:db8::1") / ICMPv6TimeExceeded() / inner)


def _probe(flow: Flow, transport: bytes, src: str, fix_checksum: bool) -> bytes:
    """The probe as a router quotes it: with ``src`` as source and, like a NAT,
    the UDP checksum recomputed for it (scapy computes it when told None)."""
    u = UDP(transport)
    if fix_checksum:
        u.chksum = None
    return bytes(IP(src=src, dst=flow.dst, ttl=1, proto=17) / u)


def test_an_untouched_quote_shows_no_difference():
    q = IP(src=SRC, dst=DST, ttl=1) / UDP(sport=40000, dport=33434, chksum=0x1234) / b"xx"
    packet = decode(_time_exceeded(bytes(q)), 228)
    assert quote_differences(packet.icmp.quoted, SRC, DST, 40000, 33434, 0x1234) == ()


def test_the_ip_id_is_compared_where_we_wrote_it():
    q = IP(src=SRC, dst=DST, ttl=1, id=4242) / UDP(sport=40000, dport=33434, chksum=7) / b"xx"
    quoted = decode(_time_exceeded(bytes(q)), 228).icmp.quoted
    assert quote_differences(quoted, SRC, DST, 40000, 33434, 7, 4242) == ()
    assert quote_differences(quoted, SRC, DST, 40000, 33434, 7, 99) == ("ip id: 99 -> 4242",)
    assert quote_differences(quoted, SRC, DST, 40000, 33434, 7, None) == ()  # the kernel's


def test_a_translated_quote_names_each_field():
    q = IP(src=NAT, dst=DST, ttl=1) / UDP(sport=40001, dport=33434, chksum=0x2222) / b"xx"
    packet = decode(_time_exceeded(bytes(q)), 228)
    got = quote_differences(packet.icmp.quoted, SRC, DST, 40000, 33434, 0x1111)
    assert got == (f"src: {SRC} -> {NAT}", "sport: 40000 -> 40001",
                   "udp checksum: 0x1111 -> 0x2222")  # fmt: skip


def test_ipv6_quotes_are_compared_too():
    q = IPv6(src="2001:db8:2::1", dst="2001:db8:4::2", hlim=1) / UDP(sport=1, dport=2, chksum=5)
    packet = decode(_time_exceeded(bytes(q), 6, "2001:db8:3::2"), 229)
    got = quote_differences(packet.icmpv6.quoted, "2001:db8::1", "2001:db8:4::2", 1, 2, 5)
    assert got == ("src: 2001:db8::1 -> 2001:db8:2::1",)


def _receiver(method: Method = Method.UDP) -> tuple[Receiver, MdaSession, Flows]:
    session = MdaSession(MdaSettings(confidence=95))
    flows = Flows(Flow(4, method, SRC, DST, 40000, 33434, 60))
    return Receiver(flows, session, 77), session, flows


@pytest.mark.parametrize("translated", [False, True])
def test_an_answer_is_matched_also_when_a_nat_rewrote_the_checksum(translated):
    rx, session, flows = _receiver()
    (f, ttl), *_ = session.next_probes(0)
    data = rx.register(f, ttl, 0)
    inner = _probe(flows.flow(f), data, NAT if translated else SRC, fix_checksum=translated)
    rx.received(decode(_time_exceeded(inner), 228), 1, 10_000)
    reply = session._ans[ttl][f]
    assert reply.address == ROUTER and reply.quoted and not reply.final
    assert bool(reply.nat) == translated
    if translated:
        assert reply.nat[0] == f"src: {SRC} -> {NAT}" and "udp checksum" in reply.nat[1]


def test_an_answer_to_someone_elses_flow_is_ignored():
    rx, session, flows = _receiver()
    (f, ttl), *_ = session.next_probes(0)
    rx.register(f, ttl, 0)
    q = IP(src=SRC, dst=DST, ttl=1) / UDP(sport=12345, dport=33434) / b"xx"
    rx.received(decode(_time_exceeded(bytes(q)), 228), 1, 10_000)
    assert not session._ans


# --------------------------------------------------------------------------- aliases


def test_mercator_pairs_an_address_with_the_one_that_answered_for_it():
    assert mercator_pairs({"a": "a", "b": "c"}) == [
        ("b", "c", "mercator: UDP to b answered from c")
    ]


def test_one_counter_interleaved_is_shared():
    a = [(0, 100), (2, 102), (4, 104)]
    b = [(1, 101), (3, 103), (5, 105)]
    assert shared_counter(a, b) is True


def test_two_counters_are_not_shared():
    assert shared_counter([(0, 100), (2, 101)], [(1, 9000), (3, 9001)]) is False


def test_ids_that_do_not_move_are_no_evidence():
    assert shared_counter([(0, 0), (2, 0)], [(1, 0), (3, 0)]) is None
    assert shared_counter([(0, 1)], [(1, 2)]) is None


def test_merge_is_transitive_and_keeps_the_evidence():
    sets = merge(4, ["a", "b", "c", "d"], [("a", "b", "e1"), ("b", "c", "e2")])
    merged = [s for s in sets if s.merged]
    assert [(s.addresses, s.evidence) for s in merged] == [(("a", "b", "c"), ("e1", "e2"))]
    assert AliasSet(4, ("d",), ()) in sets


# --------------------------------------------------------------------------- output


def _result(aliases=(), nat_from: int | None = None) -> MultipathResult:
    """A session fed by hand: r1 -> (b0, b1) -> j -> d, flows alternating over b0/b1."""
    s = MdaSession(MdaSettings(confidence=95))
    path = {1: lambda f: "r1", 2: lambda f: f"b{f % 2}", 3: lambda f: "j", 4: lambda f: "d"}
    now = 0
    while not s.done:
        for f, t in s.next_probes(now):
            node = path[min(t, 4)](f)
            nat = (f"src: {SRC} -> {NAT}",) if nat_from and t >= nat_from else ()
            s.answered(f, t, Reply(node, 50_000, node == "d", node == "d", None, nat, True))
        now += 10**9
        s.expire(now)
    return MultipathResult("d", "d", 4, Method.UDP, 95, True, SRC, s.discovery(), 12.0,
                           tuple(aliases), 0)  # fmt: skip


def test_text_shows_the_diamond_as_scamper_does_and_every_router_per_ttl():
    lines = render.text(_result()).splitlines()
    assert lines[1] == "r1 -> (b0, b1) -> j -> d"
    assert any(x.startswith(" 3  j  ") and x.endswith("<- b0, b1") for x in lines)
    assert "stopped at TTL 4: reached" in lines[-2]
    assert lines[-1].startswith("NAT: no NAT evidence")


def test_json_holds_nodes_links_probes_and_why_it_stopped():
    j = json.loads(json.dumps(render.to_json(_result(nat_from=3))))
    assert j["confidence"] == 95 and j["algorithm"] == "mda-lite"
    assert j["stopped"] == {"ttl": 4, "reason": "reached"}
    assert {(x["src"], x["dst"]) for x in j["links"]} == {
        ("r1", "b0"),
        ("r1", "b1"),
        ("b0", "j"),
        ("b1", "j"),
        ("j", "d"),
    }
    assert [n["address"] for n in j["nodes"] if n["nat"]["detected"]] == ["j", "d"]
    assert sum(x["share"] for x in j["links"] if x["src"] == "r1") == pytest.approx(1)


def test_dot_parses_with_one_node_per_router(require_tool):
    dot = require_tool("dot")
    merged = (AliasSet(2, ("b0", "b1"), ("ip-id: b0 and b1 share one counter",)),)
    for result, routers in ((_result(), 5), (_result(merged, nat_from=3), 4)):
        text = render.to_dot(result)
        svg = subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, text=True,
                             timeout=30, check=True).stdout  # fmt: skip
        assert svg.count('class="node"') == routers + 1  # and src
    assert 'xlabel="NAT"' in text and "b0\\nb1" in text
