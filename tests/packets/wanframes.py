"""Reference frames for the link types of wanlinks.py, crafted by scapy where scapy has
the layer (radiotap, 802.11, LLC/SNAP, PPP, pflog) and by hand from the specification
where it does not (Cisco HDLC, Frame Relay, NFLOG, SunATM: the bytes are spelled out).

``FRAMES[linktype]`` is a list of (name, bytes); ``write_all(dir)`` writes one pcap per
link type (scapy's writer), which tcpdump then reads as the oracle.
"""

from __future__ import annotations

import struct
from pathlib import Path

from scapy.layers.dot11 import (
    Dot11,
    Dot11Beacon,
    Dot11Deauth,
    Dot11Elt,
    Dot11ProbeReq,
    Dot11QoS,
    RadioTap,
)
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import LLC, SNAP
from scapy.layers.pflog import PFLog
from scapy.layers.ppp import PPP
from scapy.packet import Raw
from scapy.utils import wrpcap

A1, A2, A3, A4 = "00:11:22:33:44:55", "66:77:88:99:aa:bb", "cc:dd:ee:ff:00:11", "12:34:56:78:9a:bc"
BCAST = "ff:ff:ff:ff:ff:ff"
TO_DS, FROM_DS, PROTECTED = 0x01, 0x02, 0x40

UDP4 = IP(src="198.18.0.1", dst="198.18.0.2") / UDP(sport=1234, dport=5678) / b"hello"
TCP4 = IP(src="198.18.0.1", dst="198.18.0.2") / TCP(sport=1234, dport=80, flags="S", seq=1000)
ICMP4 = IP(src="198.18.0.2", dst="198.18.0.255") / ICMP(id=7, seq=1)
TCP6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=443, dport=5555, flags="SA")
UDP6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=4000, dport=4001)
ECHO6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(id=1, seq=2)


def _snap(ethertype: int) -> LLC:
    return LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0, code=ethertype)


DOT11 = [
    ("beacon", Dot11(type=0, subtype=8, addr1=BCAST, addr2=A1, addr3=A1, SC=16 * 7)
     / Dot11Beacon(cap=0x0011, beacon_interval=100) / Dot11Elt(ID=0, info=b"labnet")
     / Dot11Elt(ID=1, info=bytes([0x82, 0x84, 0x8B, 0x96])) / Dot11Elt(ID=3, info=b"\x06")),
    ("data-tods-udp", Dot11(type=2, subtype=0, FCfield=TO_DS, addr1=A1, addr2=A2, addr3=A3,
                            SC=16 * 42) / _snap(0x0800) / UDP4),
    ("qos-fromds-tcp", Dot11(type=2, subtype=8, FCfield=FROM_DS, addr1=A2, addr2=A1, addr3=A3)
     / Dot11QoS(TID=5) / _snap(0x0800) / TCP4),
    ("data-nods-icmp", Dot11(type=2, subtype=0, addr1=A2, addr2=A1, addr3=A1) / _snap(0x0800)
     / ICMP4),
    ("wds-ipv6", Dot11(type=2, subtype=0, FCfield=TO_DS | FROM_DS, addr1=A1, addr2=A2,
                       addr3=A3, addr4=A4) / _snap(0x86DD) / ECHO6),
    ("protected", Dot11(type=2, subtype=0, FCfield=TO_DS | PROTECTED, addr1=A1, addr2=A2,
                        addr3=A3) / Raw(b"\x5a" * 40)),
    ("ack", Dot11(type=1, subtype=13, addr1=A1)),
    ("rts", Dot11(type=1, subtype=11, addr1=A1, addr2=A2)),
    ("probe-req", Dot11(type=0, subtype=4, addr1=BCAST, addr2=A2, addr3=BCAST)
     / Dot11ProbeReq() / Dot11Elt(ID=0, info=b"")),
    ("deauth", Dot11(type=0, subtype=12, addr1=A1, addr2=A2, addr3=A1) / Dot11Deauth(reason=7)),
    ("null", Dot11(type=2, subtype=4, FCfield=TO_DS, addr1=A1, addr2=A2, addr3=A1)),
]  # fmt: skip

