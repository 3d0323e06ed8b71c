"""The dispatcher's fast path gives the layers each protocol module's ``decode`` gives.

``decode`` fills the slots of plainly valid headers itself (dispatch.py, STYLE habit 9)
instead of calling the layers' validating ``decode`` classmethods. This checks the
two agree: every frame (Ethernet, 0-2 VLAN tags, then ARP or IPv4/IPv6 with TCP,
UDP, ICMP or ICMPv6; fragments, IPv6 extension headers, Ethernet padding, and the
same frames cut at any length) is decoded by ``decode`` and, layer by layer, by
the modules' own decoders; every slot and property of every layer, and the error,
must be equal.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag import DecodeError, decode
from netdiag.packets import ethernet, icmp, icmpv6, ipv4, ipv6, tcp, udp
from netdiag.packets.arp import Arp
from netdiag.packets.arp import build as build_arp
from netdiag.packets.ethernet import Ethernet, VlanTag
from netdiag.packets.icmp import ICMP
from netdiag.packets.icmpv6 import ICMPv6
from netdiag.packets.ipv4 import IPv4
from netdiag.packets.ipv6 import IPv6
from netdiag.packets.tcp import TCP
from netdiag.packets.udp import UDP

from .reference import ipv4_addr, ipv6_addr, payloads, ports, u16

SETTINGS = settings(max_examples=300, deadline=None)
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
TRANSPORTS = {6: TCP, 17: UDP, 1: ICMP, 58: ICMPv6}


@st.composite
def frames(draw: Any) -> bytes:
    v6 = draw(st.booleans())
    src, dst = draw(ipv6_addr if v6 else ipv4_addr), draw(ipv6_addr if v6 else ipv4_addr)
    kind = draw(st.sampled_from(["tcp", "udp", "icmp", "arp"]))
    body = draw(payloads)
    if kind == "tcp":
        seg = tcp.build(draw(ports), draw(ports), payload=body, src=src, dst=dst)
        proto = 6
    elif kind == "udp":
        seg, proto = udp.build(draw(ports), draw(ports), body, src=src, dst=dst), 17
    elif v6:
        seg, proto = icmpv6.build_echo(draw(u16), draw(u16), body, src, dst), 58
    else:
        seg, proto = icmp.build_echo(draw(u16), draw(u16), body), 1
    if kind == "arp":
        et, l3 = 0x0806, build_arp(1, MAC_A, bytes(4), MAC_B, bytes(4))
    elif v6:
        if draw(st.booleans()):  # behind a hop-by-hop header
            seg, proto = ipv6.build_extension(proto, b"\x01\x00") + seg, 0
        et, l3 = 0x86DD, ipv6.build(src, dst, proto, seg)
    else:
        frag = draw(st.sampled_from([0, 0, 0, 8, 64]))
        mf = draw(st.booleans()) if frag == 0 else False
        l3 = ipv4.build(src, dst, proto, seg, frag_offset=frag, mf=mf, ident=draw(u16))
        et = 0x0800
    vlans = tuple((0x8100, draw(st.integers(0, 4095))) for _ in range(draw(st.integers(0, 2))))
    frame = ethernet.build(MAC_B, MAC_A, et, l3, vlans=vlans)
    frame += bytes(draw(st.sampled_from([0, 0, 6])))  # Ethernet padding
    return frame[: draw(st.integers(0, len(frame)))] if draw(st.booleans()) else frame


def module_walk(data: bytes) -> tuple[list[Any], DecodeError | None]:
    """The same frame decoded by each layer's own ``decode``, walked by hand."""
    layers: list[Any] = []
    try:
        eth = Ethernet.decode(data)
        layers.append(eth)
        off, t = ethernet.HEADER_LEN, eth.type
        while t == 0x8100:
            tag = VlanTag.decode(data, off, t)
            layers.append(tag)
            off, t = off + ethernet.TAG_LEN, tag.type
        if t == 0x0806:
            layers.append(Arp.decode(data, off))
            return layers, None
        ip: IPv4 | IPv6 = IPv4.decode(data, off) if t == 0x0800 else IPv6.decode(data, off)
        layers.append(ip)
        if isinstance(ip, IPv6) and ip.next_header in ipv6.EXTENSION_HEADERS:
            ip.walk_extensions()
        if ip.frag_offset:
            return layers, None
        cls = TRANSPORTS[ip.protocol]
        layers.append(cls.decode(data, ip.payload_offset, ip.end, ip))
    except DecodeError as e:
        return layers, e
    return layers, None


def state(layer: Any) -> dict[str, Any]:
    """Every slot and property of ``layer`` (what raises, as its message)."""
    out: dict[str, Any] = {"class": type(layer)}
    for name in dir(type(layer)):
        kind = type(getattr(type(layer), name, None)).__name__
        if kind not in ("property", "member_descriptor") or name in ("_ip", "_buf", "_quote"):
            continue
        try:
            out[name] = getattr(layer, name)
        except DecodeError as e:
            out[name] = str(e)
    return out


@SETTINGS
@given(data=frames())
def test_fast_path_layers_equal_the_protocol_modules_decoders(data):
    p = decode(data, 1)
    layers, error = module_walk(data)
    assert [state(x) for x in p.layers] == [state(x) for x in layers]
    assert str(p.error) == str(error)
    assert p.layer_fields() == [{"layer": x.name, **x.fields()} for x in layers]


def test_ethernet_layer_is_built_when_first_read_and_kept():
    data = ethernet.build(MAC_B, MAC_A, 0x0800, ipv4.build("192.0.2.1", "192.0.2.2", 17))
    p = decode(data, 1)
    assert "eth" not in vars(p)
    assert p.eth is p.link and p.eth is p.eth and p.eth.src == MAC_A
    assert decode(data, 101).eth is None and decode(data[:13], 1).eth is None
