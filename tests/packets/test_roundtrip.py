"""``decode(build(h))`` gives back ``h``: every builder paired with its decoder."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag import decode
from netdiag.packets import arp, ethernet, icmp, icmpext, icmpv6, ipv4, ipv6, linklayer, tcp, udp
from netdiag.packets.addr import ip6_text, ip_bytes, mac_bytes

from .reference import ipv4_addr, ipv6_addr, mac_addr, payloads, ports, same_ip, u8, u16, u32

SETTINGS = settings(max_examples=80, deadline=None)

tcp_option_values = st.lists(
    st.one_of(
        st.tuples(st.just(2), u16),
        st.tuples(st.just(3), u8),
        st.tuples(st.just(4), st.none()),
        st.tuples(st.just(5), st.lists(st.tuples(u32, u32), min_size=1, max_size=3)),
        st.tuples(st.just(8), st.tuples(u32, u32)),
        st.tuples(st.just(1), st.none()),
        st.tuples(st.sampled_from([30, 34, 99, 253]), st.binary(max_size=6)),
    ),
    max_size=4,
)


@st.composite
def tcp_headers(draw):
    opts = draw(tcp_option_values)
    while len(tcp.build_options(opts)) > 40:
        opts = opts[:-1]
    return {
        "sport": draw(ports),
        "dport": draw(ports),
        "seq": draw(u32),
        "ack": draw(u32),
        "flags": draw(st.integers(0, 0x1FF)),
        "window": draw(u16),
        "urgent": draw(u16),
        "options": opts,
        "payload": draw(payloads),
    }


@SETTINGS
@given(h=tcp_headers(), src=ipv4_addr, dst=ipv4_addr, ttl=u8, tos=u8, ident=u16, df=st.booleans())
def test_ipv4_tcp_round_trip(h, src, dst, ttl, tos, ident, df):
    opts = tcp.build_options(h["options"])
    seg = tcp.build(
        h["sport"],
        h["dport"],
        seq=h["seq"],
        ack=h["ack"],
        flags=h["flags"],
        window=h["window"],
        urgent=h["urgent"],
        options=opts,
        payload=h["payload"],
        src=src,
        dst=dst,
    )
    p = decode(ipv4.build(src, dst, 6, seg, ttl=ttl, tos=tos, ident=ident, df=df), 101)
    assert p.error is None
    assert (p.ip.src, p.ip.dst, p.ip.ttl, p.ip.tos, p.ip.id, p.ip.df) == (
        src,
        dst,
        ttl,
        tos,
        ident,
        df,
    )
    assert (p.ip.dscp, p.ip.ecn) == (tos >> 2, tos & 3)
    t = p.tcp
    got = {
        "sport": t.sport,
        "dport": t.dport,
        "seq": t.seq,
        "ack": t.ack,
        "flags": t.flags,
        "window": t.window,
        "urgent": t.urgent,
        "payload": p.payload,
        "options": [o for o in t.options if o != (0, None)],
    }
    assert got == h
    assert t.checksum_ok is True and p.ip.checksum_ok is True


@SETTINGS
@given(
    src=ipv4_addr,
    dst=ipv4_addr,
    ident=u16,
    mf=st.booleans(),
    offset8=st.integers(0, 0x1FFF),
    options=st.binary(max_size=40).map(lambda b: b.replace(b"\0", b"\1")),
    proto=u8,
    payload=payloads,
)
def test_ipv4_fragment_and_options_round_trip(
    src, dst, ident, mf, offset8, options, proto, payload
):
    data = ipv4.build(
        src, dst, proto, payload, ident=ident, mf=mf, frag_offset=offset8 * 8, options=options
    )
    p = decode(data, 228)
    ip = p.ip
    assert (ip.src, ip.dst, ip.id, ip.mf, ip.frag_offset, ip.protocol) == (
        src,
        dst,
        ident,
        mf,
        offset8 * 8,
        proto,
    )
    assert ip.header_len == 20 + len(options) + (-len(options) % 4)
    assert ip.checksum_ok is True
    assert isinstance(ip.options, list)  # arbitrary option bytes still list, never raise
    p.layer_fields()


@SETTINGS
@given(
    src=ipv6_addr,
    dst=ipv6_addr,
    sport=ports,
    dport=ports,
    payload=payloads,
    hlim=u8,
    tc=u8,
    fl=st.integers(0, 0xFFFFF),
    chain=st.lists(st.sampled_from([0, 43, 60]), max_size=3),
    frag=st.none() | st.tuples(st.booleans(), u32),
)
def test_ipv6_udp_with_extension_headers_round_trip(
    src, dst, sport, dport, payload, hlim, tc, fl, chain, frag
):
    seg = udp.build(sport, dport, payload, src=src, dst=dst)
    nhs = chain + ([44] if frag else []) + [17]
    exts = b""
    for i, kind in enumerate(chain):
        body = bytes(6) if kind == 43 else b""  # routing: type 0, segments left 0
        exts += ipv6.build_extension(nhs[i + 1], body)
    if frag:
        exts += ipv6.build_fragment(17, 0, frag[0], frag[1])
    p = decode(
        ipv6.build(src, dst, nhs[0], exts + seg, hop_limit=hlim, traffic_class=tc, flow_label=fl),
        229,
    )
    assert p.error is None
    ip = p.ip
    assert (ip.src_raw, ip.dst_raw) == (ip_bytes(src), ip_bytes(dst))
    assert same_ip(ip.src, src) and ip_bytes(ip.src) == ip_bytes(src)  # text parses back
    assert (ip.hop_limit, ip.traffic_class, ip.flow_label) == (hlim, tc, fl)
    assert [k for k, _p, _n in ip.extensions] == nhs[:-1]
    assert ip.proto == 17
    assert (p.udp.sport, p.udp.dport, p.payload) == (sport, dport, payload)
    if frag:
        assert (ip.mf, ip.frag_id) == frag
    assert p.udp.checksum_ok is (None if frag and frag[0] else True)


@SETTINGS
@given(ident=u16, seq=u16, payload=payloads, reply=st.booleans(), src=ipv6_addr, dst=ipv6_addr)
def test_echo_round_trip_both_versions(ident, seq, payload, reply, src, dst):
    p4 = decode(
        ipv4.build("192.0.2.1", "192.0.2.2", 1, icmp.build_echo(ident, seq, payload, reply)), 101
    )
    assert (p4.icmp.type, p4.icmp.id, p4.icmp.seq, p4.payload) == (
        0 if reply else 8,
        ident,
        seq,
        payload,
    )
    msg = icmpv6.build_echo(ident, seq, payload, src, dst, reply)
    p6 = decode(ipv6.build(src, dst, 58, msg), 101)
    assert (p6.icmpv6.type, p6.icmpv6.id, p6.icmpv6.seq, p6.payload) == (
        129 if reply else 128,
        ident,
        seq,
        payload,
    )
    assert p4.icmp.checksum_ok is True and p6.icmpv6.checksum_ok is True


mpls = st.lists(
    st.tuples(st.integers(0, 0xFFFFF), st.integers(0, 7), st.booleans(), u8), min_size=1, max_size=5
)


@SETTINGS
@given(
    entries=mpls,
    icmp_type=st.sampled_from([3, 11]),
    sport=ports,
    dport=ports,
    extra=st.binary(max_size=40),
)
def test_icmp_error_with_mpls_extension_round_trip(entries, icmp_type, sport, dport, extra):
    inner = ipv4.build("10.0.0.1", "10.9.9.9", 17, udp.build(sport, dport, extra), ttl=1)
    ext = icmpext.build_extensions([icmpext.build_mpls_object(entries)])
    p = decode(
        ipv4.build(
            "10.0.0.254", "10.0.0.1", 1, icmp.build_error(icmp_type, 0, inner, extensions=ext)
        ),
        101,
    )
    i = p.icmp
    assert i.length == 32  # 128 bytes of padded quote, in 32-bit words (RFC 4884 §4.1)
    assert i.extensions is not None and i.extensions.checksum_ok
    assert [(e.label, e.tc, e.s, e.ttl) for e in i.extensions.mpls] == entries
    assert (i.quoted.udp.sport, i.quoted.udp.dport) == (sport, dport)
    assert i.checksum_ok is True


@SETTINGS
@given(
    dst=mac_addr,
    src=mac_addr,
    tags=st.lists(
        st.tuples(
            st.sampled_from([0x8100, 0x88A8, 0x9100]),
            st.integers(0, 4095),
            st.integers(0, 7),
            st.booleans(),
        ),
        max_size=8,
    ),
    op=st.integers(1, 4),
    sha=mac_addr,
    spa=ipv4_addr,
    tha=mac_addr,
    tpa=ipv4_addr,
)
def test_ethernet_vlan_arp_round_trip(dst, src, tags, op, sha, spa, tha, tpa):
    vlans = tuple((tpid, ethernet.tci(vid, pcp, dei)) for tpid, vid, pcp, dei in tags)
    body = arp.build(op, sha, ip_bytes(spa), tha, ip_bytes(tpa))
    p = decode(ethernet.build(dst, src, 0x0806, body, vlans=vlans), 1)
    assert p.error is None
    assert (p.eth.dst, p.eth.src) == (dst, src)
    assert [(v.tpid, v.vid, v.pcp, v.dei) for v in p.vlans] == tags
    assert (p.arp.op, p.arp.sha, p.arp.spa, p.arp.tha, p.arp.tpa) == (op, sha, spa, tha, tpa)


@SETTINGS
@given(
    v6=st.booleans(),
    addr=mac_addr,
    pkttype=st.integers(0, 4),
    ifindex=u32,
    family6=st.sampled_from([10, 24, 28, 30]),
    linktype=st.sampled_from([113, 276, 0, 108]),
)
def test_link_layer_round_trip(v6, addr, pkttype, ifindex, family6, linktype):
    l3 = ipv6.build("::1", "::2", 59) if v6 else ipv4.build("127.0.0.1", "127.0.0.2", 255)
    ethertype = 0x86DD if v6 else 0x0800
    if linktype == 113:
        data = linklayer.build_sll(ethertype, l3, pkttype=pkttype, addr=mac_bytes(addr))
    elif linktype == 276:
        data = linklayer.build_sll2(
            ethertype, l3, ifindex=ifindex, pkttype=pkttype, addr=mac_bytes(addr)
        )
    else:
        data = linklayer.build_null(family6 if v6 else 2, l3, network_order=linktype == 108)
    p = decode(data, linktype)
    assert p.error is None and p.ip.version == (6 if v6 else 4)
    if linktype in (113, 276):
        assert (p.link.addr, p.link.pkttype, p.link.type) == (addr, pkttype, ethertype)
        if linktype == 276:
            assert p.link.ifindex == ifindex
    else:
        assert p.link.family == (family6 if v6 else 2)


@given(b=st.binary(min_size=16, max_size=16))
def test_ipv6_text_is_rfc5952_and_parses_back(b):
    import ipaddress

    text = ip6_text(b)
    assert ip_bytes(text) == b
    assert text == text.lower() and ":::" not in text
    assert ipaddress.IPv6Address(text).packed == b
