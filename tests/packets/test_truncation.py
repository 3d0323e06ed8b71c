"""Cut every reference packet at every offset: the exact error, the outer layers kept.

The aioquic habit: reference packets (scapy-built) are cut short on purpose, and
each cut must give one precise ``TruncatedError`` (layer, offset, needed, got and
the message text), keep every layer that ended before the cut with the fields it
had in the whole packet, and raise nothing. Then impossible field values, each
with its own ``MalformedError``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from scapy.contrib.mpls import MPLS, ICMPExtension_MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP, ICMPExtension_Header, IPerror, UDPerror
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    ICMPv6ND_NS,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    PadN,
)
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1Q, Ether, Loopback
from scapy.packet import Raw

from netdiag import DecodeError, MalformedError, TruncatedError, decode

from .reference import raw

# Fields that depend on how much of the packet follows the header, not on the header.
VOLATILE = {
    "checksum_ok",
    "truncated",
    "quoted",
    "quoted_error",
    "extensions",
    "ext_error",
    "options_error",
    "ext",
}


@dataclass(frozen=True)
class Stage:
    """One length check a decoder makes: ``layer`` needs ``needed`` bytes at ``offset``.
    ``keeps`` names the layer kept once the check passes (the last check of a header)."""

    layer: str
    offset: int
    needed: int
    keeps: str | None = None


@dataclass(frozen=True)
class Reference:
    name: str
    linktype: int
    data: bytes
    stages: tuple[Stage, ...]


def _quote() -> bytes:
    inner = raw(
        IPerror(src="192.0.2.1", dst="198.51.100.7", ttl=1, id=0x77)
        / UDPerror(sport=40000, dport=33434)
        / b"probe"
    )
    return inner + bytes(128 - len(inner))  # RFC 4884 §4.1: padded to 128 bytes


EXT = raw(
    ICMPExtension_Header()
    / ICMPExtension_MPLS(
        stack=[MPLS(label=16001, cos=0, s=0, ttl=1), MPLS(label=24002, cos=5, s=1, ttl=1)]
    )
)

REFERENCES = [
    Reference(
        "ethernet-ipv4-options-tcp-options",
        1,
        raw(
            Ether()
            / IP(src="192.0.2.1", dst="192.0.2.2", options=b"\x94\x04\x00\x00")
            / TCP(
                sport=1234,
                dport=80,
                flags="S",
                options=[
                    ("MSS", 1460),
                    ("SAckOK", b""),
                    ("Timestamp", (1, 0)),
                    ("NOP", None),
                    ("WScale", 7),
                ],
            )
            / b"hello"
        ),
        (
            Stage("ethernet", 0, 14, "ethernet"),
            Stage("ipv4", 14, 20),
            Stage("ipv4", 14, 24, "ipv4"),
            Stage("tcp", 38, 20),
            Stage("tcp", 38, 40, "tcp"),
        ),
    ),
    Reference(
        "vlan-ipv4-udp",
        1,
        raw(
            Ether()
            / Dot1Q(vlan=42, prio=5)
            / IP(src="10.0.0.1", dst="10.0.0.2")
            / UDP(sport=53, dport=5353)
            / b"answer"
        ),
        (
            Stage("ethernet", 0, 14, "ethernet"),
            Stage("vlan", 14, 4, "vlan"),
            Stage("ipv4", 18, 20, "ipv4"),
            Stage("udp", 38, 8, "udp"),
        ),
    ),
    Reference(
        "ipv6-extension-headers-icmpv6",
        1,
        raw(
            Ether()
            / IPv6(src="2001:db8::1", dst="2001:db8::2")
            / IPv6ExtHdrHopByHop()
            / IPv6ExtHdrDestOpt(options=[PadN(optdata=bytes(10))])
            / IPv6ExtHdrFragment(id=5)
            / ICMPv6EchoRequest(id=1, seq=2, data=b"ping")
        ),
        (
            Stage("ethernet", 0, 14, "ethernet"),
            Stage("ipv6", 14, 40, "ipv6"),
            Stage("ipv6.hop-by-hop", 54, 8),
            Stage("ipv6.dstopts", 62, 8),
            Stage("ipv6.dstopts", 62, 16),
            Stage("ipv6.fragment", 78, 8),
            Stage("icmpv6", 86, 8, "icmpv6"),
        ),
    ),
    Reference(
        "icmp-time-exceeded-with-mpls-extension",
        1,
        raw(
            Ether()
            / IP(src="203.0.113.1", dst="192.0.2.1")
            / ICMP(type=11, code=0, length=32)
            / Raw(_quote() + EXT)
        ),
        (
            Stage("ethernet", 0, 14, "ethernet"),
            Stage("ipv4", 14, 20, "ipv4"),
            Stage("icmp", 34, 8, "icmp"),
        ),
    ),
    Reference(
        "arp-reply",
        1,
        raw(
            Ether()
            / ARP(
                op=2,
                hwsrc="02:00:00:00:00:01",
                psrc="192.0.2.1",
                hwdst="02:00:00:00:00:02",
                pdst="192.0.2.2",
            )
        ),
        (Stage("ethernet", 0, 14, "ethernet"), Stage("arp", 14, 8), Stage("arp", 14, 28, "arp")),
    ),
    Reference(
        "sll2-ipv4-tcp",
        276,
        raw(
            CookedLinuxV2(proto=0x0800, ifindex=2)
            / IP(src="10.0.0.1", dst="10.0.0.2")
            / TCP(sport=5, dport=6)
            / b"data"
        ),
        (Stage("sll2", 0, 20, "sll2"), Stage("ipv4", 20, 20, "ipv4"), Stage("tcp", 40, 20, "tcp")),
    ),
    Reference(
        "sll-ipv6-udp",
        113,
        raw(CookedLinux(proto=0x86DD) / IPv6() / UDP(sport=1, dport=2) / b"x"),
        (Stage("sll", 0, 16, "sll"), Stage("ipv6", 16, 40, "ipv6"), Stage("udp", 56, 8, "udp")),
    ),
    Reference(
        "null-ipv4-icmp-echo",
        0,
        raw(Loopback(type=2) / IP() / ICMP(id=1, seq=1) / b"abc"),
        (
            Stage("loopback", 0, 4, "loopback"),
            Stage("ipv4", 4, 20, "ipv4"),
            Stage("icmp", 24, 8, "icmp"),
        ),
    ),
    Reference(
        "raw-ipv4-udp",
        101,
        raw(IP() / UDP() / b"abc"),
        (Stage("ip", 0, 1), Stage("ipv4", 0, 20, "ipv4"), Stage("udp", 20, 8, "udp")),
    ),
]


def expected_error(stages: tuple[Stage, ...], cut: int) -> Stage | None:
    for s in stages:
        if s.offset + s.needed > cut:
            return s
    return None


def _stable(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if k not in VOLATILE}


@pytest.mark.parametrize("ref", REFERENCES, ids=[r.name for r in REFERENCES])
def test_every_cut_gives_the_exact_error_and_keeps_the_outer_layers(ref):
    whole = decode(ref.data, ref.linktype)
    assert whole.error is None
    whole_fields = {d["layer"]: d for d in whole.layer_fields()}
    for cut in range(len(ref.data)):
        p = decode(ref.data[:cut], ref.linktype)
        stage = expected_error(ref.stages, cut)
        if stage is None:
            assert p.error is None, (cut, p.error)
        else:
            e = p.error
            assert isinstance(e, TruncatedError), (cut, e)
            got = cut - stage.offset
            assert (e.layer, e.offset, e.needed, e.got) == (
                stage.layer,
                stage.offset,
                stage.needed,
                got,
            ), cut
            assert str(e) == (
                f"{stage.layer}: truncated: needed {stage.needed} bytes, "
                f"got {got} (at byte {stage.offset})"
            )
        kept = [s.keeps for s in ref.stages if s.keeps and s.offset + s.needed <= cut]
        assert [x.name for x in p.layers] == kept, cut
        for d in p.layer_fields():  # what was decoded reads as in the whole packet
            full = whole_fields[d["layer"]]
            if d["layer"] == "ipv6" and "ext" not in d:  # chain cut: protocol not reached
                d, full = dict(d), dict(full)
                d.pop("proto"), full.pop("proto")
            assert _stable(d) == _stable(full), (cut, d["layer"])


def test_cut_quote_and_extension_of_an_icmp_error_are_reported_inside_it():
    ref = next(r for r in REFERENCES if r.name.startswith("icmp-time-exceeded"))
    data = ref.data
    quote_at = 14 + 20 + 8
    ext_at = quote_at + 128
    whole = decode(data, 1)
    assert whole.icmp.extensions.checksum_ok
    assert [(m.label, m.tc, m.s, m.ttl) for m in whole.icmp.extensions.mpls] == [
        (16001, 0, False, 1),
        (24002, 5, True, 1),
    ]
    for cut in range(quote_at, len(data)):
        icmp = decode(data[:cut], 1).icmp
        assert icmp.checksum_ok is None  # the message is not whole
        q = icmp.quoted
        n = min(cut, ext_at) - quote_at
        if n == 0:
            assert str(q.error) == "ip: truncated: needed 1 bytes, got 0 (at byte 0)"
        elif n < 20:
            assert str(q.error) == f"ipv4: truncated: needed 20 bytes, got {n} (at byte 0)"
        elif n < 28:
            assert str(q.error) == f"udp: truncated: needed 8 bytes, got {n - 20} (at byte 20)"
        else:
            assert q.error is None and (q.udp.sport, q.udp.dport) == (40000, 33434)
            assert q.ip.src == "192.0.2.1"
        rest = cut - ext_at
        if rest <= 0:  # no byte of extension captured
            assert icmp.extensions is None and icmp.ext_error is None
        elif rest < 4:
            assert icmp.ext_error == (
                f"icmp.ext: truncated: needed 4 bytes, got {rest} (at byte {ext_at})"
            )
        elif rest == 4:  # the header alone: no objects, and its checksum no longer adds up
            assert icmp.extensions.objects == () and icmp.extensions.checksum_ok is False
        elif rest < 8:
            assert icmp.ext_error == (
                f"icmp.ext: truncated: needed 4 bytes, got {rest - 4} (at byte {ext_at + 4})"
            )
        else:
            assert icmp.ext_error == (
                f"icmp.ext: object length 12 does not fit in {rest - 4} (at byte {ext_at + 4})"
            )


# ---------------------------------------------------------------- impossible fields
def _ipv4_header(**over) -> bytes:
    return raw(IP(src="192.0.2.1", dst="192.0.2.2", **over) / UDP() / b"payload")


@pytest.mark.parametrize(
    ("data", "linktype", "layer", "offset", "message"),
    [
        pytest.param(
            raw(Ether(type=0x0800) / _ipv4_header(ihl=4)),
            1,
            "ipv4",
            14,
            "header length 16 < 20 (ihl 4)",
            id="ipv4-ihl-below-5",
        ),
        pytest.param(
            raw(Ether(type=0x0800) / _ipv4_header(ihl=0)),
            1,
            "ipv4",
            14,
            "header length 0 < 20 (ihl 0)",
            id="ipv4-ihl-0",
        ),
        pytest.param(
            raw(Ether(type=0x0800) / _ipv4_header(len=19)),
            1,
            "ipv4",
            14,
            "total length 19 < header length 20",
            id="ipv4-total-below-header",
        ),
        pytest.param(
            raw(Ether(type=0x0800) / IPv6()),
            1,
            "ipv4",
            14,
            "version 6, not 4",
            id="ipv4-ethertype-carrying-ipv6",
        ),
        pytest.param(
            raw(Ether(type=0x86DD) / _ipv4_header() / bytes(20)),
            1,
            "ipv6",
            14,
            "version 4, not 6",
            id="ipv6-ethertype-carrying-ipv4",
        ),
        pytest.param(
            bytes([0x50]) + bytes(39), 101, "ip", 0, "IP version 5", id="raw-ip-version-5"
        ),
        pytest.param(raw(IPv6()), 228, "ipv4", 0, "version 6, not 4", id="linktype-ipv4-v6"),
        pytest.param(
            raw(IP(proto=6) / TCP(dataofs=4)),
            101,
            "tcp",
            20,
            "data offset 16 < 20",
            id="tcp-data-offset-4",
        ),
        pytest.param(raw(IP() / UDP(len=7)), 101, "udp", 20, "length 7 < 8", id="udp-length-7"),
        pytest.param(
            raw(IP() / UDP(len=0)), 101, "udp", 20, "length 0 < 8", id="udp-length-0-over-ipv4"
        ),
        pytest.param(
            raw(
                Ether(type=0x8100)
                / b"".join(raw(Dot1Q(vlan=i, type=0x8100)) for i in range(9))
                / b"\x08\x00"
            ),
            1,
            "vlan",
            14 + 8 * 4,
            "more than 8 VLAN tags",
            id="nine-vlan-tags",
        ),
        pytest.param(
            b"\0" * 40, 999, "link", 0, "unsupported link type 999", id="unsupported-link-type"
        ),
    ],
)
def test_impossible_fields_are_malformed_not_truncated(data, linktype, layer, offset, message):
    p = decode(data, linktype)
    e = p.error
    assert isinstance(e, DecodeError) and not isinstance(e, TruncatedError)
    if layer != "link":
        assert isinstance(e, MalformedError)
    assert (e.layer, e.offset, e.reason) == (layer, offset, message)
    assert str(e) == f"{layer}: {message} (at byte {offset})"
    p.layer_fields()


def test_eight_vlan_tags_are_fine_and_kept():
    tags = b"".join(raw(Dot1Q(vlan=i, type=0x8100 if i < 7 else 0x0800)) for i in range(8))
    p = decode(raw(Ether(type=0x8100)) + tags + raw(IP() / UDP()), 1)
    assert p.error is None and [v.vid for v in p.vlans] == list(range(8))


def test_nine_vlan_tags_keep_the_eight_before_the_error():
    data = raw(Ether(type=0x8100)) + b"".join(raw(Dot1Q(vlan=i, type=0x8100)) for i in range(9))
    p = decode(data + raw(IP()), 1)
    assert [v.vid for v in p.vlans] == list(range(8)) and p.eth is not None


def test_udp_length_zero_over_ipv6_is_a_jumbogram_not_an_error():
    p = decode(raw(IPv6() / UDP(len=0) / b"abc"), 101)  # RFC 2675 §4
    assert p.error is None and p.udp.length == 0 and p.payload == b"abc"


@pytest.mark.parametrize(
    ("ext", "name", "plen", "needed"),
    [
        (IPv6ExtHdrRouting(addresses=["2001:db8::1", "2001:db8::2"]), "routing", 6, 8),
        (IPv6ExtHdrRouting(addresses=["2001:db8::1", "2001:db8::2"]), "routing", 8, 40),
        (IPv6ExtHdrHopByHop(options=[PadN(optdata=bytes(20))]), "hop-by-hop", 16, 24),
        (IPv6ExtHdrDestOpt(options=[PadN(optdata=bytes(4))]), "dstopts", 6, 8),
        (IPv6ExtHdrFragment(), "fragment", 7, 8),
    ],
)
def test_ipv6_extension_past_the_payload_length_keeps_the_ipv6_layer(ext, name, plen, needed):
    whole = raw(IPv6(src="2001:db8::a", dst="2001:db8::b") / ext / UDP())
    # The payload length claims fewer bytes than the extension header needs.
    data = whole[:4] + plen.to_bytes(2, "big") + whole[6:]
    p = decode(data, 229)
    assert isinstance(p.error, TruncatedError)
    assert (p.error.layer, p.error.offset, p.error.needed, p.error.got) == (
        f"ipv6.{name}",
        40,
        needed,
        plen,
    )
    assert [x.name for x in p.layers] == ["ipv6"]
    assert p.ip.src == "2001:db8::a" and p.ip.next_header == ext.overload_fields[IPv6]["nh"]
    assert p.ip.extensions == () and p.ip.protocol == p.ip.next_header


def test_ipv6_extension_cut_by_the_capture_names_the_header():
    data = raw(IPv6() / IPv6ExtHdrRouting(addresses=["2001:db8::1"]) / UDP())
    p = decode(data[: 40 + 12], 101)
    assert str(p.error) == "ipv6.routing: truncated: needed 24 bytes, got 12 (at byte 40)"
    assert p.ipv6 is not None and p.ipv6.proto == 43 and p.udp is None


def test_icmpv6_nd_option_length_zero_is_malformed():
    # RFC 4861 §4.6: "nodes MUST silently discard an ND packet that contains an option
    # with length zero". Options are parsed on demand: the error surfaces there.
    good = raw(
        IPv6(src="fe80::1", dst="ff02::1:ff00:2", hlim=255)
        / ICMPv6ND_NS(tgt="fe80::2")
        / b"\x01\x01\x02\x00\x00\x00\x00\x01"
    )
    bad = good[: 40 + 24 + 1] + b"\x00" + good[40 + 24 + 2 :]
    p = decode(bad, 101)
    assert p.error is None and p.icmpv6.target == "fe80::2"
    with pytest.raises(MalformedError) as info:
        _ = p.icmpv6.nd_options
    assert (info.value.layer, info.value.offset) == ("icmpv6.option", 40 + 24)
    assert str(info.value) == "icmpv6.option: option length 0 (RFC 4861 §4.6) (at byte 64)"
    [fields] = [d for d in p.layer_fields() if d["layer"] == "icmpv6"]
    assert fields["options_error"] == str(info.value)
    assert decode(good, 101).icmpv6.nd_options[0].value == "02:00:00:00:00:01"


def test_icmpv6_nd_option_longer_than_the_message_is_truncated():
    data = raw(
        IPv6(src="fe80::1", dst="ff02::1")
        / ICMPv6ND_NS(tgt="fe80::2")
        / b"\x01\x02\x02\x00\x00\x00\x00\x01"
    )
    with pytest.raises(TruncatedError) as info:
        _ = decode(data, 101).icmpv6.nd_options
    assert str(info.value) == "icmpv6.option: truncated: needed 16 bytes, got 8 (at byte 64)"
