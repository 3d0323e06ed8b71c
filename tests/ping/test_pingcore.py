"""pingcore without sockets: which packets are ours, RTT, duplicates, error attribution,
and the iputils-shaped lines. Packets come from netdiag's builders, one from scapy."""

from __future__ import annotations

import pytest

from netdiag import decode
from netdiag.packets import icmp, icmpv6, ipv4, ipv6
from netdiag.ping import render as render
from netdiag.ping.core import PingSession
from netdiag.ping.events import (
    PingReply,
    PingResult,
    PingStart,
    error_text,
    make_payload,
)

SRC, DST, ROUTER = "198.18.0.1", "198.18.4.2", "198.18.1.2"
SRC6, DST6, ROUTER6 = "2001:db8::1", "2001:db8:4::2", "2001:db8:1::2"
COOKIE = bytes.fromhex("0102030405060708")
MS = 1_000_000


def session(family: int = 4, ident: int = 0x1234, size: int = 56) -> PingSession:
    return PingSession("dst", DST if family == 4 else DST6, family, ident, COOKIE, size)


def reply4(seq: int, ident: int = 0x1234, payload: bytes | None = None, ttl: int = 60):
    body = make_payload(COOKIE, 56) if payload is None else payload
    return decode(ipv4.build(DST, SRC, 1, icmp.build_echo(ident, seq, body, reply=True),
                             ttl=ttl), 228)  # fmt: skip


def request4(seq: int, ident: int = 0x1234, payload: bytes | None = None) -> bytes:
    body = make_payload(COOKIE, 56) if payload is None else payload
    return ipv4.build(SRC, DST, 1, icmp.build_echo(ident, seq, body), ttl=1)


def error4(original: bytes, icmp_type: int = 11, code: int = 0, mtu: int = 0):
    return decode(ipv4.build(ROUTER, SRC, 1, icmp.build_error(icmp_type, code, original,
                                                              mtu=mtu)), 228)  # fmt: skip


def request6(seq: int) -> bytes:
    msg = icmpv6.build_echo(0x1234, seq, make_payload(COOKIE, 56), SRC6, DST6)
    return ipv6.build(SRC6, DST6, 58, msg, hop_limit=1)


def error6(original: bytes, icmp_type: int, code: int = 0, rest: int = 0):
    msg = icmpv6.build(icmp_type, code, rest, original, ROUTER6, SRC6)
    return decode(ipv6.build(ROUTER6, SRC6, 58, msg), 229)


# --------------------------------------------------------------------------- replies


def test_reply_with_our_identifier_and_cookie_gives_rtt_from_the_kernel_stamp():
    s = session()
    s.sent(1, now_ns=5 * MS, wall_ns=1000 * MS)
    r = s.received_packet(
        reply4(1), DST, now_ns=5 * MS + 300_000, kernel_wall_ns=1000 * MS + 81_000
    )
    assert r == PingReply(seq=1, source=DST, ttl=60, rtt_ms=0.081, dup=False, size=64,
                          wall_ns=1000 * MS + 81_000)  # fmt: skip
    assert (s.transmitted, s.received, s.duplicates) == (1, 1, 0)


def test_a_reply_built_by_scapy_is_ours_too():
    scapy = pytest.importorskip("scapy.all")
    pkt = scapy.IP(src=DST, dst=SRC, ttl=61) / scapy.ICMP(type=0, id=0x1234, seq=7) / scapy.Raw(
        make_payload(COOKIE, 56))  # fmt: skip
    s = session()
    s.sent(7, 0, 0)
    r = s.received_packet(decode(bytes(pkt), 228), DST, MS)
    assert r is not None and (r.seq, r.ttl, r.size, r.rtt_ms) == (7, 61, 64, 1.0)


@pytest.mark.parametrize(
    "packet",
    [
        reply4(1, ident=0x4321),  # another ping's identifier
        reply4(1, payload=b"\x09" * 56),  # our identifier, another session's cookie
        reply4(2),  # a sequence number we never sent
        reply4(1, payload=COOKIE[:4]),  # too short to hold our cookie
        decode(ipv4.build(DST, SRC, 1, icmp.build_echo(0x1234, 1, COOKIE)), 228),  # a request
    ],
)
def test_other_traffic_is_not_ours(packet):
    s = session()
    s.sent(1, 0, 0)
    assert s.received_packet(packet, DST, MS) is None
    assert s.received == 0


