"""Filters select exactly the packets tcpdump selects (the reference: tcpdump/libpcap).

The packets: every sample capture in ``captures/``, a mixed capture generated
here with netdiag's builders (Ethernet, 802.1Q and QinQ, IPv4 with options and
fragments, IPv6 with extension and fragment headers, TCP flags, UDP, SCTP,
ICMP, ICMPv6, ARP, RARP, runts and truncated frames, also as Linux cooked v1/v2
and raw IP), and every record of link types we compile for in
``../shared/corpus/tcpdump-tests/``. They are merged into one pcap per link
type, record i stamped i ms (``bpfref``), so a single ``tcpdump -r FILE -w OUT
EXPR`` per expression and link type gives the selected record numbers.

For each expression and link type:
1. ``tcpdump -r`` selects the set S (expressions tcpdump rejects for a link
   type, e.g. ``vlan`` on raw IP, are skipped for it);
2. our ``compile_filter`` + interpreter selects exactly S;
3. tcpdump's own program (``tcpdump -r FILE -ddd EXPR``) run through our
   interpreter selects exactly S too: the interpreter agrees with libpcap's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bpfref import file_records, selected, tcpdump_program, tcpdump_selects, write_numbered

from netdiag.capture.bpf import FilterError, compile_filter
from netdiag.packets import arp, ethernet, icmp, icmpv6, ipv4, ipv6, linklayer, tcp, udp

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
LINKTYPES = {1: "EN10MB", 113: "LINUX_SLL", 276: "LINUX_SLL2", 101: "RAW", 228: "IPV4"}
LINKTYPES |= {229: "IPV6", 0: "NULL", 108: "LOOP"}

#: ~100 expressions: every primitive, qualifier, operator and named constant.
EXPRESSIONS = [
    # protocols
    "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp",
    "not ip", "ip or ip6", "!tcp && !udp", "tcp || udp || icmp",
    # hosts and networks, both families, arp
    "host 192.0.2.10", "src host 192.0.2.10", "dst host 198.51.100.80",
    "host 192.0.2.10 or 198.51.100.53", "ip host 192.0.2.10", "arp host 192.0.2.1",
    "src or dst host 192.0.2.1", "src and dst net 192.0.2.0/24", "ip src 192.0.2.10",
    "host 192.0.2.10 and not 198.51.100.80", "host 2001:db8:1::10", "ip6 src 2001:db8:2::80",
    "dst host ff02::1", "net 192.0.2.0/24", "net 10", "net 192.168",
    "net 198.51.100.0 mask 255.255.255.0",
    "src net 10.0.0.0/8", "net 2001:db8::/32", "dst net fe80::/10", "ip6 net 2001:db8:1::/48",
    "net 0.0.0.0/0", "not net 192.0.2.0/24 and ip", "host 192.0.2",
    # ports
    "port 80", "tcp port 80", "udp port 53", "src port 80", "dst port 443",
    "port 80 or 443", "tcp port 80 or 443 or 22", "tcp dst port 80 and src port 40000",
    "port domain", "udp port domain", "tcp port http", "sctp port 5000", "src or dst port 53",
    "portrange 1-1023", "tcp portrange 40000-40010", "udp dst portrange 50-60",
    "src and dst port 53", "not port 22 and tcp", "port 0",
    # proto
    "proto 47", "ip proto 1", "ip proto \\tcp", "ip6 proto 58", "ip6 proto \\udp", "proto \\icmp",
    "ip proto 132", "ether proto 0x86dd", "ether proto \\arp", "ether proto \\ip6",
    # link layer
    "ether host 00:11:22:33:44:55", "ether src 00:11:22:33:44:55", "ether dst ff:ff:ff:ff:ff:ff",
    "ether broadcast", "ether multicast", "broadcast", "multicast", "ip multicast",
    "ip6 multicast", "ether src 0:11:22:33:44:55 or ether dst 66:77:88:99:aa:bb",
    # vlan
    "vlan", "vlan 100", "vlan and ip", "vlan 100 and tcp port 80", "vlan and vlan",
    "vlan 200 and vlan 300", "not vlan", "vlan and ip6", "ip or vlan",
    # lengths
    "less 60", "greater 1000", "len > 100", "len <= 64", "len = 42", "len != 60",
    "len >= 54 and len < 100", "less 100 and tcp",
    # packet data and named constants
    "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "tcp[tcpflags] & tcp-syn != 0",
    "tcp[tcpflags] == tcp-syn", "tcp[tcpflags] & (tcp-fin|tcp-rst) != 0",
    "tcp[13] & tcp-push != 0 and tcp[13] & tcp-ack != 0",
    "tcp[tcpflags] & (tcp-urg|tcp-ece|tcp-cwr) != 0",
    "icmp[icmptype] = icmp-echo", "icmp[icmptype] == icmp-echoreply",
    "icmp[icmptype] = icmp-unreach",
    "icmp[icmptype] = icmp-timxceed or icmp[icmpcode] = 4", "icmp6[icmp6type] = icmp6-echo",
    "icmp6[icmp6type] = icmp6-neighborsolicit or icmp6[icmp6type] = icmp6-neighboradvert",
    "icmp6[icmp6type] == icmp6-routeradvert", "icmp6[0] > 127",
    "ip[6:2] & 0x1fff = 0", "ip[6:2] & 0x1fff != 0", "ip[6] & 0x20 != 0", "ip[0] & 0xf > 5",
    "ip[8] < 64", "ip[2:2] > 576", "ip[9] = 17", "ip[12:4] = 0xc000020a", "ip6[6] = 58",
    "ip6[7] == 255", "ether[12:2] = 0x0800", "ether[0] & 1 != 0", "link[6:4] = 0x00112233",
    "arp[6:2] = 2", "arp[7] = 1", "udp[0:2] = 53 or udp[2:2] = 53", "udp[4:2] > 100",
    "tcp[0:2] > 1023 and tcp[2:2] < 1024", "tcp[4:4] = 268435456", "tcp[12] >> 4 > 5",
    "tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420", "ip[ip[0] & 0xf] = 0",
    # arithmetic and comparisons
    "len - 14 > 100", "len * 2 > 200", "len / 2 < 40", "len % 2 = 1", "len & 0xff = 0x2a",
    "len | 1 = 61", "len ^ 1 = 61", "len << 1 > 300", "len >> 2 = 15", "-len < 0xffffffc0",
    "ip[2:2] - (ip[0] & 0xf) * 4 > 40", "(len + 2) * 3 > 300", "2 + 3 * 4 = 14", "1 ^ 2 | 4 = 7",
    "ip[1] ^ ip[1] = 0", "ip[0] = 0x45", "ip[0] = 0105", "len >= 0x40",
    # boolean structure, precedence, qualifier repetition
    "tcp or udp and port 53", "(tcp or udp) and port 53", "tcp or (udp and port 53)",
    "not tcp or port 80", "not (tcp or port 80)", "icmp or arp or (ip6 and not icmp6)",
    "port 80 or 443 and not src 192.0.2.10", "host 192.0.2.10 and (port 80 or 443)",
    "tcp and not port 80 and not port 443", "! (ip6 || arp)",
    "not (src host 192.0.2.10 or dst host 192.0.2.10)", "net 192.0.2.0/25 or net 10.0.0.0/8",
    "host ::1 or host 127.0.0.1", "ip6 host fe80::1", "dst net ff00::/8",
    "ip6 and tcp port 80", "ip6 and udp port 53", "udp and (port 123 or port 5353)",
    "src host 198.51.100.80 and dst portrange 40000-40001", "tcp src portrange 1000-1",
    # loads past the end of short packets reject them, as in the kernel and libpcap
    "tcp[13] = 2 or len < 30", "ip6[40] = 6 or len < 50", "ip[100:4] = 0 or arp",
    "ether[100] = 0 or arp", "udp[8:2] = 0 or len < 60", "len > 0 and ether[len - 1] = 0",
    "ip[len - 15] = 0", "tcp[tcp[12] >> 4] = 0", "(ip[0] & 0xf) * 4 > 20",
    "ip proto 6 and ip[6:2] & 0x1fff = 0 and tcp[13] & 0x12 = 0x12",
    "vlan 100 or ip", "arp or vlan and ip", "vlan and ether proto 0x806", "vlan and host 192.0.2.1",
]  # fmt: skip


# -- packet sources ---------------------------------------------------------------------

A4, B4, C4 = "192.0.2.10", "198.51.100.80", "198.51.100.53"
A6, B6 = "2001:db8:1::10", "2001:db8:2::80"
MAC1, MAC2, BCAST = "00:11:22:33:44:55", "66:77:88:99:aa:bb", "ff:ff:ff:ff:ff:ff"


def _tcp4(sport: int, dport: int, flags: int, payload: bytes = b"", **ip: object) -> bytes:
    seg = tcp.build(sport, dport, seq=0x10000000, flags=flags, payload=payload, src=A4, dst=B4)
    return ipv4.build(A4, B4, 6, seg, **ip)  # type: ignore[arg-type]


def _ip_packets() -> list[bytes]:
    """IPv4/IPv6 packets (without link layer) of many kinds."""
    out: list[bytes] = []
    for flags in (tcp.SYN, tcp.SYN | tcp.ACK, tcp.ACK, tcp.FIN | tcp.ACK, tcp.RST, 0x18, 0xE0):
        for sport, dport in ((40000, 80), (443, 40001), (22, 1024), (40005, 8080)):
            out.append(_tcp4(sport, dport, flags))
    out.append(_tcp4(40002, 80, 0x18, b"GET / HTTP/1.1\r\n\r\n"))
    out.append(_tcp4(40003, 80, tcp.SYN, options=b"\x94\x04\x00\x00"))  # IP option: 24-byte header
    big = _tcp4(40004, 80, tcp.ACK, bytes(1200), df=True)
    out.append(big)
    for sport, dport in ((40000, 53), (53, 40000), (53, 53), (123, 123), (5353, 5353), (55, 1900)):
        out.append(
            ipv4.build(A4, C4, 17, udp.build(sport, dport, bytes(sport % 40), src=A4, dst=C4))
        )
    out.append(ipv4.build("10.1.2.3", "10.9.8.7", 17, udp.build(1000, 2000, b"x")))
    out.append(ipv4.build("192.168.5.5", "224.0.0.251", 17, udp.build(5353, 5353, bytes(30))))
    out.append(ipv4.build(A4, B4, 1, icmp.build_echo(7, 1, bytes(56))))
    out.append(ipv4.build(B4, A4, 1, icmp.build_echo(7, 1, bytes(56), reply=True)))
    out.append(ipv4.build(B4, A4, 1, icmp.build(3, 4, 1400, bytes(28))))
    out.append(ipv4.build(B4, A4, 1, icmp.build(11, 0, 0, bytes(28))))
    out.append(ipv4.build(A4, B4, 2, bytes(8)))  # IGMP
    out.append(ipv4.build(A4, B4, 47, bytes(24)))  # GRE
    sctp = (5000).to_bytes(2, "big") + (5001).to_bytes(2, "big") + bytes(8)
    out.append(ipv4.build(A4, B4, 132, sctp))
    # fragments: the first carries ports; a later one has port-like bytes where ports would be
    seg = tcp.build(40010, 80, flags=tcp.ACK, payload=bytes(64), src=A4, dst=B4)
    out.append(ipv4.build(A4, B4, 6, seg[:48], ident=9, mf=True))
    out.append(
        ipv4.build(A4, B4, 6, (80).to_bytes(2, "big") * 2 + seg[52:], ident=9, frag_offset=48)
    )
    # IPv6
    out.append(ipv6.build(A6, B6, 6, tcp.build(40000, 80, flags=tcp.SYN, src=A6, dst=B6)))
    out.append(ipv6.build(B6, A6, 6, tcp.build(80, 40000, flags=0x12, src=B6, dst=A6)))
    out.append(ipv6.build(A6, B6, 17, udp.build(40000, 53, bytes(20), src=A6, dst=B6)))
    out.append(ipv6.build(A6, B6, 58, icmpv6.build_echo(1, 1, bytes(16), A6, B6)))
    out.append(ipv6.build(B6, A6, 58, icmpv6.build_echo(1, 1, bytes(16), B6, A6, reply=True)))
    ns = icmpv6.build(
        135,
        0,
        0,
        ipv6.ip_bytes(B6) if hasattr(ipv6, "ip_bytes") else bytes(16),
        A6,
        "ff02::1:ff00:80",
    )
    out.append(ipv6.build(A6, "ff02::1:ff00:80", 58, ns, hop_limit=255))
    out.append(
        ipv6.build(
            "fe80::1",
            "ff02::1",
            58,
            icmpv6.build(134, 0, 0, bytes(12), "fe80::1", "ff02::1"),
            hop_limit=255,
        )
    )
    frag = ipv6.build_fragment(6, 0, True, 5) + tcp.build(40000, 443, flags=tcp.SYN, src=A6, dst=B6)
    out.append(ipv6.build(A6, B6, 44, frag))
    hbh = ipv6.build_extension(17, b"") + udp.build(40000, 53, bytes(4), src=A6, dst=B6)
    out.append(ipv6.build(A6, "ff02::16", 0, hbh))
    out.append(
        ipv6.build("fe80::a", "ff02::2", 58, icmpv6.build(133, 0, 0, b"", "fe80::a", "ff02::2"))
    )
    return out


def _ether_frames() -> list[tuple[bytes, int]]:
    """(frame, wirelen): the IP packets on Ethernet, tagged ones, ARP, RARP, runts, cut frames."""
    frames: list[tuple[bytes, int]] = []
    for i, pkt in enumerate(_ip_packets()):
        et = 0x86DD if pkt[0] >> 4 == 6 else 0x0800
        src, dst = (MAC1, MAC2) if i % 2 else (MAC2, MAC1)
        if i % 11 == 5:
            dst = BCAST
        if i % 13 == 3:
            dst = "01:00:5e:00:00:fb"
        f = ethernet.build(dst, src, et, pkt)
        frames.append((f, len(f)))
        if i % 5 == 0:  # 802.1Q, tagged with VLAN 100 or 200
            f = ethernet.build(dst, src, et, pkt, vlans=((0x8100, 100 if i % 10 else 200),))
            frames.append((f, len(f)))
        if i % 7 == 0:  # QinQ 200/300
            f = ethernet.build(dst, src, et, pkt, vlans=((0x88A8, 200), (0x8100, 300)))
            frames.append((f, len(f)))
        if i % 6 == 1:  # captured short of the wire
            frames.append((f[:34], len(f)))
            frames.append((f[:20], len(f)))
    spa, tpa = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 10])
    req = arp.build(1, MAC1, spa, "00:00:00:00:00:00", tpa)
    rep = arp.build(2, MAC2, tpa, MAC1, spa)
    for dst, body, et in ((BCAST, req, 0x0806), (MAC1, rep, 0x0806), (BCAST, req, 0x8035)):
        f = ethernet.build(dst, MAC2, et, body)
        frames.append((f, len(f)))
        frames.append((f.ljust(60, b"\x00"), 60))
    frames.append((ethernet.build(BCAST, MAC1, 0x0806, req, vlans=((0x8100, 100),)), 64))
    frames.append((bytes(10), 10))  # runt
    frames.append((ethernet.build(MAC1, MAC2, 0x88CC, bytes(30)), 44))  # LLDP
    return frames


def generated_records() -> dict[int, list[tuple[bytes, int]]]:
    """Per link type, (frame, wirelen) records built with netdiag's builders."""
    ip_pkts = _ip_packets()
    eth = _ether_frames()
    out: dict[int, list[tuple[bytes, int]]] = {1: eth}
    out[113] = [
        (linklayer.build_sll(0x86DD if p[0] >> 4 == 6 else 0x800, p), len(p) + 16) for p in ip_pkts
    ]
    out[276] = [
        (linklayer.build_sll2(0x86DD if p[0] >> 4 == 6 else 0x800, p), len(p) + 20) for p in ip_pkts
    ]
    out[101] = [(p, len(p)) for p in ip_pkts]
    out[228] = [(p, len(p)) for p in ip_pkts if p[0] >> 4 == 4]
    out[229] = [(p, len(p)) for p in ip_pkts if p[0] >> 4 == 6]
    out[0] = [(linklayer.build_null(10 if p[0] >> 4 == 6 else 2, p), len(p) + 4) for p in ip_pkts]
    out[108] = [
        (linklayer.build_null(10 if p[0] >> 4 == 6 else 2, p, True), len(p) + 4) for p in ip_pkts
    ]
    for lt, body, proto in ((113, req_arp := _arp_body(), 0x806), (276, req_arp, 0x806)):
        builder = linklayer.build_sll if lt == 113 else linklayer.build_sll2
        f = builder(proto, body)
        out[lt].append((f, len(f)))
    return out


