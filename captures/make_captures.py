"""Write the sample captures of captures/ (see README.md there).

Deterministic: fixed timestamps, addresses and field values, no randomness, so a
re-run writes byte-identical files. Packets are built with netdiag's own builders
and written with netdiag's own writers. Run from the repository root:

    .venv/bin/python captures/make_captures.py      (or: PYTHONPATH=. python ...)

An optional argument names another output directory (the tests use it to check
that a re-run reproduces the committed files byte for byte).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the netdiag of this checkout, however we are run

from netdiag.capture import PcapNgWriter, PcapWriter  # noqa: E402
from netdiag.packets import arp, ethernet, icmp, icmpext, icmpv6, ipv4, ipv6, tcp, udp  # noqa: E402
from netdiag.packets.addr import ip_bytes, mac_bytes  # noqa: E402
from netdiag.packets.linklayer import build_sll2  # noqa: E402

T0 = 1_700_000_000 * 1_000_000_000  # 2023-11-14 22:13:20 UTC, in ns
MS = 1_000_000
US = 1_000

# documentation addresses (RFC 5737, RFC 3849) and locally administered MACs
CLIENT, SERVER, ROUTER, RESOLVER = "192.0.2.10", "198.51.100.80", "203.0.113.1", "192.0.2.53"
MAC_C, MAC_S, MAC_R = "02:00:00:00:00:0a", "02:00:00:00:00:50", "02:00:00:00:00:01"
V6_C, V6_S, V6_R = "2001:db8:1::10", "2001:db8:2::80", "fe80::1"
V6_C_LL = "fe80::a"
BCAST = "ff:ff:ff:ff:ff:ff"

Frames = list[tuple[int, bytes]]  # (ts_ns, frame)


def eth4(src_mac: str, dst_mac: str, ip: bytes, vlans: tuple[tuple[int, int], ...] = ()) -> bytes:
    return ethernet.build(dst_mac, src_mac, 0x0800, ip, vlans)


def eth6(src_mac: str, dst_mac: str, ip: bytes) -> bytes:
    return ethernet.build(dst_mac, src_mac, 0x86DD, ip)


def tcp4(src: str, dst: str, sport: int, dport: int, *, ident: int, **kw: object) -> bytes:
    seg = tcp.build(sport, dport, src=src, dst=dst, **kw)  # type: ignore[arg-type]
    return ipv4.build(src, dst, 6, seg, ident=ident, df=True)


def udp4(src: str, dst: str, sport: int, dport: int, payload: bytes, ident: int) -> bytes:
    return ipv4.build(src, dst, 17, udp.build(sport, dport, payload, src=src, dst=dst), ident=ident)


# ---------------------------------------------------------------- TCP
def tcp_handshake() -> Frames:
    """A client fetches a page: handshake with options, data, a SACK, FIN both ways."""
    c, s = (CLIENT, SERVER, 40000, 80), (SERVER, CLIENT, 80, 40000)
    isn_c, isn_s = 0x1000_0000, 0x2000_0000
    o = tcp.build_options
    syn_opts = o(
        [
            (tcp.OPT_MSS, 1460),
            (tcp.OPT_SACK_PERM, None),
            (tcp.OPT_TS, (1000, 0)),
            (tcp.OPT_NOP, None),
            (tcp.OPT_WSCALE, 7),
        ]
    )
    synack_opts = o(
        [
            (tcp.OPT_MSS, 1400),
            (tcp.OPT_SACK_PERM, None),
            (tcp.OPT_TS, (5000, 1000)),
            (tcp.OPT_NOP, None),
            (tcp.OPT_WSCALE, 9),
        ]
    )

    def ts(a: int, b: int) -> bytes:
        return o([(tcp.OPT_NOP, None), (tcp.OPT_NOP, None), (tcp.OPT_TS, (a, b))])

    req = b"GET / HTTP/1.1\r\nHost: www.example\r\n\r\n"
    part1 = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"
    part2 = b"<html>netdiag sample page</html>\n"
    part3 = b"padding!"
    a_c, a_s = isn_c + 1, isn_s + 1
    sack = o(
        [
            (tcp.OPT_NOP, None),
            (tcp.OPT_NOP, None),
            (tcp.OPT_TS, (1003, 5002)),
            (tcp.OPT_NOP, None),
            (tcp.OPT_NOP, None),
            (
                tcp.OPT_SACK,
                [(a_s + len(part1) + len(part2), a_s + len(part1) + len(part2) + len(part3))],
            ),
        ]
    )
    seqs_s = a_s + len(part1)
    segs = [
        (0, c, dict(seq=isn_c, flags=tcp.SYN, window=64240, options=syn_opts)),
        (
            20,
            s,
            dict(seq=isn_s, ack=a_c, flags=tcp.SYN | tcp.ACK, window=65160, options=synack_opts),
        ),
        (40, c, dict(seq=a_c, ack=a_s, flags=tcp.ACK, window=502, options=ts(1001, 5000))),
        (
            41,
            c,
            dict(
                seq=a_c,
                ack=a_s,
                flags=tcp.PSH | tcp.ACK,
                window=502,
                options=ts(1001, 5000),
                payload=req,
            ),
        ),
        (
            60,
            s,
            dict(
                seq=a_s,
                ack=a_c + len(req),
                flags=tcp.ACK,
                window=128,
                options=ts(5001, 1001),
                payload=part1,
            ),
        ),
        # part2 is lost; part3 arrives and the client acknowledges it selectively
        (
            61,
            s,
            dict(
                seq=seqs_s + len(part2),
                ack=a_c + len(req),
                flags=tcp.PSH | tcp.ACK,
                window=128,
                options=ts(5002, 1001),
                payload=part3,
            ),
        ),
        (62, c, dict(seq=a_c + len(req), ack=seqs_s, flags=tcp.ACK, window=502, options=sack)),
        (
            280,
            s,
            dict(
                seq=seqs_s,
                ack=a_c + len(req),
                flags=tcp.ACK,
                window=128,
                options=ts(5010, 1003),
                payload=part2,
            ),
        ),
        (
            281,
            c,
            dict(
                seq=a_c + len(req),
                ack=seqs_s + len(part2) + len(part3),
                flags=tcp.ACK,
                window=502,
                options=ts(1010, 5010),
            ),
        ),
        (
            300,
            c,
            dict(
                seq=a_c + len(req),
                ack=seqs_s + len(part2) + len(part3),
                flags=tcp.FIN | tcp.ACK,
                window=502,
                options=ts(1011, 5010),
            ),
        ),
        (
            320,
            s,
            dict(
                seq=seqs_s + len(part2) + len(part3),
                ack=a_c + len(req) + 1,
                flags=tcp.FIN | tcp.ACK,
                window=128,
                options=ts(5012, 1011),
            ),
        ),
        (
            340,
            c,
            dict(
                seq=a_c + len(req) + 1,
                ack=seqs_s + len(part2) + len(part3) + 1,
                flags=tcp.ACK,
                window=502,
                options=ts(1012, 5012),
            ),
        ),
    ]
    out = []
    for i, (ms, (src, dst, sp, dp), kw) in enumerate(segs):
        ip = tcp4(src, dst, sp, dp, ident=0x100 + i, **kw)
        macs = (MAC_C, MAC_S) if src == CLIENT else (MAC_S, MAC_C)
        out.append((T0 + ms * MS + i * US, eth4(macs[0], macs[1], ip)))
    return out


# ---------------------------------------------------------------- UDP, ICMP
def dns_query(qid: int, name: str, answer: bytes | None = None) -> bytes:
    qname = b"".join(bytes((len(p),)) + p.encode() for p in name.split(".")) + b"\x00"
    question = qname + struct.pack("!HH", 1, 1)
    if answer is None:
        return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question
    rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + answer
    return struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + rr


def udp_dns() -> Frames:
    q = udp4(CLIENT, RESOLVER, 53001, 53, dns_query(0x1234, "www.example.com"), 0x200)
    r = udp4(
        RESOLVER, CLIENT, 53, 53001, dns_query(0x1234, "www.example.com", ip_bytes(SERVER)), 0x201
    )
    return [(T0 + 1000 * MS, eth4(MAC_C, MAC_R, q)), (T0 + 1012 * MS, eth4(MAC_R, MAC_C, r))]


def icmp_echo() -> Frames:
    out = []
    payload = bytes(range(0x10, 0x10 + 48))
    for seq in range(1, 4):
        req = ipv4.build(CLIENT, SERVER, 1, icmp.build_echo(0x4E44, seq, payload), ident=seq)
        rep = ipv4.build(
            SERVER, CLIENT, 1, icmp.build_echo(0x4E44, seq, payload, reply=True), ident=0x8000 + seq
        )
        t = T0 + 2000 * MS + seq * 1000 * MS
        out.append((t, eth4(MAC_C, MAC_R, req)))
        out.append((t + 12 * MS + seq * 137 * US, eth4(MAC_R, MAC_C, rep)))
    return out


def icmp_errors() -> Frames:
    """Time exceeded with an MPLS label stack (RFC 4884/4950), fragmentation needed
    with a next-hop MTU (RFC 1191), port unreachable."""
    probe = udp4(CLIENT, SERVER, 33434, 33435, bytes(32), 0x300)
    probe_ttl1 = ipv4.build(CLIENT, SERVER, 17, probe[20:], ident=0x300, ttl=1)
    mpls = icmpext.build_extensions(
        [icmpext.build_mpls_object([(24001, 0, False, 1), (16004, 0, True, 1)])]
    )
    te = icmp.build_error(11, 0, probe_ttl1, extensions=mpls)
    big = tcp4(
        CLIENT, SERVER, 40001, 9, ident=0x301, seq=1, ack=1, flags=tcp.ACK, payload=bytes(1460)
    )
    fn = icmp.build_error(3, 4, big[:28], mtu=1400)
    unreach = icmp.build_error(3, 3, probe)
    return [
        (T0 + 6000 * MS, eth4(MAC_C, MAC_R, probe_ttl1)),
        (
            T0 + 6001 * MS,
            eth4(MAC_R, MAC_C, ipv4.build(ROUTER, CLIENT, 1, te, ttl=255, ident=0x900)),
        ),
        (T0 + 6100 * MS, eth4(MAC_C, MAC_R, big)),
        (
            T0 + 6101 * MS,
            eth4(MAC_R, MAC_C, ipv4.build(ROUTER, CLIENT, 1, fn, ttl=255, ident=0x901)),
        ),
        (T0 + 6200 * MS, eth4(MAC_C, MAC_R, probe)),
        (T0 + 6215 * MS, eth4(MAC_R, MAC_C, ipv4.build(SERVER, CLIENT, 1, unreach, ident=0x902))),
    ]


def ipv4_fragments() -> Frames:
    """A 1200-byte UDP datagram in three fragments (offsets 0, 480, 960)."""
    dgram = udp.build(
        5000, 6000, bytes((i * 7) & 0xFF for i in range(1192)), src=CLIENT, dst=SERVER
    )
    out = []
    for i, off in enumerate((0, 480, 960)):
        chunk = dgram[off : off + 480]
        ip = ipv4.build(
            CLIENT, SERVER, 17, chunk, ident=0x4242, mf=off + 480 < len(dgram), frag_offset=off
        )
        out.append((T0 + 7000 * MS + i * 50 * US, eth4(MAC_C, MAC_R, ip)))
    return out


# ---------------------------------------------------------------- IPv6
def ipv6_ext() -> Frames:
    """Hop-by-hop (router alert), destination options, routing (segment routing,
    RFC 8754) and fragment headers carrying ICMPv6 echo and UDP."""
    echo = icmpv6.build_echo(0x6E64, 1, b"netdiag ipv6 ext", V6_C, V6_S)
    hbh = ipv6.build_extension(60, bytes((5, 2, 0, 0)))  # router alert (MLD=0)
    dst = ipv6.build_extension(58, bytes((0x1E, 4)) + b"\x01\x02\x03\x04")  # experimental
    p1 = ipv6.build(V6_C, V6_S, 0, hbh + dst + echo)
    reply = ipv6.build(
        V6_S, V6_C, 58, icmpv6.build_echo(0x6E64, 1, b"netdiag ipv6 ext", V6_S, V6_C, reply=True)
    )
    srh = ipv6.build_extension(58, bytes((4, 0, 0, 0, 0, 0)) + ip_bytes(V6_S))
    p3 = ipv6.build(V6_C, V6_S, 43, srh + icmpv6.build_echo(0x6E64, 2, b"via srh", V6_C, V6_S))
    dgram = udp.build(40100, 7, bytes(range(100)), src=V6_C, dst=V6_S)
    f1 = ipv6.build(V6_C, V6_S, 44, ipv6.build_fragment(17, 0, True, 0xABCD) + dgram[:64])
    f2 = ipv6.build(V6_C, V6_S, 44, ipv6.build_fragment(17, 64, False, 0xABCD) + dgram[64:])
    frames = [p1, reply, p3, f1, f2]
    macs = [(MAC_C, MAC_R), (MAC_R, MAC_C), (MAC_C, MAC_R), (MAC_C, MAC_R), (MAC_C, MAC_R)]
    return [
        (T0 + 8000 * MS + i * 10 * MS, eth6(a, b, f))
        for i, (f, (a, b)) in enumerate(zip(frames, macs, strict=True))
    ]


def _lla(opt_type: int, mac: str) -> bytes:
    return bytes((opt_type, 1)) + mac_bytes(mac)


def icmpv6_nd() -> Frames:
    """RS, RA (source link-layer, MTU, prefix information), NS, NA, packet too big."""
    all_nodes, all_routers, sol = "ff02::1", "ff02::2", "ff02::1:ff00:80"
    rs = icmpv6.build(133, 0, 0, _lla(1, MAC_C), V6_C_LL, all_routers)
    prefix = struct.pack("!BBBBIII16s", 3, 4, 64, 0xC0, 86400, 14400, 0, ip_bytes("2001:db8:1::"))
    ra_body = struct.pack("!II", 0, 0) + _lla(1, MAC_R) + struct.pack("!BBHI", 5, 1, 0, 1500)
    ra = icmpv6.build(134, 0, (64 << 24) | (0 << 16) | 1800, ra_body + prefix, V6_R, all_nodes)
    ns = icmpv6.build(135, 0, 0, ip_bytes(V6_S) + _lla(1, MAC_C), V6_C, sol)
    na = icmpv6.build(136, 0, 0x60000000, ip_bytes(V6_S) + _lla(2, MAC_S), V6_S, V6_C)
    big = ipv6.build(V6_C, V6_S, 17, udp.build(4000, 4001, bytes(1400), src=V6_C, dst=V6_S))
    ptb = icmpv6.build(2, 0, 1280, big[:1232], "2001:db8:1::1", V6_C)
    mc = {"ff02::1": "33:33:00:00:00:01", "ff02::2": "33:33:00:00:00:02", sol: "33:33:ff:00:00:80"}
    pkts = [
        (V6_C_LL, all_routers, MAC_C, rs, 255),
        (V6_R, all_nodes, MAC_R, ra, 255),
        (V6_C, sol, MAC_C, ns, 255),
        (V6_S, V6_C, MAC_S, na, 255),
        (V6_C, V6_S, MAC_C, big, None),
        ("2001:db8:1::1", V6_C, MAC_R, ptb, 64),
    ]
    out = []
    for i, (src, dst, smac, body, hlim) in enumerate(pkts):
        pkt = body if hlim is None else ipv6.build(src, dst, 58, body, hop_limit=hlim)
        dmac = mc.get(dst, MAC_R if smac == MAC_C else MAC_C)
        out.append((T0 + 9000 * MS + i * 5 * MS, eth6(smac, dmac, pkt)))
    return out


# ---------------------------------------------------------------- link layers
def arp_frames() -> Frames:
    req = arp.build(1, MAC_C, ip_bytes(CLIENT), "00:00:00:00:00:00", ip_bytes("192.0.2.1"))
    rep = arp.build(2, MAC_R, ip_bytes("192.0.2.1"), MAC_C, ip_bytes(CLIENT))
    grat = arp.build(1, MAC_C, ip_bytes(CLIENT), "00:00:00:00:00:00", ip_bytes(CLIENT))
    pad = bytes(18)  # to the 60-byte Ethernet minimum, as on the wire
    return [
        (T0 + 10000 * MS, ethernet.build(BCAST, MAC_C, 0x0806, req + pad)),
        (T0 + 10001 * MS, ethernet.build(MAC_C, MAC_R, 0x0806, rep + pad)),
        (T0 + 10500 * MS, ethernet.build(BCAST, MAC_C, 0x0806, grat + pad)),
    ]


def vlan_frames() -> Frames:
    q = ((0x8100, ethernet.tci(100, pcp=5)),)
    qinq = ((0x88A8, ethernet.tci(300)), (0x8100, ethernet.tci(42, pcp=3)))
    echo = ipv4.build(CLIENT, SERVER, 1, icmp.build_echo(0x7600, 1, bytes(32)), ident=0x500)
    reply = ipv4.build(
        SERVER, CLIENT, 1, icmp.build_echo(0x7600, 1, bytes(32), reply=True), ident=0x501
    )
    dns = udp4(CLIENT, RESOLVER, 53002, 53, dns_query(0x4321, "vlan.example"), 0x502)
    return [
        (T0 + 11000 * MS, eth4(MAC_C, MAC_S, echo, q)),
        (T0 + 11001 * MS, eth4(MAC_S, MAC_C, reply, q)),
        (T0 + 11100 * MS, eth4(MAC_C, MAC_R, dns, qinq)),
    ]


def sll2_frames() -> Frames:
    """Linux cooked v2, as 'tcpdump -i any' writes it: packet types host (0), outgoing (4)."""
    syn = tcp4(
        CLIENT,
        SERVER,
        40010,
        22,
        ident=0x600,
        seq=7,
        flags=tcp.SYN,
        options=tcp.build_options([(tcp.OPT_MSS, 1460)]),
    )
    synack = tcp4(
        SERVER,
        CLIENT,
        22,
        40010,
        ident=0x601,
        seq=9,
        ack=8,
        flags=tcp.SYN | tcp.ACK,
        options=tcp.build_options([(tcp.OPT_MSS, 1460)]),
    )
    echo6 = ipv6.build(V6_C, V6_S, 58, icmpv6.build_echo(1, 1, b"sll2", V6_C, V6_S))
    arp_req = arp.build(1, MAC_C, ip_bytes(CLIENT), "00:00:00:00:00:00", ip_bytes("192.0.2.1"))
    return [
        (T0 + 12000 * MS, build_sll2(0x0800, syn, ifindex=2, pkttype=4, addr=mac_bytes(MAC_C))),
        (T0 + 12001 * MS, build_sll2(0x0800, synack, ifindex=2, pkttype=0, addr=mac_bytes(MAC_S))),
        (T0 + 12002 * MS, build_sll2(0x86DD, echo6, ifindex=3, pkttype=4, addr=mac_bytes(MAC_C))),
        (T0 + 12003 * MS, build_sll2(0x0806, arp_req, ifindex=2, pkttype=4, addr=mac_bytes(MAC_C))),
    ]


def rawip_frames() -> Frames:
    """LINKTYPE_RAW (101): IP packets with no link header, as from a tun device."""
    a = ipv4.build("10.8.0.2", "10.8.0.1", 1, icmp.build_echo(0x7475, 1, b"tun"), ident=0x700)
    b = ipv4.build(
        "10.8.0.1", "10.8.0.2", 1, icmp.build_echo(0x7475, 1, b"tun", reply=True), ident=0x701
    )
    c = ipv6.build(
        "fd00::2", "fd00::1", 17, udp.build(40200, 7, b"raw ipv6", src="fd00::2", dst="fd00::1")
    )
    return [(T0 + 13000 * MS, a), (T0 + 13002 * MS, b), (T0 + 13010 * MS, c)]


def nanosecond_frames() -> Frames:
    """Packets 1 ns, 999 ns and 1 us + 1 ns apart: only a nanosecond file keeps them apart."""
    out = []
    t = T0 + 14000 * MS + 123_456_789
    for i, gap in enumerate((0, 1, 999, 1001)):
        t += gap
        out.append(
            (t, eth4(MAC_C, MAC_S, udp4(CLIENT, SERVER, 7000, 7001, bytes((i,)) * 8, 0x800 + i)))
        )
    return out


def malformed_frames() -> Frames:
    """Broken on purpose: IPv4 ihl 4 (< 5); a TCP header cut to 10 bytes inside a complete
    datagram; a UDP length longer than its datagram."""
    ihl4 = bytearray(ipv4.build(CLIENT, SERVER, 17, udp.build(1, 2, b"x")))
    ihl4[0] = 0x44
    short_tcp = ipv4.build(CLIENT, SERVER, 6, tcp.build(40020, 80, seq=1)[:10], ident=0xB00)
    bad_udp = bytearray(udp.build(1000, 2000, b"abcd"))
    bad_udp[4:6] = (100).to_bytes(2, "big")
    return [
        (T0 + 15000 * MS, eth4(MAC_C, MAC_S, bytes(ihl4))),
        (T0 + 15001 * MS, eth4(MAC_C, MAC_S, short_tcp)),
        (
            T0 + 15002 * MS,
            eth4(MAC_C, MAC_S, ipv4.build(CLIENT, SERVER, 17, bytes(bad_udp), ident=0xB01)),
        ),
    ]


# ---------------------------------------------------------------- writing
def write_pcap(
    out: Path,
    name: str,
    frames: Iterable[tuple[int, bytes]],
    linktype: int = 1,
    nanosecond: bool = False,
) -> None:
    with PcapWriter(out / name, linktype, nanosecond=nanosecond) as w:
        for ts, frame in frames:
            w.write(frame, ts)


def main(out: Path = HERE) -> None:
    eth_sets = {
        "tcp-handshake.pcap": tcp_handshake(),
        "udp-dns.pcap": udp_dns(),
        "icmp-echo.pcap": icmp_echo(),
        "icmp-errors.pcap": icmp_errors(),
        "ipv4-fragments.pcap": ipv4_fragments(),
        "ipv6-ext.pcap": ipv6_ext(),
        "icmpv6-nd.pcap": icmpv6_nd(),
        "arp.pcap": arp_frames(),
        "vlan.pcap": vlan_frames(),
        "malformed.pcap": malformed_frames(),
    }
    for name, frames in eth_sets.items():
        write_pcap(out, name, frames)
    write_pcap(out, "sll2.pcap", sll2_frames(), linktype=276)
    write_pcap(out, "rawip.pcap", rawip_frames(), linktype=101)
    write_pcap(out, "nanosecond.pcap", nanosecond_frames(), nanosecond=True)

    with PcapNgWriter(out / "two-interfaces.pcapng", None, userappl="netdiag make_captures") as w:
        eth0 = w.add_interface(1, "eth0", tsresol_exp10=9)
        tun0 = w.add_interface(101, "tun0", tsresol_exp10=6)
        merged = [(ts, eth0, f) for ts, f in icmp_echo()[:2]]
        merged += [(ts - 11000 * MS, tun0, f) for ts, f in rawip_frames()]
        for ts, ifn, f in sorted(merged):
            w.write(f, ts, interface=ifn)

    with PcapNgWriter(out / "mixed.pcapng", None, userappl="netdiag make_captures") as w:
        eth0 = w.add_interface(1, "eth0", tsresol_exp10=9)
        good = [x for name, fs in eth_sets.items() if name != "malformed.pcap" for x in fs]
        for ts, f in sorted(good):
            w.write(f, ts, interface=eth0)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
