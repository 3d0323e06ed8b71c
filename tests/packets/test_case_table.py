"""One table of cases drives both directions (the h11 habit).

Each case names field values once. netdiag builds bytes from them and scapy builds
bytes from them; where both encodings are canonical the bytes must be identical.
Then both byte strings are decoded by netdiag and must give back the case's fields.
"""

from __future__ import annotations

from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, UDPerror
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6PacketTooBig, IPerror6, IPv6
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1Q, Ether, Loopback, LoopbackOpenBSD
from scapy.packet import Raw

from netdiag import decode
from netdiag.packets import arp, ethernet, icmp, icmpv6, ipv4, ipv6, linklayer, tcp, udp
from netdiag.packets.addr import ip_bytes, mac_bytes

from .reference import raw, same_ip

MAC_A, MAC_B = "02:00:5e:10:00:01", "02:00:5e:10:00:02"

CASES: list[dict[str, Any]] = [
    {
        "name": "ethernet-ipv4-tcp-syn-with-options",
        "link": 1,
        "l3": "ipv4",
        "l4": "tcp",
        "src": "192.0.2.10",
        "dst": "198.51.100.20",
        "ttl": 64,
        "id": 0x1234,
        "df": True,
        "sport": 43512,
        "dport": 443,
        "seq": 0xDEADBEEF,
        "ack": 0,
        "flags": tcp.SYN,
        "window": 64240,
        "payload": b"",
        "options": [(2, 1460), (4, None), (8, (123456, 0)), (1, None), (3, 7)],
    },
    {
        "name": "ethernet-qinq-ipv4-udp",
        "link": 1,
        "vlans": [(0x88A8, 100, 3, False), (0x8100, 200, 0, True)],
        "l3": "ipv4",
        "l4": "udp",
        "src": "10.0.0.1",
        "dst": "10.0.0.2",
        "ttl": 1,
        "id": 7,
        "df": False,
        "sport": 33434,
        "dport": 33435,
        "payload": b"traceroute probe",
    },
    {
        "name": "ethernet-ipv6-tcp-ack-with-sack",
        "link": 1,
        "l3": "ipv6",
        "l4": "tcp",
        "src": "2001:db8::1",
        "dst": "2001:db8:0:1::2",
        "hlim": 57,
        "sport": 22,
        "dport": 50000,
        "seq": 1,
        "ack": 2,
        "flags": tcp.ACK,
        "window": 501,
        "payload": b"ssh",
        "options": [(1, None), (1, None), (5, [(100, 200), (300, 400)])],
    },
    {
        "name": "raw-ipv4-icmp-echo-request",
        "link": 101,
        "l3": "ipv4",
        "l4": "icmp",
        "src": "192.0.2.1",
        "dst": "192.0.2.2",
        "ttl": 64,
        "id": 1,
        "df": True,
        "ident": 0x4D2,
        "seq": 1,
        "payload": bytes(range(56)),
    },
    {
        "name": "ipv6-linktype-icmpv6-echo-request",
        "link": 229,
        "l3": "ipv6",
        "l4": "icmpv6",
        "src": "fe80::1",
        "dst": "fe80::2",
        "hlim": 64,
        "ident": 77,
        "seq": 3,
        "payload": b"abcdefgh",
    },
    {
        "name": "sll2-ipv4-udp-dns",
        "link": 276,
        "l3": "ipv4",
        "l4": "udp",
        "src": "10.1.1.1",
        "dst": "10.1.1.53",
        "ttl": 64,
        "id": 0,
        "df": True,
        "sport": 5353,
        "dport": 53,
        "payload": b"\x12\x34\x01\x00",
    },
    {
        "name": "sll-ipv6-udp",
        "link": 113,
        "l3": "ipv6",
        "l4": "udp",
        "src": "::1",
        "dst": "::1",
        "hlim": 64,
        "sport": 1000,
        "dport": 2000,
        "payload": b"x",
    },
    {
        "name": "null-ipv4-tcp-fin",
        "link": 0,
        "l3": "ipv4",
        "l4": "tcp",
        "src": "127.0.0.1",
        "dst": "127.0.0.1",
        "ttl": 64,
        "id": 99,
        "df": True,
        "sport": 80,
        "dport": 40000,
        "seq": 5,
        "ack": 6,
        "flags": tcp.FIN | tcp.ACK,
        "window": 65535,
        "payload": b"",
        "options": [],
    },
    {
        "name": "loop-ipv6-udp",
        "link": 108,
        "l3": "ipv6",
        "l4": "udp",
        "src": "::1",
        "dst": "::1",
        "hlim": 1,
        "sport": 7,
        "dport": 9,
        "payload": b"",
    },
    {
        "name": "ethernet-arp-request",
        "link": 1,
        "l3": "arp",
        "op": 1,
        "sha": MAC_A,
        "spa": "192.0.2.1",
        "tha": "00:00:00:00:00:00",
        "tpa": "192.0.2.254",
    },
    {
        "name": "ipv4-icmp-time-exceeded-quoting-udp",
        "link": 228,
        "l3": "ipv4",
        "l4": "icmp-err",
        "src": "203.0.113.1",
        "dst": "192.0.2.1",
        "ttl": 254,
        "id": 0,
        "df": False,
        "icmp_type": 11,
        "code": 0,
        "mtu": 0,
        "inner_src": "192.0.2.1",
        "inner_dst": "198.51.100.9",
        "sport": 40001,
        "dport": 33435,
    },
    {
        "name": "ipv4-icmp-fragmentation-needed",
        "link": 101,
        "l3": "ipv4",
        "l4": "icmp-err",
        "src": "203.0.113.1",
        "dst": "192.0.2.1",
        "ttl": 254,
        "id": 0,
        "df": False,
        "icmp_type": 3,
        "code": 4,
        "mtu": 1400,
        "inner_src": "192.0.2.1",
        "inner_dst": "198.51.100.9",
        "sport": 40001,
        "dport": 33435,
    },
    {
        "name": "ipv6-packet-too-big",
        "link": 101,
        "l3": "ipv6",
        "l4": "icmpv6-ptb",
        "src": "2001:db8::fe",
        "dst": "2001:db8::1",
        "hlim": 64,
        "mtu": 1280,
        "inner_src": "2001:db8::1",
        "inner_dst": "2001:db8:9::9",
        "sport": 4000,
        "dport": 5000,
    },
]