_RT = RadioTap(
    present="Flags+Rate+Channel+dBm_AntSignal+Antenna",
    Flags=0,
    Rate=2,
    ChannelFrequency=2437,
    ChannelFlags="CCK+2GHz",
    dBm_AntSignal=-40,
    Antenna=1,
)
_RT_FCS = RadioTap(
    present="TSFT+Flags+Rate+Channel+dBm_AntSignal+dBm_AntNoise",
    mac_timestamp=123456,
    Flags="FCS",
    Rate=108,
    ChannelFrequency=5180,
    ChannelFlags="OFDM+5GHz",
    dBm_AntSignal=-60,
    dBm_AntNoise=-95,
)


def _b(x: object) -> bytes:
    return bytes(x)  # type: ignore[call-overload]


FRAMES: dict[int, list[tuple[str, bytes]]] = {
    105: [(n, _b(f)) for n, f in DOT11],
    127: [(n, _b(_RT / f)) for n, f in DOT11]
    + [(f"fcs-{n}", _b(_RT_FCS / f) + b"\x11\x22\x33\x44") for n, f in DOT11],
    9: [
        ("ip", _b(PPP(proto=0x21) / UDP4)),
        ("ipv6", _b(PPP(proto=0x57) / UDP6)),
        ("hdlc-ip", b"\xff\x03\x00\x21" + _b(TCP4)),
        ("lcp", b"\xc0\x21\x01\x01\x00\x04"),
    ],
    50: [("ip", b"\xff\x03\x00\x21" + _b(UDP4)), ("ipv6", b"\xff\x03\x00\x57" + _b(TCP6))],
    # Cisco HDLC: address (0x0f unicast, 0x8f broadcast), control 0, EtherType
    104: [
        ("ip", b"\x0f\x00\x08\x00" + _b(UDP4)),
        ("ipv6", b"\x8f\x00\x86\xdd" + _b(TCP6)),
        ("tcp", b"\x0f\x00\x08\x00" + _b(TCP4)),
    ],
    # Frame Relay: Q.922 DLCI 100 (0x18 0x41), then UI + NLPID or a Cisco EtherType
    107: [
        ("nlpid-ip", b"\x18\x41\x03\xcc" + _b(UDP4)),
        ("cisco-ipv6", b"\x18\x41\x86\xdd" + _b(TCP6)),
        ("nlpid-ipv6", b"\x18\x41\x03\x8e" + _b(UDP6)),
    ],
    117: [
        (
            "ipv4",
            _b(
                PFLog(
                    addrfamily=2,
                    action=1,
                    reason=0,
                    iface="em0",
                    ruleset="",
                    rulenumber=3,
                    subrulenumber=-1,
                    direction=2,
                )
                / TCP4
            ),
        ),
        (
            "ipv6",
            _b(
                PFLog(
                    addrfamily=24,
                    action=0,
                    reason=0,
                    iface="em1",
                    rulenumber=7,
                    subrulenumber=-1,
                    direction=1,
                )
                / UDP6
            ),
        ),
    ],  # fmt: skip
    # SunATM: flags (type 2 = LLC; 0x80 transmitted), VPI, VCI (2), then LLC/SNAP
    123: [
        ("llc-ip", b"\x02\x00\x00\x20" + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + _b(UDP4)),
        ("llc-ipv6", b"\x82\x01\x00\x64" + b"\xaa\xaa\x03\x00\x00\x00\x86\xdd" + _b(TCP6)),
    ],
}


def _nflog(family: int, res: int, payload: bytes, prefix: bytes) -> bytes:
    """family, version 0, resource ID (big-endian), then little-endian TLVs padded to 4."""
    out = bytes((family, 0)) + res.to_bytes(2, "big")
    hwproto = b"\x08\x00" if family == 2 else b"\x86\xdd"
    for kind, value in ((1, hwproto + b"\x03\x00"), (10, prefix + b"\0"), (9, payload)):
        out += struct.pack("<HH", len(value) + 4, kind) + value + b"\0" * (-len(value) % 4)
    return out


FRAMES[239] = [
    ("ipv4", _nflog(2, 20, _b(UDP4), b"drop")),
    ("ipv6", _nflog(10, 5, _b(TCP6), b"in6")),
]


def write_all(directory: Path) -> dict[int, Path]:
    out = {}
    for lt, frames in FRAMES.items():
        path = directory / f"lt{lt}.pcap"
        wrpcap(str(path), [Raw(b) for _, b in frames], linktype=lt)
        out[lt] = path
    return out
