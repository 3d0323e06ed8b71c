"""packets/quic.py: long headers (RFC 9000 §17.2, RFC 9369), cut and fuzzed.

Headers are written field by field from the RFCs' layouts; real ones come from the
public corpus (``quic_handshake.pcap``; fields checked against tshark in
tests/inspect/test_tls_oracle.py).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.capture import read_capture
from netdiag.errors import DecodeError, MalformedError, TruncatedError
from netdiag.inspect.tlstext import quic_fields, quic_summary
from netdiag.packets import decode as decode_packet
from netdiag.packets import quic

DCID, SCID = bytes.fromhex("84acac06b42ed863"), bytes.fromhex("51d1e44dc57a579e")


def varint(v: int) -> bytes:
    """RFC 9000 §16, the shortest encoding."""
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return struct.pack("!H", 0x4000 | v)
    if v < 0x40000000:
        return struct.pack("!I", 0x80000000 | v)
    return struct.pack("!Q", 0xC000000000000000 | v)


def long_header(bits: int, version: int, dcid: bytes, scid: bytes, rest: bytes) -> bytes:
    return (bytes([0xC0 | bits << 4]) + struct.pack("!I", version) + bytes([len(dcid)]) + dcid
            + bytes([len(scid)]) + scid + rest)  # fmt: skip


def initial(token: bytes = b"", payload: bytes = b"\x00" * 40, version: int = 1) -> bytes:
    bits = 0 if version == 1 else 1  # RFC 9369 §3.2: v2 Initial is 0b01
    return long_header(bits, version, DCID, SCID,
                       varint(len(token)) + token + varint(len(payload)) + payload)  # fmt: skip


def test_initial_header_fields() -> None:
    q = quic.decode(initial(b"tok", b"\x01" * 300))
    (h,) = q.packets
    assert isinstance(h, quic.LongHeader)
    assert (h.packet_type, h.version, h.dcid, h.scid) == ("Initial", 1, DCID, SCID)
    assert (h.token, h.token_length, h.length, h.long_packet_type) == (b"tok", 3, 300, 0)
    assert h.payload_offset == 1 + 4 + 9 + 9 + 1 + 3 + 2 and h.size == h.payload_offset + 300


def test_coalesced_packets_then_a_short_header() -> None:
    hs = long_header(2, 1, DCID, b"", varint(20) + b"\x02" * 20)
    short = b"\x40" + DCID + b"\x03" * 30
    q = quic.decode(initial() + hs + short)
    kinds = [getattr(p, "packet_type", "short") for p in q.packets]
    assert kinds == ["Initial", "Handshake", "short"]
    assert q.packets[2].offset == len(initial() + hs)


def test_zero_padding_after_the_last_long_header() -> None:
    q = quic.decode(initial() + b"\x00" * 100)
    assert len(q.packets) == 1 and q.padding == 100


def test_quic_v2_renumbers_the_packet_types() -> None:
    assert quic.decode(initial(version=quic.V2)).packets[0].packet_type == "Initial"
    h = quic.decode(long_header(0, quic.V2, DCID, SCID, b"t" * 5 + b"\xaa" * 16)).packets[0]
    assert h.packet_type == "Retry" and h.token == b"ttttt" and h.integrity_tag == b"\xaa" * 16


def test_version_negotiation_lists_versions() -> None:
    vn = long_header(0, 0, DCID, SCID, struct.pack("!III", 1, quic.V2, 0xFF00001D))
    h = quic.decode(vn).packets[0]
    assert h.packet_type == "Version Negotiation"
    assert h.supported_versions == (1, quic.V2, 0xFF00001D)
    assert [quic.version_name(v) for v in h.supported_versions] == ["1", "2", "draft-29"]
    with pytest.raises(MalformedError, match="not a multiple of 4"):
        quic.decode(vn + b"\x01")


def test_unknown_versions_keep_only_the_invariants() -> None:
    h = quic.decode(long_header(1, 0x1A2A3A4A, b"\x01" * 30, b"", b"\xff" * 10)).packets[0]
    assert h.packet_type is None and len(h.dcid) == 30 and h.size == 1 + 4 + 31 + 1 + 10
    assert quic.version_name(0x1A2A3A4A) == "reserved"
    assert quic.version_name(int.from_bytes(b"Q050", "big")) == "Q050"


def test_impossible_headers() -> None:
    with pytest.raises(MalformedError, match="connection ID length 21 > 20") as e:
        quic.decode(long_header(0, 1, b"\x01" * 21, b"", b""))
    assert e.value.offset == 5
    with pytest.raises(MalformedError, match="fixed bit is 0"):
        quic.decode(b"\x0d" + b"\x00" * 20)  # gQUIC Q043's public flags
    with pytest.raises(TruncatedError, match="needed 1 bytes, got 0"):
        quic.decode(b"")


def test_a_length_past_the_end_keeps_the_header_and_counts_what_is_missing() -> None:
    data = initial(payload=b"\x01" * 300)[:-120]
    q = quic.decode(data)
    assert q.packets[0].length == 300 and q.truncated == 120
    assert "[120 bytes missing]" in quic_summary(q, len(data))


def _real_initial(require_corpus) -> bytes:  # noqa: ANN001
    path = require_corpus() / "quic_handshake.pcap"
    r = next(iter(read_capture(str(path))))
    p = decode_packet(r.data, r.linktype)
    assert p.udp is not None
    return p.data[p.udp.payload_offset : p.udp.end]


def test_cut_real_initial_at_every_offset(require_corpus) -> None:
    data = _real_initial(require_corpus)
    whole = quic.decode(data).packets[0]
    assert isinstance(whole, quic.LongHeader) and whole.payload_offset is not None
    for n in range(len(data)):
        cut = data[:n]
        if n >= whole.payload_offset:
            q = quic.decode(cut)  # the header is whole: the missing bytes are counted
            assert q.truncated == whole.payload_offset + whole.length - n
            assert q.packets[0].dcid == whole.dcid
            continue
        with pytest.raises(TruncatedError) as e:
            quic.decode(cut)
        assert e.value.layer == "quic" and e.value.offset <= n
        assert e.value.offset + e.value.needed > n  # it names what the cut removed


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_any_datagram_decodes_or_raises_a_decode_error(data: bytes) -> None:
    try:
        q = quic.decode(data)
    except DecodeError:
        return
    quic_summary(q, len(data))
    quic_fields(q)
    assert sum(p.size for p in q.packets) + q.padding <= len(data)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3), st.sampled_from([1, quic.V2, 0xFF00001D, 0, 7]),
       st.binary(max_size=25), st.binary(max_size=25), st.binary(max_size=60))  # fmt: skip
def test_fuzz_long_headers_with_any_fields(bits, version, dcid, scid, rest) -> None:  # noqa: ANN001
    try:
        quic.decode(long_header(bits, version, dcid[:255], scid[:255], rest))
    except DecodeError:
        pass