def _scapy_tcp_options(opts):
    names = {2: "MSS", 3: "WScale", 4: "SAckOK", 8: "Timestamp", 1: "NOP"}
    out = []
    for kind, val in opts:
        if kind == 5:
            out.append(("SAck", tuple(x for blk in val for x in blk)))
        elif kind == 4:
            out.append(("SAckOK", b""))
        else:
            out.append((names[kind], val))
    return out


# ---------------------------------------------------------------- netdiag builds
def build_netdiag(c: dict[str, Any]) -> bytes:
    if c["l3"] == "arp":
        l3 = arp.build(c["op"], c["sha"], ip_bytes(c["spa"]), c["tha"], ip_bytes(c["tpa"]))
        ethertype = 0x0806
    else:
        src, dst = c["src"], c["dst"]
        l4 = c["l4"]
        if l4 == "tcp":
            seg = tcp.build(
                c["sport"],
                c["dport"],
                seq=c["seq"],
                ack=c["ack"],
                flags=c["flags"],
                window=c["window"],
                options=tcp.build_options(c["options"]),
                payload=c["payload"],
                src=src,
                dst=dst,
            )
        elif l4 == "udp":
            seg = udp.build(c["sport"], c["dport"], c["payload"], src=src, dst=dst)
        elif l4 == "icmp":
            seg = icmp.build_echo(c["ident"], c["seq"], c["payload"])
        elif l4 == "icmpv6":
            seg = icmpv6.build_echo(c["ident"], c["seq"], c["payload"], src, dst)
        elif l4 == "icmp-err":
            inner = ipv4.build(
                c["inner_src"],
                c["inner_dst"],
                17,
                udp.build(c["sport"], c["dport"]),
                ttl=1,
                ident=0x4242,
            )
            seg = icmp.build_error(c["icmp_type"], c["code"], inner, mtu=c["mtu"])
        else:  # icmpv6-ptb
            inner = ipv6.build(
                c["inner_src"],
                c["inner_dst"],
                17,
                udp.build(c["sport"], c["dport"], src=c["inner_src"], dst=c["inner_dst"]),
                hop_limit=1,
            )
            seg = icmpv6.build(2, 0, c["mtu"], inner, src, dst)
        proto = {"tcp": 6, "udp": 17, "icmp": 1, "icmp-err": 1, "icmpv6": 58, "icmpv6-ptb": 58}[l4]
        if c["l3"] == "ipv4":
            l3 = ipv4.build(src, dst, proto, seg, ttl=c["ttl"], ident=c["id"], df=c["df"])
            ethertype = 0x0800
        else:
            l3 = ipv6.build(src, dst, proto, seg, hop_limit=c["hlim"])
            ethertype = 0x86DD
    link = c["link"]
    if link == 1:
        vlans = tuple(
            (tpid, ethernet.tci(vid, pcp, dei)) for tpid, vid, pcp, dei in c.get("vlans", [])
        )
        return ethernet.build(MAC_B, MAC_A, ethertype, l3, vlans=vlans)
    if link == 113:
        return linklayer.build_sll(ethertype, l3, addr=mac_bytes(MAC_A))
    if link == 276:
        return linklayer.build_sll2(ethertype, l3, addr=mac_bytes(MAC_A))
    if link in (0, 108):
        return linklayer.build_null(2 if ethertype == 0x0800 else 24, l3, network_order=link == 108)
    return l3


