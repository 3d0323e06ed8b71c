"""Tunnels decoded through to the inner packet: GRE, VXLAN, Geneve, MPLS (and IP in
IP inside them), checked against scapy, which crafts the reference bytes.

- decode: the layer chain and every field equal what scapy put there;
- build: netdiag's builders give scapy's bytes for the same fields;
- a cut at every offset never raises, keeps the layers that ended before the cut
  and names the layer it stopped in;
- nesting is bounded (GRE in GRE, label stacks without a bottom), and a
  hypothesis property test: ``decode(build(h)) == h`` and arbitrary bytes inside a
  tunnel never raise out of ``decode``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.contrib.mpls import MPLS as ScapyMPLS
from scapy.layers.inet import GRE as ScapyGRE
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN as ScapyVXLAN

from netdiag import DecodeError, MalformedError, decode
from netdiag.packets import erspan, geneve, gre, mpls, vxlan
from netdiag.packets.erspan import ERSPAN
from netdiag.packets.geneve import Geneve
from netdiag.packets.gre import GRE
from netdiag.packets.mpls import MPLS
from netdiag.packets.vxlan import VXLAN

from .reference import raw, u8, u16, u32

E = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
O4 = IP(src="198.18.0.1", dst="198.18.0.2")
O6 = IPv6(src="2001:db8:1::1", dst="2001:db8:1::2")
INNER4 = IP(src="192.168.1.1", dst="192.168.1.2") / ICMP(id=1, seq=2) / (b"x" * 20)
INNER6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1000, dport=2000) / (b"y" * 10)
INNER_TCP = IP(src="192.168.1.1", dst="192.168.1.2") / TCP(sport=1234, dport=80, flags="S", seq=100)
IETH = Ether(src="02:00:00:00:00:03", dst="02:00:00:00:00:04")

# name -> (scapy packet, expected layer names)
CASES: dict[str, tuple[Any, list[str]]] = {
    "gre-plain": (E / O4 / ScapyGRE() / INNER4, ["ethernet", "ipv4", "gre", "ipv4", "icmp"]),
    "gre-key": (
        E / O4 / ScapyGRE(key_present=1, key=1) / INNER4,
        ["ethernet", "ipv4", "gre", "ipv4", "icmp"],
    ),
    "gre-key-seq-tcp": (
        E
        / O4
        / ScapyGRE(key_present=1, key=0x1234, seqnum_present=1, sequence_number=7)
        / INNER_TCP,
        ["ethernet", "ipv4", "gre", "ipv4", "tcp"],
    ),
    "gre-checksum": (
        E / O4 / ScapyGRE(chksum_present=1) / INNER4,
        ["ethernet", "ipv4", "gre", "ipv4", "icmp"],
    ),
    "gre-all-ipv6-inner": (
        E
        / O4
        / ScapyGRE(chksum_present=1, key_present=1, key=5, seqnum_present=1, sequence_number=9)
        / INNER6,
        ["ethernet", "ipv4", "gre", "ipv6", "udp"],
    ),
    "gre-over-ipv6": (E / O6 / ScapyGRE() / INNER4, ["ethernet", "ipv6", "gre", "ipv4", "icmp"]),
    "gre-teb": (
        E / O4 / ScapyGRE(proto=0x6558) / IETH / INNER4,
        ["ethernet", "ipv4", "gre", "ethernet", "ipv4", "icmp"],
    ),
    "gre-mpls": (
        E / O4 / ScapyGRE(proto=0x8847) / ScapyMPLS(label=99, s=1, ttl=3) / INNER4,
        ["ethernet", "ipv4", "gre", "mpls", "ipv4", "icmp"],
    ),
    "vxlan": (
        E / O4 / UDP(sport=5555, dport=4789) / ScapyVXLAN(vni=100) / IETH / INNER4,
        ["ethernet", "ipv4", "udp", "vxlan", "ethernet", "ipv4", "icmp"],
    ),
    "vxlan-ipv6-inner-udp": (
        E / O6 / UDP(sport=4789, dport=5555) / ScapyVXLAN(vni=0xABCDEF) / IETH / INNER6,
        ["ethernet", "ipv6", "udp", "vxlan", "ethernet", "ipv6", "udp"],
    ),
    "geneve-teb": (
        E / O4 / UDP(sport=5555, dport=6081) / GENEVE(vni=0xA, proto=0x6558) / IETH / INNER_TCP,
        ["ethernet", "ipv4", "udp", "geneve", "ethernet", "ipv4", "tcp"],
    ),
    "geneve-options": (
        E
        / O4
        / UDP(sport=5555, dport=6081)
        / GENEVE(
            vni=0xB,
            proto=0x0800,
            critical=1,
            options=[
                GeneveOptions(classid=0x102, type=0x80, data=b"abcd"),
                GeneveOptions(classid=0xFFFF, type=1, data=b""),
            ],
        )
        / INNER4,
        ["ethernet", "ipv4", "udp", "geneve", "ipv4", "icmp"],
    ),
    "mpls-two-labels": (
        E / ScapyMPLS(label=100, cos=1, s=0, ttl=64) / ScapyMPLS(label=200, s=1, ttl=63) / INNER4,
        ["ethernet", "mpls", "ipv4", "icmp"],
    ),
    "mpls-ipv6": (
        E / ScapyMPLS(label=16, s=1, ttl=5) / INNER6,
        ["ethernet", "mpls", "ipv6", "udp"],
    ),
    "erspan-i": (
        E / O4 / ScapyGRE(proto=0x88BE) / IETH / INNER4,
        ["ethernet", "ipv4", "gre", "erspan", "ethernet", "ipv4", "icmp"],
    ),
    "erspan-ii": (
        E
        / O4
        / ScapyGRE(proto=0x88BE, seqnum_present=1, sequence_number=5)
        / ERSPAN_II(vlan=100, cos=5, en=2, session_id=101, index=0xABCDE)
        / IETH
        / INNER4,
        ["ethernet", "ipv4", "gre", "erspan", "ethernet", "ipv4", "icmp"],
    ),
    "erspan-iii": (
        E
        / O4
        / ScapyGRE(proto=0x22EB, seqnum_present=1, sequence_number=6)
        / ERSPAN_III(vlan=20, session_id=3, timestamp=123456, sgt_other=7, hw=9, d=1, gra=2)
        / IETH
        / INNER6,
        ["ethernet", "ipv4", "gre", "erspan", "ethernet", "ipv6", "udp"],
    ),
    "vxlan-in-gre": (
        E
        / O4
        / ScapyGRE()
        / IP(src="10.9.9.1", dst="10.9.9.2")
        / UDP(sport=1, dport=4789)
        / ScapyVXLAN(vni=7)
        / IETH
        / INNER4,
        ["ethernet", "ipv4", "gre", "ipv4", "udp", "vxlan", "ethernet", "ipv4", "icmp"],
    ),
}


def _scapy_layer(pkt: Any, cls: type, index: int = 0) -> Any:
    found = [x for x in _walk(pkt) if isinstance(x, cls)]
    return found[index]


def _walk(pkt: Any) -> list[Any]:
    out = []
    while pkt is not None and pkt.name != "NoPayload":
        out.append(pkt)
        pkt = pkt.payload if pkt.payload else None
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_decode_goes_through_to_the_inner_packet(name: str) -> None:
    pkt, names = CASES[name]
    data = raw(pkt)
    p = decode(data)
    assert p.error is None
    assert [x.name for x in p.layers] == names
    spk = Ether(data)
    # "the" network layer is the outermost IP; the transport is the innermost one.
    first_ip = next((x for x in _walk(spk) if isinstance(x, IP | IPv6)), None)
    if first_ip is not None:
        assert p.ip is not None and p.ip.src == first_ip.src
    last = p.layers[-1]
    assert p.transport is last
    inner_ips = [x for x in _walk(spk) if isinstance(x, IP | IPv6)]
    assert last._ip.src == inner_ips[-1].src and last._ip.dst == inner_ips[-1].dst
    if "udp" not in names[-1:] and names.count("udp") == 1 and "vxlan" in names:
        assert p.udp is None  # the outer UDP is in the chain only


@pytest.mark.parametrize("name", [n for n in sorted(CASES) if n.startswith("gre")])
def test_gre_fields_equal_scapys(name: str) -> None:
    data = raw(CASES[name][0])
    g = next(x for x in decode(data).layers if x.name == "gre")
    s = _scapy_layer(Ether(data), ScapyGRE)
    assert g.protocol == s.proto
    assert g.key == (s.key if s.key_present else None)
    assert g.seq == (s.sequence_number if s.seqnum_present else None)
    assert g.checksum == (s.chksum if s.chksum_present else None)
    assert g.checksum_ok is (True if s.chksum_present else None)
    assert g.version == s.version == 0


@pytest.mark.parametrize("name", ["vxlan", "vxlan-ipv6-inner-udp", "vxlan-in-gre"])
def test_vxlan_fields_equal_scapys(name: str) -> None:
    data = raw(CASES[name][0])
    v = next(x for x in decode(data).layers if x.name == "vxlan")
    s = _scapy_layer(Ether(data), ScapyVXLAN)
    assert (v.vni, v.flags) == (s.vni, int(s.flags))


@pytest.mark.parametrize("name", ["geneve-teb", "geneve-options"])
def test_geneve_fields_equal_scapys(name: str) -> None:
    data = raw(CASES[name][0])
    g = next(x for x in decode(data).layers if x.name == "geneve")
    s = _scapy_layer(Ether(data), GENEVE)
    assert (g.vni, g.protocol, g.options_len) == (s.vni, s.proto, s.optionlen * 4)
    assert g.critical == bool(s.critical) and g.oam == bool(s.oam)
    assert [(o.cls, o.type, o.data) for o in g.options] == [
        (o.classid, o.type, bytes(o.data)) for o in s.options
    ]


@pytest.mark.parametrize("name", ["mpls-two-labels", "mpls-ipv6", "gre-mpls"])
def test_mpls_labels_equal_scapys(name: str) -> None:
    data = raw(CASES[name][0])
    m = next(x for x in decode(data).layers if x.name == "mpls")
    ours = [(e.label, e.tc, e.bottom, e.ttl) for e in m.labels]
    theirs = [
        (x.label, x.cos, bool(x.s), x.ttl) for x in _walk(Ether(data)) if isinstance(x, ScapyMPLS)
    ]
    assert ours == theirs


@pytest.mark.parametrize("name", ["erspan-ii", "erspan-iii"])
def test_erspan_fields_equal_scapys(name: str) -> None:
    data = raw(CASES[name][0])
    e = next(x for x in decode(data).layers if x.name == "erspan")
    spk = Ether(data)
    s = spk[ERSPAN_II] if spk.haslayer(ERSPAN_II) else spk[ERSPAN_III]
    assert (e.type - 1, e.vlan, e.cos, e.session) == (s.ver, s.vlan, s.cos, s.session_id)
    if e.type == 2:
        assert (e.encap, e.index) == (s.en, s.index)
    else:
        ours = (e.timestamp, e.sgt, e.hw_id, e.direction, e.granularity)
        assert ours == (s.timestamp, s.sgt_other, s.hw, bool(s.d), s.gra)


# -- build --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: gre.build(0x0800, b"p"), lambda: ScapyGRE(proto=0x0800) / b"p"),
        (
            lambda: gre.build(0x86DD, b"p", key=9),
            lambda: ScapyGRE(proto=0x86DD, key_present=1, key=9) / b"p",
        ),
        (
            lambda: gre.build(0x0800, b"pay", key=1, seq=2, checksum=True),
            lambda: (
                ScapyGRE(
                    proto=0x0800,
                    chksum_present=1,
                    key_present=1,
                    key=1,
                    seqnum_present=1,
                    sequence_number=2,
                )
                / b"pay"
            ),
        ),
        (lambda: vxlan.build(42, b"frame"), lambda: ScapyVXLAN(vni=42, flags=0x08) / b"frame"),
        (
            lambda: geneve.build(
                5, 0x6558, b"f", options=geneve.build_option(0x102, 0x80, b"abcd")
            ),
            lambda: (
                GENEVE(
                    vni=5,
                    proto=0x6558,
                    options=[GeneveOptions(classid=0x102, type=0x80, data=b"abcd")],
                )
                / b"f"
            ),
        ),
        (
            lambda: mpls.build([(100, 1, 64), (200, 0, 63)], b"\x45"),
            lambda: (
                ScapyMPLS(label=100, cos=1, s=0, ttl=64)
                / ScapyMPLS(label=200, s=1, ttl=63)
                / b"\x45"
            ),
        ),
        (
            lambda: erspan.build_ii(101, b"f", vlan=100, cos=5, encap=2, index=7),
            lambda: ERSPAN_II(vlan=100, cos=5, en=2, session_id=101, index=7) / b"f",
        ),
        (
            lambda: erspan.build_iii(
                3, b"f", vlan=20, timestamp=99, sgt=7, hw_id=9, direction=True
            ),
            lambda: ERSPAN_III(vlan=20, session_id=3, timestamp=99, sgt_other=7, hw=9, d=1) / b"f",
        ),
    ],
    ids=[
        "gre",
        "gre-key",
        "gre-csum-key-seq",
        "vxlan",
        "geneve",
        "mpls",
        "erspan-ii",
        "erspan-iii",
    ],
)
def test_builders_give_scapys_bytes(ours: Any, theirs: Any) -> None:
    assert ours() == raw(theirs())


# -- truncation and bounds ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_cut_at_every_offset_stops_cleanly_in_the_right_layer(name: str) -> None:
    pkt, names = CASES[name]
    data = raw(pkt)
    whole = decode(data).layers
    for cut in range(len(data)):
        p = decode(data[:cut])  # never raises
        got = p.layers
        # Every layer kept is the whole packet's layer at that place.
        assert [x.name for x in got] == names[: len(got)]
        # The first header the cut goes through is where decoding stopped, and why.
        first_cut = next((k for k, x in enumerate(whole) if _layer_end(x) > cut), None)
        if first_cut is None:
            assert p.error is None or p.error.layer == "mpls"  # a stack with nothing after it
            continue
        assert isinstance(p.error, DecodeError), cut
        before = whole[first_cut - 1] if first_cut else None
        # A label stack cut right after its bottom entry: the stack says a packet follows.
        stack_end = before is not None and before.name == "mpls" and cut == _layer_end(before)
        expected = "mpls" if stack_end else whole[first_cut].name
        assert p.error.layer == expected, (cut, str(p.error))
        assert p.error.offset <= cut
        assert len(got) == first_cut


def _layer_end(x: Any) -> int:
    return int(x.offset + x.header_len)


def test_gre_in_gre_is_bounded() -> None:
    pkt: Any = INNER4
    for _ in range(100):
        pkt = IP(src="10.0.0.1", dst="10.0.0.2") / ScapyGRE() / pkt
    p = decode(raw(E / pkt))
    assert isinstance(p.error, MalformedError)
    assert "nested layers" in p.error.reason
    assert len(p.layers) <= 40


def test_a_label_stack_without_a_bottom_is_bounded() -> None:
    data = raw(
        E / (ScapyMPLS(label=1, s=0, ttl=1) / ScapyMPLS(label=1, s=0, ttl=1)) / (b"\0" * 200)
    )
    # 200 more bytes of zero labels (s=0 everywhere): at most MAX_LABELS are read.
    p = decode(data)
    assert isinstance(p.error, MalformedError) and p.error.layer == "mpls"
    assert f"more than {mpls.MAX_LABELS} labels" in p.error.reason


def test_gre_lengths_beyond_the_datagram_are_reported() -> None:
    data = raw(E / O4 / ScapyGRE(key_present=1, seqnum_present=1))[: 14 + 20 + 6]
    p = decode(data)
    assert p.error is not None and p.error.layer == "gre"


def test_geneve_option_length_past_the_options_is_malformed() -> None:
    body = bytes([1, 0, 0x65, 0x58, 0, 0, 5, 0]) + bytes([0x01, 0x02, 0x80, 0x1F])
    with pytest.raises(MalformedError, match="option length"):
        Geneve.decode(body, 0, len(body))


# -- properties ---------------------------------------------------------------------------


@given(
    proto=u16,
    key=st.none() | u32,
    seq=st.none() | u32,
    csum=st.booleans(),
    payload=st.binary(max_size=40),
)
def test_gre_decode_of_build_is_what_was_built(
    proto: int, key: int | None, seq: int | None, csum: bool, payload: bytes
) -> None:
    b = gre.build(proto, payload, key=key, seq=seq, checksum=csum)
    g = GRE.decode(b, 0, len(b))
    assert (g.protocol, g.key, g.seq) == (proto, key, seq)
    assert g.checksum_ok is (True if csum else None)
    assert b[g.payload_offset :] == payload


@given(vni=st.integers(0, 0xFFFFFF), flags=u8)
def test_vxlan_decode_of_build_is_what_was_built(vni: int, flags: int) -> None:
    b = vxlan.build(vni, b"", flags)
    v = VXLAN.decode(b, 0, len(b))
    assert (v.vni, v.flags) == (vni, flags)


@given(
    vni=st.integers(0, 0xFFFFFF),
    proto=u16,
    opts=st.lists(
        st.tuples(u16, u8, st.binary(max_size=12).map(lambda b: b[: len(b) // 4 * 4])), max_size=4
    ),
)
def test_geneve_decode_of_build_is_what_was_built(vni: int, proto: int, opts: list[Any]) -> None:
    b = geneve.build(vni, proto, options=b"".join(geneve.build_option(c, t, d) for c, t, d in opts))
    g = Geneve.decode(b, 0, len(b))
    assert (g.vni, g.protocol) == (vni, proto)
    assert [(o.cls, o.type, o.data) for o in g.options] == opts


@given(st.lists(st.tuples(st.integers(0, 0xFFFFF), st.integers(0, 7), u8), min_size=1, max_size=16))
def test_mpls_decode_of_build_is_what_was_built(labels: list[tuple[int, int, int]]) -> None:
    b = mpls.build(labels)
    m = MPLS.decode(b, 0, len(b))
    assert [(e.label, e.tc, e.ttl) for e in m.labels] == labels
    assert [e.bottom for e in m.labels] == [False] * (len(labels) - 1) + [True]


@given(session=st.integers(0, 1023), vlan=st.integers(0, 4095), index=st.integers(0, 0xFFFFF))
def test_erspan_decode_of_build_is_what_was_built(session: int, vlan: int, index: int) -> None:
    b = erspan.build_ii(session, vlan=vlan, index=index)
    e = ERSPAN.decode(b, 0, len(b), erspan.PROTO_I_II, True)
    assert (e.type, e.session, e.vlan, e.index) == (2, session, vlan, index)
    b = erspan.build_iii(session, vlan=vlan, timestamp=index)
    e = ERSPAN.decode(b, 0, len(b), erspan.PROTO_III, True)
    assert (e.type, e.session, e.vlan, e.timestamp, e.frame_type) == (3, session, vlan, index, 0)


@given(
    kind=st.sampled_from(["gre", "vxlan", "geneve", "mpls", "erspan"]), junk=st.binary(max_size=120)
)
def test_arbitrary_bytes_inside_a_tunnel_never_raise(kind: str, junk: bytes) -> None:
    head = {
        "gre": raw(E / O4 / ScapyGRE(proto=0x0800)),
        "vxlan": raw(E / O4 / UDP(sport=1, dport=4789)),
        "geneve": raw(E / O4 / UDP(sport=1, dport=6081)),
        "mpls": raw(Ether(type=0x8847)),
        "erspan": raw(E / O4 / ScapyGRE(proto=0x22EB, seqnum_present=1)),
    }[kind]
    p = decode(head + junk)
    assert len(p.layers) <= 40
    p.layer_fields()  # every decoded layer renders its fields


@pytest.mark.parametrize("name", ["vxlan", "gre-plain"])
def test_a_first_fragment_stops_at_the_tunnel_without_a_false_error(name: str) -> None:
    from scapy.layers.inet import fragment

    pkt = CASES[name][0]
    first, *rest = fragment(pkt[IP] / (b"z" * 100), 48)
    p = decode(raw(E / first))
    assert p.error is None
    assert [x.name for x in p.layers] == [
        "ethernet",
        "ipv4",
        name.split("-")[0] if name != "vxlan" else "udp",
    ]
    assert all(decode(raw(E / f)).error is None for f in rest)
