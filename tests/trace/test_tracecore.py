"""The deciding half of traceroute/mtr, without sockets: probes, matching, hops, stats, text.

References: scapy builds and checks the packets (checksums, the ICMP errors that
quote our probes, RFC 4884/4950 extensions); the expected text lines are copied
from traceroute(8) 2.1.2 output in the lab; mtr figures against Python's
``statistics``.
"""

from __future__ import annotations

import statistics
import warnings

import pytest
from scapy.contrib.mpls import MPLS, ICMPExtension_MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP, ICMPExtension_Header, IPerror, TCPerror, UDPerror
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6TimeExceeded, IPv6, IPv6ExtHdrFragment

from netdiag.cli import main
from netdiag.packets import decode
from netdiag.trace.core import (
    Flow,
    Hop,
    Method,
    ProbeResult,
    annotation,
    build_probe,
    match,
    probe_key,
)
from netdiag.trace.hopstats import HopStats
from netdiag.trace.render import hop_line

warnings.filterwarnings("ignore", category=DeprecationWarning)
SRC, DST, ROUTER = "198.18.0.1", "198.18.8.2", "198.18.3.2"
SRC6, DST6 = "2001:db8::1", "2001:db8:8::2"


def flow(method: Method, family: int = 4) -> Flow:
    src, dst = (SRC, DST) if family == 4 else (SRC6, DST6)
    sport = 0x1234 if method is Method.ICMP else 40000
    dport = {Method.UDP: 33434, Method.TCP: 80, Method.ICMP: 0}[method]
    return Flow(family, method, src, dst, sport, dport, 60 if family == 4 else 80)


def on_wire(f: Flow, key: int, ttl: int = 5) -> bytes:
    """The whole probe as the kernel sends it (scapy adds the IP header)."""
    l4 = build_probe(f, key)
    if f.family == 4:
        return bytes(IP(src=f.src, dst=f.dst, ttl=ttl, proto=f.protocol) / l4)
    return bytes(IPv6(src=f.src, dst=f.dst, hlim=ttl, nh=f.protocol) / l4)


def time_exceeded(f: Flow, probe: bytes) -> bytes:
    if f.family == 4:  # RFC 792: the router quotes IP header + first 8 bytes (at least)
        return bytes(IP(src=ROUTER, dst=f.src) / ICMP(type=11, code=0) / probe[:28])
    return bytes(IPv6(src="2001:db8:3::2", dst=f.src) / ICMPv6TimeExceeded() / probe)


# --------------------------------------------------------------------------- Paris flows


@pytest.mark.parametrize("family", [4, 6])
def test_udp_probes_keep_ports_and_carry_their_key_in_a_valid_checksum(family):
    f = flow(Method.UDP, family)
    seen = set()
    for n in range(50):
        key = probe_key(f, 0xFFF0, n)
        pkt = (IP if family == 4 else IPv6)(on_wire(f, key))
        u = pkt[UDP]
        assert (u.sport, u.dport) == (40000, 33434)
        assert u.chksum == key
        del u.chksum  # scapy recomputes: our checksum must equal its own
        assert UDP(bytes(u.__class__(bytes(u)))).chksum is not None
        rebuilt = (IP if family == 4 else IPv6)(bytes(pkt))
        assert rebuilt[UDP].chksum == key
        assert len(bytes(pkt)) == (60 if family == 4 else 80)  # traceroute(8)'s sizes
        seen.add(key)
    assert len(seen) == 50


@pytest.mark.parametrize("family", [4, 6])
def test_icmp_probes_keep_identifier_and_checksum_constant(family):
    f = flow(Method.ICMP, family)
    heads = set()
    for seq in (0, 1, 2, 0x7FFF, 0xFFFF):
        wire = on_wire(f, seq)
        if family == 4:
            icmp_layer = IP(wire)[ICMP]
            assert icmp_layer.id == 0x1234 and icmp_layer.seq == seq
            check = ICMP(bytes(icmp_layer))
            del check.chksum
            assert ICMP(bytes(check)).chksum == icmp_layer.chksum  # valid, per scapy
            heads.add(bytes(icmp_layer)[:4])  # type, code, checksum
        else:
            echo = IPv6(wire)[ICMPv6EchoRequest]
            assert echo.id == 0x1234 and echo.seq == seq
            pkt = IPv6(wire)
            del pkt[ICMPv6EchoRequest].cksum
            assert IPv6(bytes(pkt))[ICMPv6EchoRequest].cksum == echo.cksum
            heads.add(bytes(echo)[:4])
    assert len(heads) == 1