# ---------------------------------------------------------------- scapy builds
def build_scapy(c: dict[str, Any]) -> bytes:
    if c["l3"] == "arp":
        l3 = ARP(op=c["op"], hwsrc=c["sha"], psrc=c["spa"], hwdst=c["tha"], pdst=c["tpa"])
        ethertype = 0x0806
    else:
        l4 = c["l4"]
        if l4 == "tcp":
            seg = (
                TCP(
                    sport=c["sport"],
                    dport=c["dport"],
                    seq=c["seq"],
                    ack=c["ack"],
                    flags=c["flags"],
                    window=c["window"],
                    options=_scapy_tcp_options(c["options"]),
                )
                / c["payload"]
            )
        elif l4 == "udp":
            seg = UDP(sport=c["sport"], dport=c["dport"]) / c["payload"]
        elif l4 == "icmp":
            seg = ICMP(type=8, id=c["ident"], seq=c["seq"]) / c["payload"]
        elif l4 == "icmpv6":
            seg = ICMPv6EchoRequest(id=c["ident"], seq=c["seq"], data=c["payload"])
        elif l4 == "icmp-err":
            inner = IPerror(src=c["inner_src"], dst=c["inner_dst"], ttl=1, id=0x4242) / UDPerror(
                sport=c["sport"], dport=c["dport"], chksum=0
            )
            seg = ICMP(type=c["icmp_type"], code=c["code"], nexthopmtu=c["mtu"]) / Raw(raw(inner))
        else:
            inner = IPerror6(src=c["inner_src"], dst=c["inner_dst"], hlim=1) / UDPerror(
                sport=c["sport"], dport=c["dport"]
            )
            seg = ICMPv6PacketTooBig(mtu=c["mtu"]) / Raw(raw(IPv6(raw(inner))))
        if c["l3"] == "ipv4":
            l3 = (
                IP(
                    src=c["src"],
                    dst=c["dst"],
                    ttl=c["ttl"],
                    id=c["id"],
                    flags="DF" if c["df"] else 0,
                )
                / seg
            )
            ethertype = 0x0800
        else:
            l3 = IPv6(src=c["src"], dst=c["dst"], hlim=c["hlim"]) / seg
            ethertype = 0x86DD
    link = c["link"]
    if link == 1:
        tags = c.get("vlans", [])
        types = [t[0] for t in tags] + [ethertype]
        pkt = Ether(dst=MAC_B, src=MAC_A, type=types[0])
        for i, (_tpid, vid, pcp, dei) in enumerate(tags):
            pkt = pkt / Dot1Q(vlan=vid, prio=pcp, dei=int(dei), type=types[i + 1])
        return raw(pkt / l3)
    if link == 113:
        return raw(
            CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=mac_bytes(MAC_A), proto=ethertype)
            / l3
        )
    if link == 276:
        return raw(
            CookedLinuxV2(
                proto=ethertype,
                ifindex=1,
                lladdrtype=1,
                pkttype=0,
                lladdrlen=6,
                src=mac_bytes(MAC_A),
            )
            / l3
        )
    if link == 0:
        return raw(Loopback(type=2 if ethertype == 0x0800 else 24) / l3)
    if link == 108:
        return raw(LoopbackOpenBSD(type=2 if ethertype == 0x0800 else 24) / l3)
    return raw(l3)


