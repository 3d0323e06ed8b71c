"""portcore without sockets: which TCP/UDP answers and ICMP errors belong to which probe.

Answers are crafted with scapy (the reference we did not write) where they come from
another host's stack; the RST a closed port sends follows RFC 9293 §3.10.7.1
(<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, a SYN counting as one).
"""

from __future__ import annotations

import pytest

from netdiag import decode
from netdiag.packets import icmp, icmpv6, ipv4, ipv6, tcp, udp
from netdiag.ping import render as render
from netdiag.ping.portcore import PortReply, PortSession, udp_key

scapy = pytest.importorskip("scapy.all")

SRC, DST, ROUTER = "198.18.0.1", "198.18.4.2", "198.18.1.2"
SRC6, DST6, ROUTER6 = "2001:db8::1", "2001:db8:4::2", "2001:db8:1::2"
SPORT, PORT, ISN = 40000, 80, 0xFFFFFFF0  # an ISN that wraps within the first probes
COOKIE = bytes.fromhex("a1a2a3a4a5a6a7a8")
MS = 1_000_000


def tcp_session(family: int = 4) -> PortSession:
    return PortSession("dst", DST if family == 4 else DST6, family, protocol="tcp", port=PORT,
                       sport=SPORT, isn=ISN, cookie=COOKIE)  # fmt: skip


def udp_session(family: int = 4, size: int = 56, port: int = 7) -> PortSession:
    return PortSession("dst", DST if family == 4 else DST6, family, protocol="udp", port=port,
                       sport=SPORT, cookie=COOKIE, size=size)  # fmt: skip


def answer4(flags: str, ack: int, sport: int = PORT, dport: int = SPORT, src: str = DST):
    pkt = scapy.IP(src=src, dst=SRC, ttl=60) / scapy.TCP(sport=sport, dport=dport, flags=flags,
                                                         seq=12345, ack=ack)  # fmt: skip
    return decode(bytes(pkt), 228)


def answer6(flags: str, ack: int):
    seg = scapy.TCP(sport=PORT, dport=SPORT, flags=flags, seq=1, ack=ack)
    pkt = scapy.IPv6(src=DST6, dst=SRC6, hlim=60) / seg
    return decode(bytes(pkt), 229)


def syn4(seq: int, ttl: int = 1) -> bytes:
    return ipv4.build(SRC, DST, 6, tcp.build(SPORT, PORT, seq=seq, src=SRC, dst=DST), ttl=ttl)


def icmp_error4(original: bytes, icmp_type: int = 11, code: int = 0, src: str = ROUTER):
    return decode(ipv4.build(src, SRC, 1, icmp.build_error(icmp_type, code, original)), 228)


def probe_udp4(seq: int, size: int = 56, port: int = 7) -> bytes:
    s = udp_session(size=size, port=port)
    return ipv4.build(SRC, DST, 17, udp.build(SPORT, port, s.udp_payload(seq), src=SRC, dst=DST))


# --------------------------------------------------------------------------- TCP


def test_syn_ack_acknowledging_our_syn_means_open():
    s = tcp_session()
    s.sent(1, 0, 1000 * MS)
    r = s.received_packet(answer4("SA", ack=s.tcp_seq(1) + 1), DST, MS, 1000 * MS + 120_000)
    assert isinstance(r, PortReply)
    assert (r.seq, r.state, r.answer, r.ttl, r.rtt_ms, r.dup) == (1, "open", "SYN-ACK", 60,
                                                                  0.12, False)  # fmt: skip
    assert (s.received, s.transmitted) == (1, 1)


def test_rst_ack_acknowledging_our_syn_means_closed_and_the_isn_may_wrap():
    s = tcp_session()
    for seq in range(1, 21):
        s.sent(seq, 0, 0)
    assert s.tcp_seq(20) < s.tcp_seq(1)  # wrapped past 2**32
    r = s.received_packet(answer4("RA", ack=(s.tcp_seq(20) + 1) % 2**32), DST, MS)
    assert r is not None and (r.seq, r.state, r.answer) == (20, "closed", "RST")