def test_short_payload_matches_on_the_part_of_the_cookie_that_fits():
    s = session(size=4)
    s.sent(1, 0, 0)
    assert s.received_packet(reply4(1, payload=COOKIE[:4]), DST, MS) is not None


def test_second_reply_to_a_probe_is_a_duplicate():
    s = session()
    s.sent(1, 0, 0)
    first = s.received_packet(reply4(1), DST, MS)
    again = s.received_packet(reply4(1), DST, 2 * MS)
    assert first is not None and not first.dup
    assert again is not None and again.dup
    assert (s.received, s.duplicates) == (1, 1)
    result = s.result(10)
    assert result.loss_pct == 0.0
    assert "2 received" not in render.summary(result)[2]
    assert render.summary(result)[2].startswith("1 packets transmitted, 1 received, +1 duplicates")
    assert render.reply_line(again).endswith(" (DUP!)")


def test_sequence_numbers_wrap_and_the_bitmap_forgets_the_old_round():
    s = session()
    s.transmitted = 65534  # the 65535th probe is next
    assert s.next_seq() == 65535
    s.sent(65535, 0, 0)
    assert s.next_seq() == 0
    s.sent(0, 0, 0)
    assert s.received_packet(reply4(65535), DST, MS) is not None
    assert s.received_packet(reply4(0), DST, MS) is not None
    s.transmitted = 65535 + 65536  # a full round later seq 65535 is sent anew
    s.sent(65535, 10 * MS, 0)
    r = s.received_packet(reply4(65535), DST, 11 * MS)
    assert r is not None and not r.dup and r.rtt_ms == 1.0


def test_a_clock_step_between_send_and_receive_falls_back_to_the_monotonic_rtt():
    s = session()
    s.sent(1, now_ns=0, wall_ns=10_000 * MS)
    stepped_back = s.received_packet(reply4(1), DST, now_ns=2 * MS, kernel_wall_ns=9_000 * MS)
    assert stepped_back is not None and stepped_back.rtt_ms == 2.0
    s.sent(2, now_ns=0, wall_ns=10_000 * MS)
    jumped = s.received_packet(reply4(2), DST, now_ns=2 * MS, kernel_wall_ns=11_000 * MS)
    assert jumped is not None and jumped.rtt_ms == 2.0


# --------------------------------------------------------------------------- errors


def test_time_exceeded_is_attributed_by_the_quoted_echo():
    s = session()
    s.sent(1, 0, 0)
    s.sent(2, 0, 0)
    e = s.received_packet(error4(request4(2)), ROUTER, MS)
    assert e is not None and (e.seq, e.source, e.type, e.code) == (2, ROUTER, 11, 0)
    assert e.text == "Time to live exceeded"
    assert render.error_line(e) == f"From {ROUTER} icmp_seq=2 Time to live exceeded"
    assert s.answered(2) and not s.answered(1)
    assert s.errors == 1 and s.received == 0


def test_frag_needed_reports_the_mtu():
    s = session()
    s.sent(1, 0, 0)
    e = s.received_packet(error4(request4(1), 3, 4, mtu=1280), ROUTER, MS)
    assert e is not None and e.text == "Frag needed and DF set (mtu = 1280)"


def test_a_quote_cut_after_the_icmp_header_is_matched_on_the_identifier():
    s = session()
    s.sent(1, 0, 0)
    short = request4(1)[: 20 + 8]  # RFC 792: IP header + 64 bits of the original
    assert s.received_packet(error4(short), ROUTER, MS) is not None


@pytest.mark.parametrize(
    "original",
    [
        request4(1, ident=0x9999),  # another ping's identifier
        request4(1, payload=b"\x00" * 56),  # another session's cookie
        ipv4.build(SRC, "198.18.9.9", 1, icmp.build_echo(0x1234, 1, make_payload(COOKIE, 56))),
        request4(3),  # never sent
    ],
)
def test_errors_about_other_probes_are_not_ours(original):
    s = session()
    s.sent(1, 0, 0)
    assert s.received_packet(error4(original), ROUTER, MS) is None
    assert s.errors == 0