def test_tcp_probes_are_syns_with_the_key_as_sequence_and_a_valid_checksum():
    f = flow(Method.TCP)
    for key in (0, 1, 0xFFFFFFFF):
        t = IP(on_wire(f, key))[TCP]
        assert (t.sport, t.dport, t.seq, t.flags) == (40000, 80, key, "S")
        check = IP(on_wire(f, key))
        del check[TCP].chksum
        assert IP(bytes(check))[TCP].chksum == t.chksum
    assert len(on_wire(f, 7)) == 60


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize("method", list(Method))
@pytest.mark.parametrize("family", [4, 6])
def test_a_time_exceeded_is_matched_to_its_probe_from_the_quote(method, family):
    f = flow(method, family)
    key = probe_key(f, 100, 7)
    answer = match(f, decode(time_exceeded(f, on_wire(f, key)), 228 + (family == 6)))
    assert answer is not None
    assert (answer.key, answer.final, answer.reached, answer.annotation) == (key, False, False,
                                                                               None)  # fmt: skip


@pytest.mark.parametrize("family", [4, 6])
def test_a_probe_a_stateless_nat_rewrote_is_still_matched(family):
    """The NAT put its address in and fixed the checksum (scapy recomputes it for the new
    pseudo-header, as nft does); the key is the checksum with that change undone."""
    f = flow(Method.UDP, family)
    nat = "198.18.2.1" if family == 4 else "2001:db8:2::1"
    for n in range(0, 5000, 7):
        key = probe_key(f, 100, n)
        u = UDP(build_probe(f, key))
        u.chksum = None
        ip = IP(src=nat, dst=f.dst, ttl=1) if family == 4 else IPv6(src=nat, dst=f.dst, hlim=1)
        answer = match(f, decode(time_exceeded(f, bytes(ip / u)), 228 + (family == 6)))
        assert answer is not None and answer.key == key, (n, key, answer)


def test_someone_elses_probe_is_not_ours():
    f = flow(Method.UDP)
    other = Flow(4, Method.UDP, SRC, DST, 40001, 33434, 60)
    assert match(f, decode(time_exceeded(f, on_wire(other, 5)), 228)) is None
    elsewhere = Flow(4, Method.UDP, SRC, "198.18.9.9", 40000, 33434, 60)
    assert match(f, decode(time_exceeded(f, on_wire(elsewhere, 5)), 228)) is None


def test_destination_answers_end_the_trace():
    u = flow(Method.UDP)
    unreach = IP(src=DST, dst=SRC) / ICMP(type=3, code=3) / on_wire(u, 9)[:28]
    a = match(u, decode(bytes(unreach), 228))
    assert a is not None and (a.key, a.final, a.reached, a.annotation) == (9, True, True, None)
    i = flow(Method.ICMP)
    a = match(i, decode(bytes(IP(src=DST, dst=SRC) / ICMP(type=0, id=0x1234, seq=11)), 228))
    assert a is not None and (a.key, a.reached) == (11, True)
    t = flow(Method.TCP)
    for flags in ("SA", "RA"):
        reply = IP(src=DST, dst=SRC) / TCP(sport=80, dport=40000, flags=flags, ack=1001)
        a = match(t, decode(bytes(reply), 228))
        assert a is not None and (a.key, a.reached) == (1000, True)


def test_quoted_tcp_needs_only_ports_and_sequence():
    t = flow(Method.TCP)
    quote = IPerror(src=SRC, dst=DST, proto=6) / TCPerror(sport=40000, dport=80, seq=77)
    err = IP(src=ROUTER, dst=SRC) / ICMP(type=11) / bytes(quote)[:28]
    a = match(t, decode(bytes(err), 228))
    assert a is not None and a.key == 77


def test_fragmentation_needed_is_final_with_the_mtu():
    u = flow(Method.UDP)
    err = IP(src="198.18.1.2", dst=SRC) / ICMP(type=3, code=4, nexthopmtu=1280)
    err /= IPerror(bytes(IP(on_wire(u, 3)))[:28])
    a = match(u, decode(bytes(err), 228))
    assert a is not None and (a.final, a.reached, a.annotation) == (True, False, "!F-1280")


def test_mpls_label_stack_of_an_rfc4884_time_exceeded_is_kept():
    u = flow(Method.UDP)
    ext = ICMPExtension_Header() / ICMPExtension_MPLS(
        stack=[MPLS(label=16001, cos=0, s=0, ttl=1), MPLS(label=24, cos=5, s=1, ttl=1)]
    )
    err = IP(src=ROUTER, dst=SRC) / ICMP(type=11, code=0, ext=ext) / IPerror(on_wire(u, 4)[:20])
    err /= UDPerror(on_wire(u, 4)[20:28])
    a = match(u, decode(bytes(err), 228))
    assert a is not None and a.key == 4
    assert [(m.label, m.tc, m.s, m.ttl) for m in a.mpls] == [(16001, 0, False, 1),
                                                             (24, 5, True, 1)]  # fmt: skip