# ---------------------------------------------------------------- decoding checks
def check_decoded(p, c: dict[str, Any]) -> None:
    assert p.error is None, p.error
    if c["link"] == 1:
        assert (p.eth.src, p.eth.dst) == (MAC_A, MAC_B)
        assert [(v.tpid, v.vid, v.pcp, v.dei) for v in p.vlans] == c.get("vlans", [])
    elif c["link"] in (113, 276):
        assert p.link.addr == MAC_A
    elif c["link"] in (0, 108):
        assert p.link.family == (2 if c["l3"] == "ipv4" else 24)
    if c["l3"] == "arp":
        a = p.arp
        assert (a.op, a.sha, a.spa, a.tha, a.tpa) == (
            c["op"],
            c["sha"],
            c["spa"],
            c["tha"],
            c["tpa"],
        )
        return
    ip = p.ip
    assert same_ip(ip.src, c["src"]) and same_ip(ip.dst, c["dst"])
    if c["l3"] == "ipv4":
        assert (ip.ttl, ip.id, ip.df, ip.checksum_ok) == (c["ttl"], c["id"], c["df"], True)
    else:
        assert ip.hop_limit == c["hlim"]
    t = p.transport
    l4 = c["l4"]
    assert t.checksum_ok is True
    if l4 in ("tcp", "udp"):
        assert (t.sport, t.dport) == (c["sport"], c["dport"])
        assert p.payload == c["payload"]
    if l4 == "tcp":
        assert (t.seq, t.ack, t.flags, t.window) == (c["seq"], c["ack"], c["flags"], c["window"])
        opts = c["options"]
        padded = opts + ([(0, None)] if _opt_len(opts) % 4 else [])  # EOL padding
        assert t.options == padded
    if l4 in ("icmp", "icmpv6"):
        assert (t.id, t.seq) == (c["ident"], c["seq"]) and p.payload == c["payload"]
    if l4 == "icmp-err":
        assert (t.type, t.code, t.mtu) == (
            c["icmp_type"],
            c["code"],
            c["mtu"] if c["icmp_type"] == 3 else None,
        )
        q = t.quoted
        inner = (c["inner_src"], c["inner_dst"], 1, 0x4242)
        assert (q.ip.src, q.ip.dst, q.ip.ttl, q.ip.id) == inner
        assert (q.udp.sport, q.udp.dport) == (c["sport"], c["dport"])
    if l4 == "icmpv6-ptb":
        assert (t.type, t.mtu) == (2, c["mtu"])
        q = t.quoted
        assert same_ip(q.ip.src, c["inner_src"]) and q.ip.hop_limit == 1
        assert (q.udp.sport, q.udp.dport, q.udp.checksum_ok) == (c["sport"], c["dport"], True)


def _opt_len(opts) -> int:
    """Encoded length of the options before padding (RFC 9293 §3.2, RFC 7323, RFC 2018)."""
    sizes = {0: 1, 1: 1, 2: 4, 3: 3, 4: 2, 8: 10}
    return sum(2 + 8 * len(v) if k == 5 else sizes[k] for k, v in opts)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_netdiag_and_scapy_write_the_same_bytes(case):
    assert build_netdiag(case) == build_scapy(case)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_netdiag_reads_back_the_case_from_its_own_bytes(case):
    check_decoded(decode(build_netdiag(case), case["link"]), case)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_netdiag_reads_back_the_case_from_scapy_bytes(case):
    check_decoded(decode(build_scapy(case), case["link"]), case)
