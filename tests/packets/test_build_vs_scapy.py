"""netdiag's builders write what scapy reads: same fields, checksums scapy agrees with.

For each builder, hypothesis draws field values, netdiag builds the bytes, scapy
(the reference decoder) parses them; each checksum is compared with the value scapy
computes itself when the field is left empty.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.contrib.mpls import MPLS, ICMPExtension_MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP, ICMPExtension_Header
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1Q, Ether, Loopback
from scapy.utils import checksum as scapy_checksum

from netdiag.packets import arp, ethernet, icmp, icmpext, icmpv6, ipv4, ipv6, linklayer, tcp, udp

from .reference import (
    ipv4_addr,
    ipv6_addr,
    mac_addr,
    payloads,
    ports,
    raw,
    same_ip,
    scapy_recomputed,
    tcp_options,
    u8,
    u16,
    u32,
)

SETTINGS = settings(max_examples=50, deadline=None)


@SETTINGS
@given(
    src=ipv4_addr,
    dst=ipv4_addr,
    proto=u8,
    payload=payloads,
    ttl=u8,
    tos=u8,
    ident=u16,
    df=st.booleans(),
    mf=st.booleans(),
    offset8=st.integers(0, 0x1FFF),
    options=st.sampled_from(
        [b"", b"\x01\x01\x01\x00", b"\x94\x04\x00\x00", b"\x07\x07\x04" + bytes(4)]
    ),
)
def test_ipv4_build_is_read_by_scapy(
    src, dst, proto, payload, ttl, tos, ident, df, mf, offset8, options
):
    data = ipv4.build(
        src,
        dst,
        proto,
        payload,
        ttl=ttl,
        tos=tos,
        ident=ident,
        df=df,
        mf=mf,
        frag_offset=offset8 * 8,
        options=options,
    )
    ref = IP(data)
    hl = 20 + len(options) + (-len(options) % 4)
    assert (ref.version, ref.ihl, ref.len) == (4, hl // 4, hl + len(payload))
    assert (ref.src, ref.dst, ref.proto, ref.ttl, ref.tos, ref.id) == (
        src,
        dst,
        proto,
        ttl,
        tos,
        ident,
    )
    assert (ref.flags.DF, ref.flags.MF, ref.frag) == (df, mf, offset8)
    assert ref.chksum == scapy_recomputed(ref, IP)
    assert scapy_checksum(data[:hl]) == 0
    assert data[hl:] == payload


@SETTINGS
@given(
    src=ipv6_addr,
    dst=ipv6_addr,
    hlim=u8,
    tc=u8,
    fl=st.integers(0, 0xFFFFF),
    payload=payloads,
    nh=st.sampled_from([17, 59, 6]),
)
def test_ipv6_build_is_read_by_scapy(src, dst, hlim, tc, fl, payload, nh):
    data = ipv6.build(src, dst, nh, payload, hop_limit=hlim, traffic_class=tc, flow_label=fl)
    ref = IPv6(data[:40])
    assert (ref.version, ref.tc, ref.fl, ref.plen, ref.nh, ref.hlim) == (
        6,
        tc,
        fl,
        len(payload),
        nh,
        hlim,
    )
    assert same_ip(ref.src, src) and same_ip(ref.dst, dst)


@SETTINGS
@given(
    chain=st.lists(st.sampled_from(["hbh", "dstopts", "routing"]), max_size=3),
    body=st.binary(max_size=20),
    frag=st.none() | st.tuples(st.integers(0, 0x1FFF), st.booleans(), u32),
)
def test_ipv6_extension_builders_are_read_by_scapy(chain, body, frag):
    kinds = {"hbh": 0, "dstopts": 60, "routing": 43}
    nhs = [kinds[k] for k in chain] + ([44] if frag else []) + [59]
    exts = b""
    for i, k in enumerate(chain):
        # an option body (type 0x3e: skip, do not change) or a routing header's first bytes
        opt = bytes((0x3E, len(body))) + body if k != "routing" else bytes((0, 0)) + bytes(4)
        exts += ipv6.build_extension(nhs[i + 1], opt)
    if frag:
        exts += ipv6.build_fragment(59, frag[0] * 8, frag[1], frag[2])
    data = ipv6.build("2001:db8::1", "2001:db8::2", nhs[0], exts)
    ref = IPv6(data)
    layer = ref.payload
    classes = {
        "hbh": IPv6ExtHdrHopByHop,
        "dstopts": IPv6ExtHdrDestOpt,
        "routing": IPv6ExtHdrRouting,
    }
    for i, k in enumerate(chain):
        assert isinstance(layer, classes[k])
        assert layer.nh == nhs[i + 1]
        assert len(raw(layer)) - len(raw(layer.payload)) == (layer.len + 1) * 8
        if k != "routing":
            assert any(
                getattr(o, "otype", None) == 0x3E and o.optdata == body for o in layer.options
            )
        layer = layer.payload
    if frag:
        assert isinstance(layer, IPv6ExtHdrFragment)
        assert (layer.nh, layer.offset, layer.m, layer.id) == (59, frag[0], int(frag[1]), frag[2])


@SETTINGS
@given(ident=u16, seq=u16, payload=payloads, reply=st.booleans())
def test_icmp_echo_build_is_read_by_scapy(ident, seq, payload, reply):
    data = icmp.build_echo(ident, seq, payload, reply=reply)
    ref = ICMP(data)
    assert (ref.type, ref.code, ref.id, ref.seq) == (0 if reply else 8, 0, ident, seq)
    assert ref.chksum == scapy_recomputed(ref, ICMP)
    assert bytes(ref.payload) == payload


@SETTINGS
@given(
    kind=st.sampled_from([(3, 3), (3, 4), (11, 0), (12, 0)]),
    mtu=u16,
    pointer=u8,
    quote=st.binary(min_size=28, max_size=60),
)
def test_icmp_error_build_is_read_by_scapy(kind, mtu, pointer, quote):
    t, c = kind
    data = icmp.build_error(t, c, quote, mtu=mtu, pointer=pointer)
    ref = ICMP(data)
    assert (ref.type, ref.code) == kind
    if t == 3:
        assert ref.nexthopmtu == mtu
    if t == 12:
        assert ref.ptr == pointer
    assert ref.length == 0  # no extensions: no RFC 4884 length
    assert scapy_checksum(data) == 0
    assert data[8:] == quote


@SETTINGS
@given(ident=u16, seq=u16, payload=payloads, src=ipv6_addr, dst=ipv6_addr, reply=st.booleans())
def test_icmpv6_echo_build_is_read_by_scapy(ident, seq, payload, src, dst, reply):
    msg = icmpv6.build_echo(ident, seq, payload, src, dst, reply=reply)
    ref = IPv6(ipv6.build(src, dst, 58, msg))
    cls = ICMPv6EchoReply if reply else ICMPv6EchoRequest
    e = ref[cls]
    assert (e.type, e.code, e.id, e.seq, e.data) == (129 if reply else 128, 0, ident, seq, payload)
    assert e.cksum == scapy_recomputed(ref, cls, "cksum")


@SETTINGS
@given(
    sport=ports,
    dport=ports,
    payload=payloads,
    v6=st.booleans(),
    a4=ipv4_addr,
    b4=ipv4_addr,
    a6=ipv6_addr,
    b6=ipv6_addr,
)
def test_udp_build_is_read_by_scapy(sport, dport, payload, v6, a4, b4, a6, b6):
    src, dst = (a6, b6) if v6 else (a4, b4)
    seg = udp.build(sport, dport, payload, src=src, dst=dst)
    ref = IPv6(ipv6.build(src, dst, 17, seg)) if v6 else IP(ipv4.build(src, dst, 17, seg))
    u = ref[UDP]
    assert (u.sport, u.dport, u.len) == (sport, dport, 8 + len(payload))
    expected = scapy_recomputed(ref, UDP)
    assert u.chksum == expected != 0  # RFC 768: a computed 0 is sent as 0xffff
    assert udp.build(sport, dport, payload)[6:8] == b"\0\0"  # no addresses: no checksum


@SETTINGS
@given(
    sport=ports,
    dport=ports,
    seq=u32,
    ack=u32,
    flags=st.integers(0, 0x1FF),
    window=u16,
    urgent=u16,
    options=tcp_options(),
    payload=payloads,
    v6=st.booleans(),
)
def test_tcp_build_is_read_by_scapy(
    sport, dport, seq, ack, flags, window, urgent, options, payload, v6
):
    scapy_opts, ours = options
    src, dst = ("2001:db8::1", "2001:db8::2") if v6 else ("192.0.2.1", "192.0.2.2")
    opts = tcp.build_options([o for o in ours if o != (0, None)])
    seg = tcp.build(
        sport,
        dport,
        seq=seq,
        ack=ack,
        flags=flags,
        window=window,
        urgent=urgent,
        options=opts,
        payload=payload,
        src=src,
        dst=dst,
    )
    ref = IPv6(ipv6.build(src, dst, 6, seg)) if v6 else IP(ipv4.build(src, dst, 6, seg))
    t = ref[TCP]
    assert (t.sport, t.dport, t.seq, t.ack, int(t.flags), t.window, t.urgptr) == (
        sport,
        dport,
        seq,
        ack,
        flags,
        window,
        urgent,
    )
    assert t.dataofs == 5 + len(opts) // 4
    expected = [(name if not isinstance(name, int) else name, val) for name, val in scapy_opts]
    got = [o for o in t.options if o[0] != "EOL"]
    assert got == expected
    assert t.chksum == scapy_recomputed(ref, TCP)
    assert bytes(t.payload) == payload
    # canonical encoding: the same bytes scapy writes for these options
    assert opts == raw(TCP(options=scapy_opts))[20:]


vlan_specs = st.lists(
    st.tuples(
        st.sampled_from([0x8100, 0x88A8]), st.integers(0, 4095), st.integers(0, 7), st.booleans()
    ),
    max_size=3,
)


@SETTINGS
@given(
    src=mac_addr,
    dst=mac_addr,
    tags=vlan_specs,
    ethertype=st.sampled_from([0x0800, 0x86DD, 0x0806, 0x88CC]),
    payload=payloads,
)
def test_ethernet_build_with_vlans_is_read_by_scapy(src, dst, tags, ethertype, payload):
    vlans = tuple((tpid, ethernet.tci(vid, pcp, dei)) for tpid, vid, pcp, dei in tags)
    data = ethernet.build(dst, src, ethertype, payload, vlans=vlans)
    ref = Ether(data)
    assert (ref.src, ref.dst) == (src, dst)
    types = [t[0] for t in tags] + [ethertype]
    assert ref.type == types[0]
    layer = ref.payload
    for i, (_tpid, vid, pcp, dei) in enumerate(tags):
        tag = Dot1Q(raw(layer))
        assert (tag.vlan, tag.prio, tag.dei, tag.type) == (vid, pcp, int(dei), types[i + 1])
        layer = Dot1Q(raw(layer)).payload
    assert data.endswith(payload) and len(data) == 14 + 4 * len(tags) + len(payload)


@SETTINGS
@given(op=st.integers(1, 4), sha=mac_addr, tha=mac_addr, spa=ipv4_addr, tpa=ipv4_addr)
def test_arp_build_is_read_by_scapy(op, sha, tha, spa, tpa):
    from netdiag.packets.addr import ip_bytes

    data = arp.build(op, sha, ip_bytes(spa), tha, ip_bytes(tpa))
    ref = ARP(data)
    assert (ref.op, ref.hwsrc, ref.psrc, ref.hwdst, ref.pdst) == (op, sha, spa, tha, tpa)
    assert (ref.hwtype, ref.ptype, ref.hwlen, ref.plen) == (1, 0x0800, 6, 4)
    assert data == raw(ARP(op=op, hwsrc=sha, psrc=spa, hwdst=tha, pdst=tpa))


def mpls_stack(obj) -> list[tuple[int, int, bool, int]]:
    """scapy's reading of each 4-byte entry of an MPLS extension object (one at a time:
    inside a list scapy nests an entry's successor as its payload, as on the wire)."""
    body = raw(obj)[4:]
    entries = [MPLS(body[i : i + 4]) for i in range(0, len(body), 4)]
    return [(m.label, m.cos, bool(m.s), m.ttl) for m in entries]