def _arp_body() -> bytes:
    return arp.build(1, MAC1, bytes([192, 0, 2, 1]), "00:00:00:00:00:00", bytes([192, 0, 2, 10]))


@pytest.fixture(scope="module")
def merged(
    tmp_path_factory: pytest.TempPathFactory, require_corpus
) -> dict[int, tuple[Path, list[tuple[bytes, int]]]]:
    """Per link type: one pcap of all packets (record i at i ms: bpfref) and its records.
    The corpus is used when it is there (NETDIAG_REQUIRE_CORPUS=1: it must be)."""
    by_lt: dict[int, list[tuple[bytes, int]]] = {lt: [] for lt in LINKTYPES}
    files = sorted(CAPTURES.glob("*.pcap*"))
    corpus = require_corpus("tcpdump-tests", missing_ok=True)
    if corpus is not None:
        files += sorted(corpus.iterdir())
    for path in files:
        for lt, data, wirelen in file_records(path):
            if lt in by_lt:
                by_lt[lt].append((data, wirelen))
    for lt, recs in generated_records().items():
        by_lt[lt].extend(recs)
    return write_numbered(tmp_path_factory.mktemp("bpf"), by_lt)


# -- the reference ---------------------------------------------------------------------


def test_the_list_covers_at_least_sixty_expressions():
    assert len(set(EXPRESSIONS)) == len(EXPRESSIONS) >= 60


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_filter_selects_what_tcpdump_selects(expr, merged, require_tool, tmp_path):
    tcpdump = require_tool("tcpdump")
    compared = 0
    for lt, (path, recs) in merged.items():
        want = tcpdump_selects(tcpdump, path, expr, tmp_path)
        if want is None:
            continue  # tcpdump rejects the expression for this link type
        try:
            ours = compile_filter(expr, lt)
        except FilterError as e:
            pytest.fail(f"tcpdump compiles {expr!r} for link type {lt}, we say: {e}")
        got = selected(ours, recs)
        assert sorted(got ^ want)[:10] == [], f"link type {lt}: records differ"
        theirs = selected(tcpdump_program(tcpdump, path, expr), recs)
        assert sorted(theirs ^ want)[:10] == [], f"link type {lt}: interpreter differs"
        compared += 1
    assert compared, "tcpdump accepted the expression for no link type"


def test_sources_include_corpus_and_generated_packets(merged, require_corpus):
    corpus = require_corpus("tcpdump-tests", missing_ok=True)
    assert len(merged[1][1]) > 1000 if corpus is not None else len(merged[1][1]) > 100
    assert {1, 113, 276, 101} <= set(merged)