@pytest.mark.parametrize(
    "icmp_type, code, rest, text",
    [
        (3, 0, 0, "Time exceeded: Hop limit"),
        (2, 0, 1280, "Packet too big: mtu=1280"),
        (1, 3, 0, "Destination unreachable: Address unreachable"),
    ],
)
def test_icmpv6_errors(icmp_type, code, rest, text):
    s = session(6)
    s.sent(5, 0, 0)
    e = s.received_packet(error6(request6(5), icmp_type, code, rest), ROUTER6, MS)
    assert e is not None and (e.seq, e.text) == (5, text)


@pytest.mark.parametrize(
    "family, icmp_type, code, mtu, text",
    [
        (4, 3, 0, None, "Destination Net Unreachable"),
        (4, 3, 1, None, "Destination Host Unreachable"),
        (4, 3, 3, None, "Destination Port Unreachable"),
        (4, 3, 4, 1400, "Frag needed and DF set (mtu = 1400)"),
        (4, 11, 0, None, "Time to live exceeded"),
        (6, 2, 0, 1280, "Packet too big: mtu=1280"),
        (6, 1, 3, None, "Destination unreachable: Address unreachable"),
        (6, 3, 0, None, "Time exceeded: Hop limit"),
        (4, 42, 7, None, "Bad ICMP type: 42, code: 7"),
    ],
)
def test_error_texts_are_iputils(family, icmp_type, code, mtu, text):
    assert error_text(family, icmp_type, code, mtu) == text


# --------------------------------------------------------------------------- results and lines


def result_of(rtts: list[float], transmitted: int, **kw) -> PingResult:
    replies = tuple(PingReply(i + 1, DST, 64, x, False, 64) for i, x in enumerate(rtts))
    return PingResult("127.0.0.1", "127.0.0.1", transmitted, len(rtts), 0, 0, 201, replies, **kw)


def test_summary_matches_iputils_output():
    # iputils 20221126, `ping -c2 -i0.2 127.0.0.1`: times 0.074 and 0.046 ms
    lines = render.summary(result_of([0.074, 0.046], 2))
    assert lines == [
        "",
        "--- 127.0.0.1 ping statistics ---",
        "2 packets transmitted, 2 received, 0% packet loss, time 201ms",
        "rtt min/avg/max/mdev = 0.046/0.060/0.074/0.014 ms",
    ]


def test_loss_is_printed_as_c_percent_g_and_no_rtt_line_without_replies():
    assert "33.3333% packet loss" in render.summary(result_of([0.1, 0.1], 3))[2]
    assert render.summary(result_of([], 2))[2:] == [
        "2 packets transmitted, 0 received, 100% packet loss, time 201ms"
    ]


@pytest.mark.parametrize(
    "rtts, transmitted, kw, status",
    [
        ([0.1], 1, {}, 0),
        ([], 1, {}, 1),
        ([0.1], 3, {"count": 3, "deadline": 5.0}, 1),  # -w: fewer replies than -c
        ([0.1], 3, {"count": 3}, 0),
    ],
)
def test_exit_status_is_iputils(rtts, transmitted, kw, status):
    assert result_of(rtts, transmitted, **kw).exit_status == status


@pytest.mark.parametrize(
    "ms, text",
    [(0.0811, "0.081"), (1.2349, "1.23"), (12.349, "12.3"), (123.9, "123"), (0.0, "0.000")],
)
def test_reply_times_have_three_significant_digits_truncated(ms, text):
    assert render.rtt_text(ms) == text


def test_headers_v4_and_v6():
    assert render.header(PingStart("h", DST, 4, 56)) == f"PING h ({DST}) 56(84) bytes of data."
    assert render.header(PingStart("::1", "::1", 6, 56)) == "PING ::1(::1) 56 data bytes"


def test_mdev_is_sqrt_of_mean_square_minus_square_mean():
    r = result_of([1.0, 2.0, 3.0, 4.0], 4)
    assert (r.rtt_min, r.rtt_avg, r.rtt_max) == (1.0, 2.5, 4.0)
    assert r.rtt_mdev == pytest.approx((7.5 - 6.25) ** 0.5)


def test_a_probe_the_kernel_refused_is_an_error_not_outstanding():
    s = session()
    s.sent(1, 0, 0)
    s.send_failed(1)
    assert (s.transmitted, s.errors, s.outstanding, s.answered(1)) == (1, 1, False, True)
