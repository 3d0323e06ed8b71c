"""ICMP and ICMPv6 errors: MTUs, quoted datagrams, RFC 4884 extensions, RFC 4950 MPLS.

References: scapy builds the messages (scapy.layers.inet's ICMP ``length`` field,
its RFC 4884 ``ICMPExtension_Header`` and RFC 4950 ``ICMPExtension_MPLS`` classes,
the successors of scapy.contrib.icmp_extensions) and the RFCs' layouts.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.contrib.mpls import MPLS, ICMPExtension_MPLS
from scapy.layers.inet import (
    ICMP,
    IP,
    TCP,
    UDP,
    ICMPerror,
    ICMPExtension_Header,
    ICMPExtension_InterfaceInformation,
    IPerror,
    TCPerror,
    UDPerror,
)
from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6PacketTooBig, ICMPv6TimeExceeded, IPv6
from scapy.packet import Raw

from netdiag import decode
from netdiag.packets import icmpext

from .reference import raw, same_ip

SETTINGS = settings(max_examples=50, deadline=None)
ROUTER, HOST, TARGET = "203.0.113.1", "192.0.2.1", "198.51.100.9"


def _quote(l4, size: int = 128) -> bytes:
    inner = raw(IPerror(src=HOST, dst=TARGET, ttl=1, id=0x99) / l4)
    return inner + bytes(size - len(inner)) if size else inner


def _ext(entries) -> bytes:
    return raw(
        ICMPExtension_Header()
        / ICMPExtension_MPLS(
            stack=[MPLS(label=lab, cos=tc, s=int(s), ttl=ttl) for lab, tc, s, ttl in entries]
        )
    )


# ---------------------------------------------------------------- RFC 1191 / RFC 8201
@given(mtu=st.integers(0, 0xFFFF))
@SETTINGS
def test_fragmentation_needed_carries_the_next_hop_mtu(mtu):
    ref = (
        IP(src=ROUTER, dst=HOST)
        / ICMP(type=3, code=4, nexthopmtu=mtu)
        / Raw(_quote(UDPerror(sport=1, dport=2), 0))
    )
    p = decode(raw(ref), 101)
    assert p.icmp.mtu == mtu and p.icmp.text == "fragmentation needed"
    assert p.icmp.fields()["mtu"] == mtu
    assert p.icmp.length == 0 and p.icmp.extensions is None


def test_only_fragmentation_needed_has_an_mtu():
    for t, c in ((3, 3), (11, 0), (12, 0), (8, 0)):
        p = decode(raw(IP() / ICMP(type=t, code=c) / (b"x" * 28)), 101)
        assert p.icmp.mtu is None


@given(mtu=st.integers(0, 0xFFFFFFFF))
@SETTINGS
def test_icmpv6_packet_too_big_carries_the_mtu_and_quotes_the_packet(mtu):
    inner = IPv6(src="2001:db8::1", dst="2001:db8::9", hlim=3) / TCP(
        sport=443, dport=51000, seq=777, flags="PA"
    )
    ref = (
        IPv6(src="2001:db8::fe", dst="2001:db8::1")
        / ICMPv6PacketTooBig(mtu=mtu)
        / Raw(raw(inner) + b"z" * 100)
    )
    p = decode(raw(ref), 229)
    i = p.icmpv6
    assert (i.type, i.mtu, i.checksum_ok) == (2, mtu, True)
    q = i.quoted
    assert q.error is None and same_ip(q.ip.dst, "2001:db8::9") and q.ip.hop_limit == 3
    assert (q.tcp.sport, q.tcp.dport, q.tcp.seq, q.tcp.flags) == (443, 51000, 777, 0x18)
    assert i.extensions is None  # packet too big has no RFC 4884 length (RFC 4884 §4.2)


# ---------------------------------------------------------------- quoted datagrams
def test_quoted_tcp_header_of_8_bytes_gives_ports_and_sequence():
    # RFC 792: the error quotes the IP header and 64 bits of the original data.
    quote = _quote(TCPerror(sport=50123, dport=443, seq=0x01020304, ack=5), 0)[:28]
    p = decode(raw(IP(src=ROUTER, dst=HOST) / ICMP(type=11) / Raw(quote)), 101)
    q = p.icmp.quoted
    assert q.error is None
    t = q.tcp
    assert t.partial and (t.sport, t.dport, t.seq) == (50123, 443, 0x01020304)
    assert (t.ack, t.flags, t.window, t.checksum_ok) == (None, None, None, None)
    assert {
        "sport": 50123,
        "dport": 443,
        "seq": 0x01020304,
        "partial": True,
    }.items() <= p.icmp.fields()["quoted"][1].items()


@given(ident=st.integers(0, 0xFFFF), seq=st.integers(0, 0xFFFF))
@SETTINGS
def test_quoted_icmp_echo_gives_identifier_and_sequence(ident, seq):
    quote = raw(
        IPerror(src=HOST, dst=TARGET, ttl=1, proto=1) / ICMPerror(type=8, id=ident, seq=seq)
    )
    p = decode(raw(IP(src=ROUTER, dst=HOST) / ICMP(type=11) / Raw(quote)), 101)
    q = p.icmp.quoted
    assert (q.icmp.type, q.icmp.id, q.icmp.seq) == (8, ident, seq)
    assert q.icmp.quoted is None  # a quote is not searched for further quotes


@given(sport=st.integers(0, 0xFFFF), dport=st.integers(0, 0xFFFF), ttl=st.integers(0, 255))
@SETTINGS
def test_quoted_udp_gives_ports_of_the_probe(sport, dport, ttl):
    quote = raw(
        IPerror(src=HOST, dst=TARGET, ttl=ttl, len=60) / UDPerror(sport=sport, dport=dport, len=40)
    )
    p = decode(raw(IP(src=ROUTER, dst=HOST) / ICMP(type=3, code=3) / Raw(quote)), 101)
    q = p.icmp.quoted
    assert q.ip.truncated and q.ip.total_length == 60 and q.ip.ttl == ttl
    assert (q.udp.sport, q.udp.dport, q.udp.length) == (sport, dport, 40)
    assert q.udp.checksum_ok is None  # the quote is cut: no verdict


# ---------------------------------------------------------------- RFC 4884 / RFC 4950
mpls_stacks = st.lists(
    st.tuples(st.integers(0, 0xFFFFF), st.integers(0, 7), st.booleans(), st.integers(0, 255)),
    min_size=1,
    max_size=4,
)


@given(entries=mpls_stacks, icmp_type=st.sampled_from([3, 11, 12]))
@SETTINGS
def test_rfc4884_length_locates_the_mpls_extension_scapy_built(entries, icmp_type):
    ext = _ext(entries)
    msg = ICMP(type=icmp_type, code=0, length=32)
    ref = IP(src=ROUTER, dst=HOST) / msg / Raw(_quote(UDPerror(sport=33000, dport=33434)) + ext)
    p = decode(raw(ref), 101)
    i = p.icmp
    assert i.length == 32 and i.checksum_ok is True
    assert i.quoted_span == (28, 28 + 128)
    x = i.extensions
    ref_ext = ICMPExtension_Header(ext)
    assert (x.version, x.checksum, x.checksum_ok) == (ref_ext.version, ref_ext.chksum, True)
    [obj] = x.objects
    ref_obj = ref_ext.payload
    assert (obj.class_num, obj.ctype) == (ref_obj.classnum, ref_obj.classtype) == (1, 1)
    assert [(e.label, e.tc, e.s, e.ttl) for e in x.mpls] == entries
    assert x.fields()["objects"][0]["mpls"][0]["label"] == entries[0][0]
    assert (i.quoted.udp.sport, i.quoted.udp.dport) == (33000, 33434)


def test_rfc4950_mpls_entry_bits():
    # RFC 4950 §7 / RFC 3032 §2.1: label 20 bits, TC 3, S 1, TTL 8.
    obj = icmpext.build_mpls_object([(0xFFFFF, 7, True, 255), (1, 0, False, 0)])
    assert obj == bytes.fromhex("000c0101ffffffff00001000")
    parsed = icmpext.parse_extensions(icmpext.build_extensions([obj]), 0, 16)
    assert [(e.label, e.tc, e.s, e.ttl) for e in parsed.mpls] == [
        (0xFFFFF, 7, True, 255),
        (1, 0, False, 0),
    ]


@given(entries=mpls_stacks)
@SETTINGS
def test_non_compliant_extension_at_byte_128_is_found(entries):
    # RFC 4884 §5: senders from before it put the structure at byte 128 with no length.
    ref = (
        IP(src=ROUTER, dst=HOST)
        / ICMP(type=11, length=0)
        / Raw(_quote(UDPerror(sport=1, dport=2)) + _ext(entries))
    )
    i = decode(raw(ref), 101).icmp
    assert i.length == 0
    assert (
        i.extensions is not None
        and [(e.label, e.tc, e.s, e.ttl) for e in i.extensions.mpls] == entries
    )
    assert i.quoted_span == (28, 28 + 128)


def test_quote_longer_than_128_without_a_structure_is_all_quote():
    ref = IP(src=ROUTER, dst=HOST) / ICMP(type=11) / Raw(_quote(UDPerror(), 200))
    i = decode(raw(ref), 101).icmp
    assert i.extensions is None and i.ext_error is None and i.quoted_span == (28, 228)


def test_extension_with_a_bad_checksum_behind_a_length_is_kept_and_judged_bad():
    ext = bytearray(_ext([(100, 0, True, 1)]))
    ext[3] ^= 0xFF
    ref = IP(src=ROUTER, dst=HOST) / ICMP(type=11, length=32) / Raw(_quote(UDPerror()) + bytes(ext))
    i = decode(raw(ref), 101).icmp
    assert i.extensions.checksum_ok is False and i.extensions.mpls[0].label == 100
    # without a length the RFC 4884 §5 heuristic requires a valid checksum
    ref0 = IP(src=ROUTER, dst=HOST) / ICMP(type=11, length=0) / Raw(_quote(UDPerror()) + bytes(ext))
    assert decode(raw(ref0), 101).icmp.extensions is None


def test_extension_checksum_zero_means_not_computed():
    ext = bytearray(_ext([(100, 0, True, 1)]))
    ext[2:4] = b"\0\0"  # RFC 4884 §7
    ref = IP() / ICMP(type=11, length=32) / Raw(_quote(UDPerror()) + bytes(ext))
    assert decode(raw(ref), 101).icmp.extensions.checksum_ok is True


def test_extension_of_the_wrong_version_is_an_extension_error():
    ext = bytearray(_ext([(100, 0, True, 1)]))
    ext[0] = 0x10
    ref = IP() / ICMP(type=3, code=3, length=32) / Raw(_quote(UDPerror()) + bytes(ext))
    p = decode(raw(ref), 101)
    assert p.error is None and p.icmp.extensions is None
    assert p.icmp.ext_error == "icmp.ext: extension version 1, not 2 (at byte 156)"
    assert p.icmp.fields()["ext_error"] == p.icmp.ext_error


def test_interface_information_object_is_kept_raw():
    # RFC 5837 objects are not decoded; their bytes are kept, as scapy encodes them.
    obj = ICMPExtension_InterfaceInformation(has_ifindex=1, ifindex=7, has_mtu=1, mtu=1500)
    ext = raw(ICMPExtension_Header() / obj)
    i = decode(raw(IP() / ICMP(type=11, length=32) / Raw(_quote(UDPerror()) + ext)), 101).icmp
    [o] = i.extensions.objects
    assert (o.class_num, o.payload, o.mpls) == (2, raw(obj)[4:], ())


@given(entries=mpls_stacks, kind=st.sampled_from(["unreach", "timex"]))
@SETTINGS
def test_icmpv6_rfc4884_length_is_in_64_bit_words(entries, kind):
    inner = raw(IPv6(src="2001:db8::1", dst="2001:db8::9") / UDP(sport=5, dport=6))
    quote = inner + bytes(128 - len(inner))
    msg = ICMPv6DestUnreach(length=16) if kind == "unreach" else ICMPv6TimeExceeded(length=16)
    ref = IPv6(src="2001:db8::fe", dst="2001:db8::1") / msg / Raw(quote + _ext(entries))
    i = decode(raw(ref), 101).icmpv6
    assert i.length == 16 and i.checksum_ok is True
    assert [(e.label, e.tc, e.s, e.ttl) for e in i.extensions.mpls] == entries
    assert (i.quoted.udp.sport, i.quoted.udp.dport) == (5, 6)