# traceroute(8) man page: !H !N !P host/net/protocol unreachable, !S source route failed,
# !F fragmentation needed, !X administratively prohibited, !V precedence violation,
# !C precedence cutoff, !<num> other codes; the IPv6 ones as traceroute(8) printed them
# in the lab for `ip route add prohibit|unreachable|throw` (!X, !N, !N).
@pytest.mark.parametrize(
    ("family", "icmp_type", "code", "mark"),
    [(4, 3, 0, "!N"), (4, 3, 1, "!H"), (4, 3, 2, "!P"), (4, 3, 5, "!S"), (4, 3, 13, "!X"),
     (4, 3, 14, "!V"), (4, 3, 15, "!C"), (4, 3, 99, "!<99>"), (4, 3, 3, ""), (4, 11, 0, None),
     (6, 1, 0, "!N"), (6, 1, 1, "!X"), (6, 1, 3, "!H"), (6, 1, 4, ""), (6, 3, 0, None),
     (6, 2, 0, "!F-1280")],
)  # fmt: skip
def test_annotations_are_those_of_traceroute8(family, icmp_type, code, mark):
    assert annotation(family, icmp_type, code, 1280) == mark


# --------------------------------------------------------------------------- text


def _probe(addr: str | None, rtt: float | None, mark: str | None = None) -> ProbeResult:
    return ProbeResult(3, addr, rtt, mark)


def test_hop_lines_have_traceroute8s_shape():
    # Lines printed by traceroute(8) 2.1.2 in the lab (see test_traceroute.py).
    assert hop_line(Hop(1, (_probe("198.18.0.2", 0.563), _probe("198.18.0.2", 0.435),
                            _probe("198.18.0.2", 0.423)))) == (
        " 1  198.18.0.2  0.563 ms  0.435 ms  0.423 ms")  # fmt: skip
    assert hop_line(Hop(3, (_probe(None, None),) * 3)) == " 3  * * *"
    assert hop_line(Hop(10, (_probe(None, None),) * 3)) == "10  * * *"
    mixed = Hop(3, (_probe("2001:db8:1::2", 0.009, "!F-1280"), _probe("2001:db8:2::2", 0.037),
                    _probe("2001:db8:2::2", 0.012)))  # fmt: skip
    assert (
        hop_line(mixed) == " 3  2001:db8:1::2  0.009 ms !F-1280 2001:db8:2::2  0.037 ms  0.012 ms"
    )
    star_first = Hop(7, (_probe(None, None), _probe("198.18.1.2", 0.127, "!X"), _probe(None, None)))
    assert hop_line(star_first) == " 7  * 198.18.1.2  0.127 ms !X *"


# --------------------------------------------------------------------------- mtr statistics


def test_hop_statistics_match_pythons_statistics():
    rtts = [0.5, 0.7, 0.4, 1.3, 0.6]
    h = HopStats(1)
    for r in rtts:
        h.add("198.18.0.2", r)
    h.add(None, None)
    (row,) = h.summary().hosts
    assert (row.sent, row.received, row.loss_pct) == (6, 5, pytest.approx(100 / 6))
    assert row.avg_ms == pytest.approx(statistics.mean(rtts))
    assert row.stdev_ms == pytest.approx(statistics.stdev(rtts))
    assert (row.best_ms, row.worst_ms, row.last_ms) == (0.4, 1.3, 0.6)
    diffs = [abs(b - a) for a, b in zip(rtts, rtts[1:], strict=False)]
    assert row.jitter_ms == pytest.approx(statistics.mean(diffs))


def test_a_hop_nobody_answers_is_all_loss():
    h = HopStats(3)
    for _ in range(10):
        h.add(None, None)
    (row,) = h.summary().hosts
    assert (row.address, row.loss_pct, row.sent, row.avg_ms) == (None, 100.0, 10, None)


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    "argv",
    [["traceroute", "-q", "0", DST], ["traceroute", "-m", "300", DST],
     ["traceroute", "-f", "9", "-m", "3", DST], ["traceroute", "-w", "x", DST],
     ["traceroute", "-I", "-T", DST], ["traceroute", "no.such.host.invalid"],
     ["mtr", "-c", "0", DST], ["mtr", "-i", "0", DST], ["traceroute", "-s", "::1", DST]],
)  # fmt: skip
def test_bad_arguments_give_one_line_and_status_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("netdiag: ") and err.count("\n") == 1, err


def test_fragment_header_is_not_confused_for_a_probe():
    f = flow(Method.UDP, 6)
    frag = IPv6(src="2001:db8:3::2", dst=SRC6) / ICMPv6TimeExceeded() / (
        IPv6(src=SRC6, dst=DST6) / IPv6ExtHdrFragment(offset=8) / (b"\x00" * 16))  # fmt: skip
    assert match(f, decode(bytes(frag), 229)) is None