mpls_entries = st.lists(
    st.tuples(st.integers(0, 0xFFFFF), st.integers(0, 7), st.booleans(), u8), min_size=1, max_size=4
)


@SETTINGS
@given(entries=mpls_entries)
def test_icmp_extension_builders_are_read_by_scapy(entries):
    data = icmpext.build_extensions([icmpext.build_mpls_object(entries)])
    ref = ICMPExtension_Header(data)
    assert ref.version == 2
    assert scapy_checksum(data) == 0
    obj = ref.payload
    assert isinstance(obj, ICMPExtension_MPLS)
    assert (obj.classnum, obj.classtype, obj.len) == (1, 1, 4 + 4 * len(entries))
    assert mpls_stack(obj) == entries
    # the same bytes scapy writes
    stack = [MPLS(label=lab, cos=tc, s=int(s), ttl=ttl) for lab, tc, s, ttl in entries]
    assert data == raw(ICMPExtension_Header() / ICMPExtension_MPLS(stack=stack))


@SETTINGS
@given(
    pkttype=st.integers(0, 4),
    addr=st.binary(max_size=8),
    proto=u16,
    payload=payloads,
    ifindex=u32,
    hatype=u16,
)
def test_linux_cooked_builders_are_read_by_scapy(pkttype, addr, proto, payload, ifindex, hatype):
    v1 = CookedLinux(linklayer.build_sll(proto, payload, pkttype=pkttype, addr=addr, hatype=hatype))
    assert (v1.pkttype, v1.lladdrtype, v1.lladdrlen, v1.proto) == (
        pkttype,
        hatype,
        len(addr),
        proto,
    )
    assert v1.src[: len(addr)] == addr
    v2 = CookedLinuxV2(
        linklayer.build_sll2(
            proto, payload, ifindex=ifindex, pkttype=pkttype, addr=addr, hatype=hatype
        )
    )
    assert (v2.proto, v2.ifindex, v2.lladdrtype, v2.pkttype, v2.lladdrlen) == (
        proto,
        ifindex,
        hatype,
        pkttype,
        len(addr),
    )
    assert v2.src[: len(addr)] == addr


@SETTINGS
@given(family=st.sampled_from([2, 10, 24, 28, 30]), payload=payloads)
def test_null_builder_is_read_by_scapy(family, payload):
    data = linklayer.build_null(family, payload)  # host order: little-endian, as scapy
    assert Loopback(data).type == family
    assert data == raw(Loopback(type=family)) + payload
    assert linklayer.build_null(family, payload, network_order=True)[:4] == family.to_bytes(
        4, "big"
    )