def test_ipv6_syn_ack():
    s = tcp_session(6)
    s.sent(3, 0, 0)
    r = s.received_packet(answer6("SA", ack=s.tcp_seq(3) + 1), DST6, MS)
    assert r is not None and (r.seq, r.state, r.ttl) == (3, "open", 60)


def test_a_retransmitted_syn_ack_is_a_duplicate():
    s = tcp_session()
    s.sent(1, 0, 0)
    pkt = answer4("SA", ack=s.tcp_seq(1) + 1)
    assert s.received_packet(pkt, DST, MS).dup is False
    again = s.received_packet(pkt, DST, 2 * MS)
    assert again is not None and again.dup and (s.received, s.duplicates) == (1, 1)


@pytest.mark.parametrize(
    "flags, ack, sport, dport, src",
    [
        ("SA", None, PORT, SPORT + 1, DST),  # to another local port
        ("SA", None, PORT + 1, SPORT, DST),  # from another port
        ("SA", None, PORT, SPORT, "198.18.4.9"),  # from another host
        ("SA", 7, PORT, SPORT, DST),  # acknowledges a SYN we never sent
        ("S", None, PORT, SPORT, DST),  # no ACK: a simultaneous open, not an answer
        ("A", None, PORT, SPORT, DST),  # neither SYN nor RST
        ("R", None, PORT, SPORT, DST),  # a RST without ACK says nothing about our SYN
    ],
)
def test_other_tcp_traffic_is_not_ours(flags, ack, sport, dport, src):
    s = tcp_session()
    s.sent(1, 0, 0)
    pkt = answer4(flags, s.tcp_seq(1) + 1 if ack is None else ack, sport, dport, src)
    assert s.received_packet(pkt, src, MS) is None
    assert s.received == 0


def test_time_exceeded_for_a_syn_is_attributed_by_the_quoted_sequence_number():
    s = tcp_session()
    s.sent(1, 0, 0)
    s.sent(2, 0, 0)
    short = syn4(s.tcp_seq(2))[:28]  # RFC 792's minimum quote: ports and sequence only
    e = s.received_packet(icmp_error4(short), ROUTER, MS)
    assert e is not None and (e.seq, e.source, e.text) == (2, ROUTER, "Time to live exceeded")
    assert s.errors == 1 and s.answered(2) and not s.answered(1)
    assert render.error_line(e, label="tcp_seq") == f"From {ROUTER} tcp_seq=2 Time to live exceeded"


def test_errors_quoting_other_segments_are_not_ours():
    s = tcp_session()
    s.sent(1, 0, 0)
    other_port = ipv4.build(SRC, DST, 6, tcp.build(SPORT, PORT + 1, seq=s.tcp_seq(1)))
    never_sent = syn4(s.tcp_seq(9))
    for original in (other_port, never_sent):
        assert s.received_packet(icmp_error4(original), ROUTER, MS) is None
    assert s.errors == 0


def test_ipv6_hop_limit_exceeded_for_a_syn():
    s = tcp_session(6)
    s.sent(1, 0, 0)
    seg = tcp.build(SPORT, PORT, seq=s.tcp_seq(1), src=SRC6, dst=DST6)
    original = ipv6.build(SRC6, DST6, 6, seg, hop_limit=1)
    msg = icmpv6.build(3, 0, 0, original, ROUTER6, SRC6)
    e = s.received_packet(decode(ipv6.build(ROUTER6, SRC6, 58, msg), 229), ROUTER6, MS)
    assert e is not None and (e.seq, e.text) == (1, "Time exceeded: Hop limit")


# --------------------------------------------------------------------------- UDP


def test_udp_payload_starts_with_cookie_and_sequence_number():
    s = udp_session()
    assert s.udp_payload(0x0102)[:10] == COOKIE + b"\x01\x02" == udp_key(COOKIE, 0x0102)
    assert len(s.udp_payload(1)) == 56


def test_echoed_datagram_means_open_and_names_its_probe():
    s = udp_session()
    for seq in (1, 2):
        s.sent(seq, 0, 0)
    pkt = scapy.IP(src=DST, dst=SRC, ttl=60) / scapy.UDP(sport=7, dport=SPORT) / scapy.Raw(
        s.udp_payload(2))  # fmt: skip
    r = s.received_packet(decode(bytes(pkt), 228), DST, MS)
    assert r is not None and (r.seq, r.state, r.answer, r.size) == (2, "open", "data", 64)


