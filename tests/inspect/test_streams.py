"""inspect/streams.py: TCP reassembly by sequence number.

Unit cases name each behaviour (split, out of order, retransmitted overlap, 32-bit
wrap, bounds, lost sync, FIN/RST). A property: any cutting of a stream of TLS
records into segments, delivered in any order with duplicates and overlaps, gives
back exactly those records, once each, in order. And against tshark: a real
ClientHello cut into segments sent out of order, retransmitted with an overlap,
with sequence numbers that wrap, must complete on the frame where tshark (TCP
reassembly and out-of-order reassembly on) completes it, with the same SNI.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.capture import open_writer, read_capture
from netdiag.inspect.appstreams import AppStreams
from netdiag.inspect.apptext import app_layer
from netdiag.inspect.streams import (
    Streams,
    dns_tcp_framer,
    http_head_framer,
    seq_delta,
    tls_framer,
)
from netdiag.packets import decode, ethernet, ipv4, tcp
from netdiag.packets.tls import TLS

REPO = Path(__file__).resolve().parents[2]
K = ("192.0.2.1", 40000, "198.51.100.2", 443)
R = ("198.51.100.2", 443, "192.0.2.1", 40000)


def rec(n: int, fill: int = 0x41) -> bytes:
    """A TLS application-data record of ``n`` payload bytes."""
    return struct.pack("!BHH", 23, 0x0303, n) + bytes([fill]) * n


def test_seq_delta_is_signed_modulo_2_32() -> None:
    assert seq_delta(5, 0xFFFFFFFB) == 10
    assert seq_delta(0xFFFFFFFB, 5) == -10
    assert seq_delta(100, 100) == 0


def test_a_record_split_over_three_segments_completes_on_the_third() -> None:
    s = Streams()
    m = rec(300)
    assert s.segment(K, 1000, b"", tls_framer, syn=True).messages == ()
    a = s.segment(K, 1001, m[:100], tls_framer)
    b = s.segment(K, 1101, m[100:200], tls_framer)
    c = s.segment(K, 1201, m[200:], tls_framer)
    assert (a.state, b.state, c.state) == ("partial", "partial", "delivered")
    assert c.messages == (m,)
    assert s.buffered(K) == 0


def test_two_records_and_the_start_of_a_third_in_one_segment() -> None:
    s = Streams()
    m1, m2, m3 = rec(10, 1), rec(20, 2), rec(30, 3)
    got = s.segment(K, 0, m1 + m2 + m3[:7], tls_framer)
    assert got.messages == (m1, m2)
    assert s.buffered(K) == 7
    assert s.segment(K, len(m1 + m2) + 7, m3[7:], tls_framer).messages == (m3,)


def test_out_of_order_segments_are_held_until_the_gap_fills() -> None:
    s = Streams()
    m1, m2 = rec(100, 1), rec(100, 2)
    data = m1 + m2
    assert s.segment(K, 500, b"", tls_framer, syn=True).state == "partial"
    late = s.segment(K, 501 + 150, data[150:], tls_framer)
    assert late.state == "out-of-order" and late.messages == ()
    got = s.segment(K, 501, data[:150], tls_framer)
    assert got.messages == (m1, m2) and got.state == "delivered"


def test_a_retransmission_is_not_delivered_twice_and_an_overlap_is_trimmed() -> None:
    s = Streams()
    m1, m2 = rec(100, 1), rec(100, 2)
    data = m1 + m2
    assert s.segment(K, 0, data[:60], tls_framer).state == "partial"
    assert s.segment(K, 0, data[:60], tls_framer).state == "retransmission"
    # Bytes 30..130 again, the first copy of 30..60 wins, 60..130 are new.
    got = s.segment(K, 30, data[30:130], tls_framer)
    assert got.messages == (m1,)
    assert s.segment(K, 130, data[130:], tls_framer).messages == (m2,)


def test_sequence_numbers_that_wrap_are_followed() -> None:
    s = Streams()
    m = rec(200)
    isn = 0xFFFFFFFF - 50
    s.segment(K, isn, b"", tls_framer, syn=True)
    a = s.segment(K, (isn + 1) & 0xFFFFFFFF, m[:120], tls_framer)
    b = s.segment(K, (isn + 121) & 0xFFFFFFFF, m[120:], tls_framer)  # past 2^32
    assert a.messages == () and b.messages == (m,)
    assert s.segment(K, (isn + 1) & 0xFFFFFFFF, m[:10], tls_framer).state == "retransmission"


def test_bytes_that_do_not_frame_lose_sync_until_a_segment_starts_a_record() -> None:
    s = Streams()
    got = s.segment(K, 0, b"GET / HTTP/1.1\r\n", tls_framer)
    assert got.state == "lost-sync" and s.buffered(K) == 0
    m = rec(40)
    assert s.segment(K, 16, m, tls_framer).messages == (m,)


def test_a_capture_starting_mid_stream_is_picked_up_at_a_record_start() -> None:
    s = Streams()
    m = rec(100)
    assert s.segment(K, 7000, m[60:], tls_framer).state == "lost-sync"
    assert s.segment(K, 7000 + 45, m, tls_framer).messages == (m,)


def test_memory_per_direction_is_bounded() -> None:
    s = Streams(max_flow_bytes=1000)
    s.segment(K, 0, rec(3000)[:500], tls_framer)
    got = s.segment(K, 500, rec(3000)[500:1200], tls_framer)  # 1200 bytes buffered > 1000
    assert got.state == "lost-sync" and s.buffered(K) == 0
    # Held out-of-order bytes count too: a gap that never fills is given up.
    s.segment(K, 5000, rec(10)[:3], tls_framer)
    for i in range(5):
        s.segment(K, 6000 + 300 * i, b"\x17" * 300, tls_framer)
    assert s.buffered(K) <= 1000


def test_memory_in_total_and_the_number_of_directions_are_bounded() -> None:
    s = Streams(max_total_bytes=10_000, max_flows=50)
    for i in range(200):
        s.segment(("a", i), 0, rec(2000)[:900], tls_framer)
        assert s.total_bytes <= 10_000 and len(s) <= 50
    assert sum(s.buffered(("a", i)) for i in range(200)) == s.total_bytes
    # The most recent directions are the ones kept.
    assert s.buffered(("a", 199)) == 900 and s.buffered(("a", 0)) == 0


def test_fin_forgets_its_direction_and_rst_both() -> None:
    s = Streams()
    s.segment(K, 0, rec(50)[:20], tls_framer)
    s.segment(R, 0, rec(50)[:20], tls_framer)
    s.segment(K, 20, b"", tls_framer, fin=True)
    assert s.buffered(K) == 0 and s.buffered(R) == 20
    s.segment(K, 0, rec(50)[:20], tls_framer)
    s.segment(R, 20, b"", tls_framer, rst=True, reverse=K)
    assert len(s) == 0 and s.total_bytes == 0


def test_dns_and_http_framers() -> None:
    assert dns_tcp_framer(b"\x00", 0) is None and dns_tcp_framer(b"\x00\x1d", 0) == 31
    assert http_head_framer(b"GET / HTTP/1.1\r\nHost: a\r\n", 0) is None
    assert http_head_framer(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody") == 27
    s = Streams()
    msg = b"\x00\x05hello"
    assert s.segment(K, 0, msg[:3], dns_tcp_framer).messages == ()
    assert s.segment(K, 3, msg[3:] + msg, dns_tcp_framer).messages == (msg, msg)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=6),
    cuts=st.lists(st.integers(1, 2000), max_size=12),
    order=st.randoms(use_true_random=False),
    isn=st.integers(0, 0xFFFFFFFF),
    dups=st.integers(0, 4),
)
def test_any_segmentation_order_and_duplication_gives_back_each_record_once(
    sizes: list[int], cuts: list[int], order, isn: int, dups: int
) -> None:  # noqa: ANN001
    records = [rec(n, i) for i, n in enumerate(sizes)]
    stream = b"".join(records)
    points = sorted({0, len(stream), *(c % len(stream) for c in cuts)})
    segs = [(points[i], stream[points[i] : points[i + 1]]) for i in range(len(points) - 1)]
    segs = [x for x in segs if x[1]]
    shuffled = list(segs)
    order.shuffle(shuffled)
    first = shuffled.index(segs[0])
    shuffled.insert(0, shuffled.pop(first))  # the stream starts at its first segment
    for _ in range(dups):  # duplicates and overlapping re-sends
        a, b = sorted((order.randrange(len(stream)), order.randrange(len(stream) + 1)))
        if b > a:
            shuffled.insert(order.randrange(1, len(shuffled) + 1), (a, stream[a:b]))
    s = Streams()
    s.segment(K, isn, b"", tls_framer, syn=True)
    got: list[bytes] = []
    for off, data in shuffled:
        got += s.segment(K, (isn + 1 + off) & 0xFFFFFFFF, data, tls_framer).messages
    assert got == records
    assert s.buffered(K) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFFFFFFFF), st.binary(max_size=200),
                          st.booleans()), max_size=30))  # fmt: skip
def test_fuzz_any_segments_terminate_within_bounds(segs: list[tuple[int, bytes, bool]]) -> None:
    s = Streams(max_flow_bytes=2000, max_total_bytes=3000)
    for seq, data, other in segs:
        for framer in (tls_framer, dns_tcp_framer, http_head_framer):
            s.segment((other, framer), seq, data, framer)
        assert s.total_bytes <= 3000 + 200


# -- against tshark's reassembly ------------------------------------------------------


def _hello_record() -> bytes:
    for r in read_capture(str(REPO / "captures" / "tls" / "tls13.pcap")):
        p = decode(r.data, r.linktype)
        if p.tcp is not None and p.tcp.payload_length:
            return p.data[p.tcp.payload_offset : p.tcp.end]
    raise AssertionError


def _frame(seq: int, flags: int, payload: bytes = b"") -> bytes:
    src, dst = "192.0.2.10", "198.51.100.80"
    seg = tcp.build(40000, 443, seq=seq & 0xFFFFFFFF, ack=1, flags=flags, payload=payload,
                    src=src, dst=dst)  # fmt: skip
    return ethernet.build("02:00:00:00:00:50", "02:00:00:00:00:0a", 0x0800,
                          ipv4.build(src, dst, 6, seg))  # fmt: skip


def test_reassembly_agrees_with_tshark_out_of_order_overlap_and_wrap(
    tmp_path: Path, require_tool
) -> None:
    require_tool("tshark")
    hello = _hello_record()
    isn = 0xFFFFFFFF - 200  # the sequence numbers wrap inside the ClientHello
    a, b = 180, 360
    frames = [
        _frame(isn, tcp.SYN),
        _frame(isn + 1 + b, tcp.ACK | tcp.PSH, hello[b:]),  # 2: the last third, early
        _frame(isn + 1 + a, tcp.ACK, hello[a:b]),  # 3: the second third, early
        _frame(isn + 1, tcp.ACK, hello[:100]),  # 4: the start
        _frame(isn + 1 + 50, tcp.ACK, hello[50 : a + 20]),  # 5: overlapping resend: complete
        _frame(isn + 1 + b, tcp.ACK | tcp.PSH, hello[b:]),  # 6: a retransmission
    ]
    path = tmp_path / "split.pcap"
    with open_writer(path, 1) as w:
        for i, f in enumerate(frames):
            w.write(f, 1_700_000_000_000_000_000 + i * 1_000_000)
    out = subprocess.run(
        ["tshark", "-r", str(path), "-o", "tcp.reassemble_out_of_order:TRUE",
         "-T", "fields", "-e", "frame.number", "-e", "tls.handshake.type",
         "-e", "tls.handshake.extensions_server_name", "-e", "tls.handshake.ciphersuite",
         "-E", "occurrence=a", "-E", "aggregator=,"],
        capture_output=True, text=True, check=True, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    ).stdout  # fmt: skip
    theirs = {}
    for line in out.splitlines():
        n, htype, sni, suites = line.split("\t")
        if htype:
            theirs[int(n)] = (htype, sni, suites)
    streams = AppStreams()
    ours = {}
    for n, r in enumerate(read_capture(str(path)), 1):
        p = decode(r.data, r.linktype)
        _, t, err = app_layer(p, streams)
        assert err is None
        if isinstance(t, TLS) and t.handshakes:
            ch = t.client_hello
            assert ch is not None
            suites = ",".join(f"0x{c:04x}" for c in ch.cipher_suites)
            ours[n] = (",".join(str(h.msg_type) for h in t.handshakes), ch.server_name, suites)
    assert ours == theirs
    assert list(ours) == [5] and ours[5][1] == "example.com"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFFFFFFFF), st.sampled_from([2, 0x10, 0x18, 0x11, 4]),
                          st.binary(max_size=120), st.booleans()), max_size=25))  # fmt: skip
def test_fuzz_segments_through_the_line_never_raise(segs) -> None:  # noqa: ANN001
    """Any TCP segments on port 443 and 53, both ways: the line renders, nothing raises."""
    from netdiag.inspect.text import TextFormatter

    fmt = TextFormatter()
    hello = _hello_record()
    for seq, flags, data, back in segs:
        payload = hello[: len(data)] if data[:1] == b"\x16" else data
        for port in (443, 53):
            sp, dp = (port, 40000) if back else (40000, port)
            seg = tcp.build(sp, dp, seq=seq, ack=1, flags=flags, payload=payload,
                            src="192.0.2.10", dst="198.51.100.80")  # fmt: skip
            frame = ethernet.build("02:00:00:00:00:50", "02:00:00:00:00:0a", 0x0800,
                                   ipv4.build("192.0.2.10", "198.51.100.80", 6, seg))  # fmt: skip
            p = decode(frame, 1)
            fmt.summary(p, len(frame))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=80), st.booleans(), st.integers(0, 3)), max_size=12))
def test_fuzz_quic_datagrams_through_the_line_never_raise(dgrams) -> None:  # noqa: ANN001
    """Any UDP/443 datagrams, both ways, some with QUIC long headers: the line renders."""
    from netdiag.inspect.text import TextFormatter
    from netdiag.packets import udp

    fmt = TextFormatter()
    for data, back, kind in dgrams:
        head = bytes([0xC0 | kind << 4]) + b"\x00\x00\x00\x01\x08" + b"\x11" * 8 + b"\x00"
        payload = head + data if kind != 3 or back else data
        sp, dp = (443, 40000) if back else (40000, 443)
        dg = udp.build(sp, dp, payload)
        frame = ethernet.build("02:00:00:00:00:50", "02:00:00:00:00:0a", 0x0800,
                               ipv4.build("192.0.2.10", "198.51.100.80", 17, dg))  # fmt: skip
        p = decode(frame, 1)
        fmt.summary(p, len(frame))


def test_a_handshake_message_over_records_in_different_segments_shows_where_it_ends() -> None:
    """A 3000-byte Certificate in two records, each record in a segment of its own."""
    from tests.packets.tlsbuild import record, server_hello

    cert = b"\x0b" + (3000).to_bytes(3, "big") + b"\x30" * 3000
    r1 = record(22, server_hello(0x1301, []) + cert[:1000])
    r2 = record(22, cert[1000:])
    streams = AppStreams()
    words = []
    seq = 1
    for i, payload in enumerate((b"", r1, r2)):
        seg = tcp.build(443, 40000, seq=seq - (i == 0), ack=1, flags=tcp.SYN if i == 0 else 0x18,
                        payload=payload, src="198.51.100.80", dst="192.0.2.10")  # fmt: skip
        seq += len(payload)
        frame = ethernet.build("02:00:00:00:00:0a", "02:00:00:00:00:50", 0x0800,
                               ipv4.build("198.51.100.80", "192.0.2.10", 6, seg))  # fmt: skip
        _, t, err = app_layer(decode(frame, 1), streams)
        assert err is None
        words.append(None if t is None else [h.msg_type for h in t.handshakes])
    assert words == [None, [2], [11]]
