"""``netdiag.decode`` reads what scapy writes: field by field, checksum verdict by verdict.

Every property draws header field values, lets scapy build the bytes (the reference
encoder), decodes them, and asserts the values drawn. Checksums scapy computes are
judged good; one corrupted checksum byte is judged bad; a segment cut short cannot
be judged (None).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6PacketTooBig,
    ICMPv6ParamProblem,
    ICMPv6TimeExceeded,
    IPerror6,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    PadN,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw
from scapy.utils import checksum as scapy_checksum

from .reference import (
    LINKTYPES_V4,
    LINKTYPES_V6,
    corrupt,
    decoded,
    frame,
    ipv4_addr,
    ipv6_addr,
    link_len,
    mac_addr,
    payloads,
    ports,
    raw,
    same_ip,
    tcp_options,
    u8,
    u16,
    u32,
)

from netdiag import decode  # isort: skip
from netdiag.packets.addr import ip_text  # isort: skip

SETTINGS = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------- IPv4 / TCP
@SETTINGS
@given(
    linktype=st.sampled_from(LINKTYPES_V4),
    src=ipv4_addr,
    dst=ipv4_addr,
    ttl=u8,
    tos=u8,
    ident=u16,
    df=st.booleans(),
    sport=ports,
    dport=ports,
    seq=u32,
    ack=u32,
    flags=st.integers(0, 0x1FF),
    window=u16,
    urgent=u16,
    options=tcp_options(),
    payload=payloads,
)
def test_ipv4_tcp_fields_and_checksums_match_scapy(
    linktype,
    src,
    dst,
    ttl,
    tos,
    ident,
    df,
    sport,
    dport,
    seq,
    ack,
    flags,
    window,
    urgent,
    options,
    payload,
):
    scapy_opts, expected_opts = options
    ref = (
        IP(src=src, dst=dst, ttl=ttl, tos=tos, id=ident, flags="DF" if df else 0)
        / TCP(
            sport=sport,
            dport=dport,
            seq=seq,
            ack=ack,
            flags=flags,
            window=window,
            urgptr=urgent,
            options=scapy_opts,
        )
        / payload
    )
    ref = IP(raw(ref))  # scapy's own parse, to read back the checksums it computed
    data = frame(linktype, raw(ref))
    p = decoded(data, linktype)

    assert p.ip is p.ipv4 and p.ip.version == 4
    assert (p.ip.src, p.ip.dst) == (src, dst)
    assert (p.ip.ttl, p.ip.tos, p.ip.id, p.ip.df, p.ip.mf) == (ttl, tos, ident, df, False)
    assert p.ip.proto == p.ip.protocol == 6
    assert p.ip.total_length == ref.len and p.ip.ihl == ref.ihl == 5
    assert p.ip.checksum == ref.chksum and p.ip.checksum_ok is True

    t = p.tcp
    assert t is p.transport
    assert (t.sport, t.dport, t.seq, t.ack, t.window, t.urgent) == (
        sport,
        dport,
        seq,
        ack,
        window,
        urgent,
    )
    assert t.flags == int(ref[TCP].flags) == flags
    assert t.data_offset == ref[TCP].dataofs
    assert t.options == expected_opts
    assert t.checksum == ref[TCP].chksum and t.checksum_ok is True
    assert p.payload == payload

    off = link_len(linktype)
    assert decode(corrupt(data, off + 10), linktype).ip.checksum_ok is False
    assert decode(corrupt(data, off + 20 + 16), linktype).tcp.checksum_ok is False
    if payload:  # the segment no longer whole: no verdict
        short = decode(data[:-1], linktype)
        assert short.error is None and short.ip.truncated and short.tcp.checksum_ok is None


# ---------------------------------------------------------------- IPv6 / UDP
@SETTINGS
@given(
    linktype=st.sampled_from(LINKTYPES_V6),
    src=ipv6_addr,
    dst=ipv6_addr,
    hlim=u8,
    tc=u8,
    fl=st.integers(0, 0xFFFFF),
    sport=ports,
    dport=ports,
    payload=payloads,
)
def test_ipv6_udp_fields_and_checksums_match_scapy(
    linktype, src, dst, hlim, tc, fl, sport, dport, payload
):
    ref = IPv6(
        raw(
            IPv6(src=src, dst=dst, hlim=hlim, tc=tc, fl=fl)
            / UDP(sport=sport, dport=dport)
            / payload
        )
    )
    data = frame(linktype, raw(ref))
    p = decoded(data, linktype)

    assert p.ip is p.ipv6 and p.ip.version == 6
    assert same_ip(p.ip.src, src) and same_ip(p.ip.dst, dst)
    assert (p.ip.hop_limit, p.ip.traffic_class, p.ip.flow_label) == (hlim, tc, fl)
    assert p.ip.proto == p.ip.next_header == 17
    assert p.ip.payload_len == ref.plen
    u = p.udp
    assert (u.sport, u.dport, u.length) == (sport, dport, ref[UDP].len)
    assert u.checksum == ref[UDP].chksum and u.checksum_ok is True
    assert p.payload == payload

    off = link_len(linktype)
    assert decode(corrupt(data, off + 40 + 6), linktype).udp.checksum_ok is False
    # RFC 8200 §8.1: a zero UDP checksum is invalid over IPv6
    zero = data[: off + 46] + b"\0\0" + data[off + 48 :]
    assert decode(zero, linktype).udp.checksum_ok is False
    if payload:
        assert decode(data[:-1], linktype).udp.checksum_ok is None


@SETTINGS
@given(src=ipv4_addr, dst=ipv4_addr, sport=ports, dport=ports, payload=payloads)
def test_ipv4_udp_zero_checksum_means_not_computed(src, dst, sport, dport, payload):
    ref = IP(src=src, dst=dst) / UDP(sport=sport, dport=dport, chksum=0) / payload
    p = decoded(raw(ref))
    assert p.udp.checksum == 0 and p.udp.checksum_ok is None  # RFC 768
    good = decoded(raw(IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload))
    assert good.udp.checksum_ok is True


# ---------------------------------------------------------------- IPv4 fragments
@SETTINGS
@given(
    ident=u16,
    mf=st.booleans(),
    offset8=st.integers(0, 0x1FFF),
    df=st.booleans(),
    data=payloads,
)
def test_ipv4_fragment_fields_match_scapy(ident, mf, offset8, df, data):
    flags = (2 if df else 0) | (1 if mf else 0)
    payload = raw(UDP(sport=7, dport=9) / data)
    ref = IP(src="10.0.0.1", dst="10.0.0.2", id=ident, flags=flags, frag=offset8, proto=17)
    ref = ref / payload
    p = decoded(raw(ref))
    assert (p.ip.id, p.ip.df, p.ip.mf, p.ip.frag_offset) == (ident, df, mf, offset8 * 8)
    assert p.ip.is_fragment == (mf or offset8 > 0)
    assert p.ip.checksum_ok is True
    if offset8:  # not the first fragment: no transport header is there to decode
        assert p.udp is None and p.payload == payload
    else:
        assert (p.udp.sport, p.udp.dport) == (7, 9)


def test_first_fragment_transport_checksum_cannot_be_judged():
    # scapy's fragment(): the UDP checksum covers the whole datagram, which spans
    # both fragments; judging it from the first alone would report False.
    whole = IP(src="192.0.2.1", dst="192.0.2.2", id=9) / UDP(sport=1, dport=2) / (b"x" * 100)
    from scapy.layers.inet import fragment

    first, second, *_ = fragment(whole, fragsize=48)
    p = decoded(raw(first))
    assert p.ip.mf and p.udp is not None and p.udp.sport == 1
    assert p.udp.checksum_ok is None
    q = decoded(raw(second))
    assert q.udp is None and q.ip.frag_offset == 48


def test_icmp_checksum_of_a_first_fragment_cannot_be_judged():
    from scapy.layers.inet import fragment

    whole = IP(src="192.0.2.1", dst="192.0.2.2") / ICMP(id=1, seq=2) / (b"y" * 100)
    first = fragment(whole, fragsize=48)[0]
    p = decoded(raw(first))
    assert p.icmp.id == 1 and p.icmp.checksum_ok is None
    assert decoded(raw(whole)).icmp.checksum_ok is True


def test_ipv6_checksum_uses_the_final_destination_of_a_routing_header():
    # RFC 8200 §8.1: in transit, the pseudo-header carries the last address of the
    # routing header; scapy's in6_chksum computes it so.
    via = ["2001:db8::100", "2001:db8::200"]
    ref = (
        IPv6(src="2001:db8::1", dst="2001:db8::ff")
        / IPv6ExtHdrRouting(addresses=via, segleft=2)
        / UDP(sport=5, dport=6)
        / b"x"
    )
    p = decoded(raw(ref))
    assert p.ip.final_dst_raw == bytes.fromhex("20010db8" + "0" * 20 + "0200")
    assert p.udp.checksum_ok is True
    arrived = (
        IPv6(src="2001:db8::1", dst=via[-1])
        / IPv6ExtHdrRouting(addresses=via, segleft=0)
        / UDP(sport=5, dport=6)
        / b"x"
    )
    assert decoded(raw(arrived)).udp.checksum_ok is True


def test_ipv6_checksum_uses_segment_list_0_of_a_segment_routing_header():
    # RFC 8754 §2: Segment List[0] is the last segment; scapy's in6_chksum uses it.
    from scapy.layers.inet6 import IPv6ExtHdrSegmentRouting

    segs = ["2001:db8::f1", "2001:db8::e2", "2001:db8::d3"]
    ref = (
        IPv6(src="2001:db8::1", dst=segs[2])
        / IPv6ExtHdrSegmentRouting(addresses=segs, segleft=2, lastentry=2)
        / TCP(sport=7, dport=8)
    )
    p = decoded(raw(ref))
    assert p.ip.proto == 6 and [k for k, _p, _n in p.ip.extensions] == [43]
    assert same_ip(ip_text(p.ip.final_dst_raw), segs[0])
    assert p.tcp.checksum_ok is True


# ---------------------------------------------------------------- VLAN / QinQ
vlan_tags = st.lists(
    st.tuples(
        st.sampled_from([0x8100, 0x88A8, 0x9100]),
        st.integers(0, 4095),
        st.integers(0, 7),
        st.booleans(),
    ),
    max_size=4,
)


@SETTINGS
@given(tags=vlan_tags, src=mac_addr, dst=mac_addr, sport=ports, dport=ports)
def test_vlan_tags_match_scapy(tags, src, dst, sport, dport):
    types = [t[0] for t in tags] + [0x0800]
    pkt = Ether(src=src, dst=dst, type=types[0])
    for i, (_tpid, vid, pcp, dei) in enumerate(tags):
        pkt = pkt / Dot1Q(vlan=vid, prio=pcp, dei=int(dei), type=types[i + 1])
    pkt = pkt / IP(src="10.1.1.1", dst="10.2.2.2") / UDP(sport=sport, dport=dport)
    p = decoded(raw(pkt), 1)
    assert (p.eth.src, p.eth.dst, p.eth.type) == (src, dst, types[0])
    assert [(v.tpid, v.vid, v.pcp, v.dei) for v in p.vlans] == tags
    assert p.vlan is (p.vlans[0] if tags else None)
    assert (p.udp.sport, p.udp.dport) == (sport, dport) and p.udp.checksum_ok is True


# ---------------------------------------------------------------- ARP
@SETTINGS
@given(
    op=st.integers(1, 4),
    sha=mac_addr,
    tha=mac_addr,
    spa=ipv4_addr,
    tpa=ipv4_addr,
    linktype=st.sampled_from([1, 113, 276]),
)
def test_arp_fields_match_scapy(op, sha, tha, spa, tpa, linktype):
    from scapy.layers.l2 import CookedLinux, CookedLinuxV2

    arp = ARP(op=op, hwsrc=sha, hwdst=tha, psrc=spa, pdst=tpa)
    link = {
        1: Ether(type=0x0806),
        113: CookedLinux(proto=0x0806),
        276: CookedLinuxV2(proto=0x0806),
    }[linktype]
    p = decoded(raw(link / arp), linktype)
    a = p.arp
    assert (a.op, a.sha, a.tha, a.spa, a.tpa) == (op, sha, tha, spa, tpa)
    assert (a.htype, a.ptype, a.hlen, a.plen) == (1, 0x0800, 6, 4)
    assert p.ip is None and p.payload == b""


# ---------------------------------------------------------------- ICMP
@SETTINGS
@given(
    reply=st.booleans(),
    ident=u16,
    seq=u16,
    payload=payloads,
    linktype=st.sampled_from(LINKTYPES_V4),
)
def test_icmp_echo_matches_scapy(reply, ident, seq, payload, linktype):
    ref = IP(
        raw(
            IP(src="10.0.0.1", dst="10.0.0.2")
            / ICMP(type=0 if reply else 8, id=ident, seq=seq)
            / payload
        )
    )
    data = frame(linktype, raw(ref))
    p = decoded(data, linktype)
    i = p.icmp
    assert (i.type, i.code, i.id, i.seq) == (0 if reply else 8, 0, ident, seq)
    assert i.checksum == ref[ICMP].chksum and i.checksum_ok is True
    assert not i.is_error and i.quoted is None and p.payload == payload
    assert decode(corrupt(data, link_len(linktype) + 22), linktype).icmp.checksum_ok is False


@SETTINGS
@given(
    kind=st.sampled_from([(3, c) for c in range(16)] + [(11, 0), (11, 1), (12, 0), (4, 0), (5, 1)]),
    inner_src=ipv4_addr,
    inner_dst=ipv4_addr,
    sport=ports,
    dport=ports,
    mtu=u16,
    inner_ttl=u8,
    tcp=st.booleans(),
    seq=u32,
)
def test_icmp_errors_quote_the_datagram_scapy_built(
    kind, inner_src, inner_dst, sport, dport, mtu, inner_ttl, tcp, seq
):
    icmp_type, code = kind
    fields = {"type": icmp_type, "code": code}
    if icmp_type == 3:
        fields["nexthopmtu"] = mtu
    if icmp_type == 12:
        fields["ptr"] = 8
    if icmp_type == 5:
        fields["gw"] = "192.0.2.254"
    l4 = TCPerror(sport=sport, dport=dport, seq=seq) if tcp else UDPerror(sport=sport, dport=dport)
    quote = raw(IPerror(src=inner_src, dst=inner_dst, ttl=inner_ttl) / l4)[:28]
    ref = IP(src="198.51.100.1", dst="10.0.0.1") / ICMP(**fields) / Raw(quote)
    p = decoded(raw(ref))
    i = p.icmp
    assert (i.type, i.code, i.is_error, i.checksum_ok) == (icmp_type, code, True, True)
    assert i.mtu == (mtu if kind == (3, 4) else None)
    assert i.pointer == (8 if icmp_type == 12 else None)
    assert i.gateway == ("192.0.2.254" if icmp_type == 5 else None)
    q = i.quoted
    assert q.ip.src == inner_src and q.ip.dst == inner_dst and q.ip.ttl == inner_ttl
    inner = q.tcp if tcp else q.udp
    assert (inner.sport, inner.dport) == (sport, dport)
    if tcp:
        assert inner.partial and inner.seq == seq and inner.ack is None


# ---------------------------------------------------------------- ICMPv6
SRC6, DST6 = "fe80::1", "ff02::1"


@SETTINGS
@given(
    reply=st.booleans(),
    ident=u16,
    seq=u16,
    payload=payloads,
    src=ipv6_addr,
    dst=ipv6_addr,
    linktype=st.sampled_from(LINKTYPES_V6),
)
def test_icmpv6_echo_matches_scapy(reply, ident, seq, payload, src, dst, linktype):
    cls = ICMPv6EchoReply if reply else ICMPv6EchoRequest
    ref = IPv6(raw(IPv6(src=src, dst=dst) / cls(id=ident, seq=seq, data=payload)))
    data = frame(linktype, raw(ref))
    p = decoded(data, linktype)
    i = p.icmpv6
    assert (i.type, i.code, i.id, i.seq) == (129 if reply else 128, 0, ident, seq)
    assert i.checksum == ref[cls].cksum and i.checksum_ok is True
    assert p.ip.proto == 58 and p.payload == payload
    assert decode(corrupt(data, link_len(linktype) + 42), linktype).icmpv6.checksum_ok is False


@SETTINGS
@given(
    kind=st.sampled_from(["unreach", "toobig", "timex", "param"]),
    code=st.integers(0, 6),
    value=u32,
    sport=ports,
    dport=ports,
    inner_src=ipv6_addr,
    inner_dst=ipv6_addr,
)
def test_icmpv6_errors_match_scapy(kind, code, value, sport, dport, inner_src, inner_dst):
    msg = {
        "unreach": ICMPv6DestUnreach(code=code),
        "toobig": ICMPv6PacketTooBig(mtu=value),
        "timex": ICMPv6TimeExceeded(code=code % 2),
        "param": ICMPv6ParamProblem(code=code % 3, ptr=value),
    }[kind]
    ref = (
        IPv6(src="2001:db8::1", dst="2001:db8::2")
        / msg
        / IPerror6(src=inner_src, dst=inner_dst)
        / UDPerror(sport=sport, dport=dport)
        / b"probe"
    )
    p = decoded(raw(ref))
    i = p.icmpv6
    assert i.type == msg.type and i.code == msg.code and i.is_error
    assert i.checksum_ok is True
    assert i.mtu == (value if kind == "toobig" else None)
    assert i.pointer == (value if kind == "param" else None)
    q = i.quoted
    assert q.error is None and same_ip(q.ip.src, inner_src) and same_ip(q.ip.dst, inner_dst)
    assert (q.udp.sport, q.udp.dport) == (sport, dport)


@SETTINGS
@given(
    kind=st.sampled_from(["NS", "NA", "RS", "RA"]),
    tgt=ipv6_addr,
    lladdr=mac_addr,
    r=st.booleans(),
    s=st.booleans(),
    o=st.booleans(),
    m=st.booleans(),
    chlim=u8,
    lifetime=u16,
    reach=u32,
    retrans=u32,
    mtu=u32,
    prefixlen=st.integers(0, 128),
    prefix=ipv6_addr,
    valid=u32,
    preferred=u32,
)
def test_icmpv6_neighbor_discovery_matches_scapy(
    kind,
    tgt,
    lladdr,
    r,
    s,
    o,
    m,
    chlim,
    lifetime,
    reach,
    retrans,
    mtu,
    prefixlen,
    prefix,
    valid,
    preferred,
):
    opts: list = []
    if kind == "NS":
        msg = ICMPv6ND_NS(tgt=tgt) / ICMPv6NDOptSrcLLAddr(lladdr=lladdr)
        opts = [(1, 8, lladdr)]
    elif kind == "NA":
        msg = ICMPv6ND_NA(tgt=tgt, R=int(r), S=int(s), O=int(o)) / ICMPv6NDOptDstLLAddr(
            lladdr=lladdr
        )
        opts = [(2, 8, lladdr)]
    elif kind == "RS":
        msg = ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr=lladdr)
        opts = [(1, 8, lladdr)]
    else:
        msg = (
            ICMPv6ND_RA(
                chlim=chlim,
                M=int(m),
                O=int(o),
                routerlifetime=lifetime,
                reachabletime=reach,
                retranstimer=retrans,
            )
            / ICMPv6NDOptSrcLLAddr(lladdr=lladdr)
            / ICMPv6NDOptMTU(mtu=mtu)
            / ICMPv6NDOptPrefixInfo(
                prefixlen=prefixlen, prefix=prefix, validlifetime=valid, preferredlifetime=preferred
            )
        )
        opts = [(1, 8, lladdr), (5, 8, mtu), (3, 32, None)]
    ref = IPv6(src=SRC6, dst=DST6, hlim=255) / msg
    p = decoded(raw(ref))
    i = p.icmpv6
    assert i.type == {"RS": 133, "RA": 134, "NS": 135, "NA": 136}[kind]
    assert i.checksum_ok is True
    got = i.nd_options
    assert [(x.type, x.length) for x in got] == [(t, n) for t, n, _ in opts]
    for x, (_t, _n, v) in zip(got, opts, strict=True):
        if v is not None:
            assert x.value == v
    if kind in ("NS", "NA"):
        assert same_ip(i.target, tgt)
    else:
        assert i.target is None
    if kind == "NA":
        assert i.nd_flags == "R" * r + "S" * s + "O" * o
    if kind == "RA":
        assert i.nd_flags == "M" * m + "O" * o
        assert i.router_advert == {
            "hop_limit": chlim,
            "router_lifetime": lifetime,
            "reachable_time": reach,
            "retrans_timer": retrans,
        }
        pi = got[2].value
        ref_pi = ref[ICMPv6NDOptPrefixInfo]
        assert pi["prefix"].split("/")[1] == str(prefixlen)
        assert same_ip(pi["prefix"].split("/")[0], ref_pi.prefix)
        assert (pi["flags"], pi["valid"], pi["preferred"]) == (0xC0, valid, preferred)


# ---------------------------------------------------------------- IPv6 extension chains
EXT_KINDS = ["hbh", "routing", "dstopts", "fragment"]


def _ext(kind: str, pad: int, addrs: list[str], frag: tuple[int, int, int]):
    if kind == "hbh":
        return IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * pad)] if pad else [])
    if kind == "dstopts":
        return IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * pad)] if pad else [])
    if kind == "routing":
        return IPv6ExtHdrRouting(addresses=addrs)
    offset8, mf, ident = frag
    return IPv6ExtHdrFragment(offset=offset8, m=mf, id=ident)


@SETTINGS
@given(
    chain=st.lists(st.sampled_from(EXT_KINDS), min_size=1, max_size=5),
    pad=st.integers(0, 12),
    addrs=st.lists(ipv6_addr, max_size=3),
    frag=st.tuples(st.integers(0, 0x1FFF), st.integers(0, 1), u32),
    upper=st.sampled_from(["udp", "tcp", "icmpv6"]),
    sport=ports,
    dport=ports,
    linktype=st.sampled_from(LINKTYPES_V6),
)
def test_ipv6_extension_chain_is_walked_to_the_upper_layer(
    chain, pad, addrs, frag, upper, sport, dport, linktype
):
    if "fragment" in chain:  # one fragment header: scapy's parse is not needed, keep it simple
        chain = [k for k in chain if k != "fragment"] + ["fragment"]
    pkt = IPv6(src="2001:db8::a", dst="2001:db8::b")
    for kind in chain:
        pkt = pkt / _ext(kind, pad, addrs, frag)
    l4 = {
        "udp": UDP(sport=sport, dport=dport),
        "tcp": TCP(sport=sport, dport=dport),
        "icmpv6": ICMPv6EchoRequest(id=sport, seq=dport),
    }[upper]
    proto = {"udp": 17, "tcp": 6, "icmpv6": 58}[upper]
    data = frame(linktype, raw(pkt / l4 / b"data"))
    p = decoded(data, linktype)

    ref = IPv6(raw(pkt / l4 / b"data"))
    expected, layer = [], ref.payload
    for kind in chain:
        n = len(raw(layer)) - len(raw(layer.payload))
        expected.append(({"hbh": 0, "routing": 43, "dstopts": 60, "fragment": 44}[kind], n))
        layer = layer.payload
    assert [(k, n) for k, _at, n in p.ip.extensions] == expected
    assert p.ip.next_header == {"hbh": 0, "routing": 43, "dstopts": 60, "fragment": 44}[chain[0]]
    assert p.ip.proto == p.ip.protocol == proto
    assert p.ip.payload_offset == link_len(linktype) + 40 + sum(n for _k, n in expected)
    if "fragment" in chain:
        offset8, mf, ident = frag
        assert (p.ip.frag_offset, p.ip.mf, p.ip.frag_id) == (offset8 * 8, bool(mf), ident)
        assert p.ip.is_fragment
    if "fragment" in chain and frag[0]:
        assert p.transport is None  # a later fragment starts mid-datagram
        return
    t = p.transport
    assert t.name == upper
    if upper == "icmpv6":
        assert (t.id, t.seq) == (sport, dport)
    else:
        assert (t.sport, t.dport) == (sport, dport)
    if "fragment" not in chain or not frag[1]:
        assert t.checksum_ok is True
    else:  # the first fragment of many: the checksum covers bytes not here
        assert t.checksum_ok is None
    [exts] = [d["ext"] for d in p.layer_fields() if d["layer"] == "ipv6"]
    assert [d["len"] for d in exts] == [n for _k, n in expected]


# ---------------------------------------------------------------- checksum() parity
@SETTINGS
@given(src=ipv4_addr, dst=ipv4_addr, payload=payloads)
def test_ipv4_header_checksum_agrees_with_scapy_checksum(src, dst, payload):
    data = raw(IP(src=src, dst=dst) / payload)
    p = decoded(data)
    assert scapy_checksum(data[:20]) == 0 and p.ip.checksum_ok is True


# ---------------------------------------------------------------- IPv4 options
def test_ipv4_options_match_scapy():
    from scapy.layers.inet import IPOption_NOP, IPOption_Router_Alert, IPOption_RR

    opts = [
        IPOption_RR(routers=["192.0.2.7", "192.0.2.8"]),
        IPOption_NOP(),
        IPOption_Router_Alert(),
    ]
    ref = IP(raw(IP(src="10.0.0.1", dst="10.0.0.2", options=opts) / UDP(sport=1, dport=2)))
    p = decoded(raw(ref))
    assert p.ip.ihl == ref.ihl and p.ip.header_len == 4 * ref.ihl
    rr = bytes([ref.options[0].pointer]) + bytes.fromhex("c0000207c0000208")
    assert p.ip.options == [(7, rr), (1, b""), (148, b"\x00\x00")]  # 16 bytes: no padding
    assert p.ip.checksum_ok is True and (p.udp.sport, p.udp.dport) == (1, 2)
    names = [o["name"] for o in p.layer_fields()[0]["options"]]
    assert names == ["rr", "nop", "ra"]


# ---------------------------------------------------------------- tunnels: p.ip is outermost
def test_ip_is_the_outermost_ip_layer_of_a_tunnel():
    six_in_four = (
        IP(src="192.0.2.1", dst="192.0.2.2")
        / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / UDP(sport=3, dport=4)
    )
    p = decoded(raw(six_in_four))
    assert p.ip is p.ipv4 and p.ip.proto == 41
    assert same_ip(p.ipv6.src, "2001:db8::1") and p.ipv6.proto == 17
    assert (p.udp.sport, p.udp.dport, p.udp.checksum_ok) == (3, 4, True)
    assert [x.name for x in p.layers] == ["ipv4", "ipv6", "udp"]
    four_in_six = (
        IPv6(src="2001:db8::1", dst="2001:db8::2") / IP(src="10.0.0.1", dst="10.0.0.2") / TCP()
    )
    q = decoded(raw(four_in_six))
    assert q.ip is q.ipv6 and q.ip.proto == 4 and q.ipv4.src == "10.0.0.1"
    assert q.tcp.checksum_ok is True


# ---------------------------------------------------------------- link headers
@SETTINGS
@given(
    pkttype=st.integers(0, 4), hatype=u16, addr=st.binary(max_size=8), ifindex=u32, v6=st.booleans()
)
def test_linux_cooked_headers_match_scapy(pkttype, hatype, addr, ifindex, v6):
    from scapy.layers.l2 import CookedLinux, CookedLinuxV2

    l3 = IPv6() / UDP() if v6 else IP() / UDP()
    proto = 0x86DD if v6 else 0x0800
    v1 = decoded(
        raw(
            CookedLinux(
                pkttype=pkttype, lladdrtype=hatype, lladdrlen=len(addr), src=addr, proto=proto
            )
            / l3
        ),
        113,
    )
    assert (v1.link.pkttype, v1.link.hatype, v1.link.addr_raw, v1.link.type) == (
        pkttype,
        hatype,
        addr,
        proto,
    )
    v2 = decoded(
        raw(
            CookedLinuxV2(
                proto=proto,
                ifindex=ifindex,
                lladdrtype=hatype,
                pkttype=pkttype,
                lladdrlen=len(addr),
                src=addr,
            )
            / l3
        ),
        276,
    )
    assert (v2.link.pkttype, v2.link.hatype, v2.link.addr_raw, v2.link.ifindex) == (
        pkttype,
        hatype,
        addr,
        ifindex,
    )
    assert v1.ip.version == v2.ip.version == (6 if v6 else 4)


def test_null_family_in_either_byte_order_and_unknown_families():
    from scapy.layers.l2 import Loopback

    l3 = raw(IP() / UDP())
    assert decoded(raw(Loopback(type=2)) + l3, 0).link.family == 2  # little-endian writer
    assert decoded(b"\0\0\0\x02" + l3, 0).link.family == 2  # big-endian writer
    for fam in (10, 24, 28, 30):  # Linux, NetBSD/OpenBSD, FreeBSD, Darwin AF_INET6
        p = decoded(raw(Loopback(type=fam) / IPv6() / UDP()), 0)
        assert p.ipv6 is not None and p.udp is not None
    p = decoded(raw(Loopback(type=7)) + l3, 0)  # no network layer we know: payload kept
    assert p.ip is None and p.link.family == 7 and p.payload == l3
    # LOOP is always network byte order: the little-endian 2 is not AF_INET there
    assert decode(raw(Loopback(type=2)) + l3, 108).ip is None


# ---------------------------------------------------------------- Ethernet padding
def _pad60(frame: bytes) -> bytes:
    """What a NIC sends for a short frame: zero padding up to the 60-byte minimum."""
    return frame + bytes(max(0, 60 - len(frame)))


def test_ethernet_padding_is_not_payload_and_does_not_spoil_checksums():
    tcp4 = _pad60(raw(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(flags="R")))
    p = decoded(tcp4, 1)
    assert len(tcp4) == 60 and p.ip.total_length == 40 and not p.ip.truncated
    assert p.tcp.checksum_ok is True and p.payload == b""
    udp4 = _pad60(raw(Ether() / IP() / UDP() / b"ab"))
    q = decoded(udp4, 1)
    assert q.udp.checksum_ok is True and q.payload == b"ab"
    icmp4 = _pad60(raw(Ether() / IP() / ICMP() / b"x"))
    assert decoded(icmp4, 1).icmp.checksum_ok is True
    icmp6 = raw(Ether() / IPv6() / ICMPv6EchoRequest(data=b"")) + bytes(4)
    r = decoded(icmp6, 1)
    assert r.icmpv6.checksum_ok is True and r.payload == b""


def test_arp_padding_is_not_payload():
    frame = _pad60(raw(Ether() / ARP(op=1, psrc="192.0.2.1", pdst="192.0.2.2")))
    p = decoded(frame, 1)
    assert len(frame) == 60 and p.arp.tpa == "192.0.2.2"
    assert p.payload == b""  # ARP's length is its own: the rest is link padding