def test_a_service_answering_with_its_own_data_is_credited_to_the_oldest_open_probe():
    s = udp_session(port=53)
    for seq in (1, 2):
        s.sent(seq, 0, 0)
    pkt = scapy.IP(src=DST, dst=SRC) / scapy.UDP(sport=53, dport=SPORT) / scapy.Raw(b"answer")
    first = s.received_packet(decode(bytes(pkt), 228), DST, MS)
    second = s.received_packet(decode(bytes(pkt), 228), DST, MS)
    assert (first.seq, second.seq) == (1, 2)


def test_port_unreachable_from_the_target_means_closed():
    s = udp_session(port=9)
    s.sent(1, 0, 0)
    e = s.received_packet(icmp_error4(probe_udp4(1, port=9), 3, 3, src=DST), DST, MS)
    assert isinstance(e, PortReply)
    assert (e.seq, e.state, e.answer) == (1, "closed", "port unreachable")
    assert (s.received, s.errors) == (1, 0)


def test_port_unreachable_from_a_router_is_an_error_not_an_answer():
    s = udp_session(port=9)
    s.sent(1, 0, 0)
    e = s.received_packet(icmp_error4(probe_udp4(1, port=9), 3, 3), ROUTER, MS)
    assert e is not None and not isinstance(e, PortReply)
    assert e.text == "Destination Port Unreachable" and s.errors == 1


def test_ipv6_port_unreachable_means_closed():
    s = udp_session(6, port=9)
    s.sent(4, 0, 0)
    dg = udp.build(SPORT, 9, s.udp_payload(4), src=SRC6, dst=DST6)
    msg = icmpv6.build(1, 4, 0, ipv6.build(SRC6, DST6, 17, dg), DST6, SRC6)
    r = s.received_packet(decode(ipv6.build(DST6, SRC6, 58, msg), 229), DST6, MS)
    assert isinstance(r, PortReply) and (r.seq, r.state) == (4, "closed")


def test_time_exceeded_for_a_udp_probe_is_attributed_by_its_payload():
    s = udp_session()
    for seq in (1, 2, 3):
        s.sent(seq, 0, 0)
    e = s.received_packet(icmp_error4(probe_udp4(3)), ROUTER, MS)
    assert e is not None and (e.seq, e.text) == (3, "Time to live exceeded")


def test_a_quote_with_another_sessions_cookie_is_not_ours():
    s = udp_session()
    s.sent(1, 0, 0)
    other = PortSession("dst", DST, 4, protocol="udp", port=7, sport=SPORT, cookie=b"\x00" * 8,
                        size=56)  # fmt: skip
    original = ipv4.build(SRC, DST, 17, udp.build(SPORT, 7, other.udp_payload(1)))
    assert s.received_packet(icmp_error4(original), ROUTER, MS) is None


def test_reply_lines_name_the_port_and_state():
    r = PortReply(1, DST, 60, 0.123, False, 44, port=80, protocol="tcp", state="open",
                  answer="SYN-ACK")  # fmt: skip
    assert render.reply_line(r) == (
        f"44 bytes from {DST}:80: tcp_seq=1 open (SYN-ACK) ttl=60 time=0.123 ms"
    )
    r6 = PortReply(2, DST6, 60, 0.5, True, 64, port=7, protocol="udp", state="closed",
                   answer="port unreachable")  # fmt: skip
    assert render.reply_line(r6) == (
        f"64 bytes from [{DST6}]:7: udp_seq=2 closed (port unreachable) ttl=60 time=0.500 ms "
        "(DUP!)")  # fmt: skip


def test_json_replies_gain_the_state():
    s = tcp_session()
    s.sent(1, 0, 0)
    s.received_packet(answer4("RA", ack=s.tcp_seq(1) + 1), DST, MS)
    doc = render.to_json(s.result(5))
    assert (doc["protocol"], doc["port"]) == ("tcp", PORT)
    assert doc["replies"] == [{"seq": 1, "from": DST, "ttl": 60, "rtt_ms": 1.0, "dup": False,
                               "state": "closed"}]  # fmt: skip
